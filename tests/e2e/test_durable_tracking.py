"""Tracking storage outlives the queues that point at it; messages SQS moves to the DLQ are counted; an
unreadable retry message is quarantined raw instead of failing the extract."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from pipeline import layout, retry
from pipeline.config import retry_budget_seconds
from pipeline.staging import Origin, StagedRecord

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400


def _queue_attributes(stack: E2EStack, url: str) -> dict[str, str]:
    return stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _send(stack: E2EStack, body: str) -> str:
    tag = uuid.uuid4().hex
    return stack.client("sqs").send_message(
        QueueUrl=stack.outputs.retry_queue_url,
        MessageBody=body,
        MessageGroupId=tag,
        MessageDeduplicationId=tag,
    )["MessageId"]


def _records(order_ids: list[str]) -> list[StagedRecord]:
    return [
        StagedRecord(
            {
                "order_id": order_id,
                "order_date": "2027-03-01",
                "customer": "Ada",
                "product_id": "P-1001",
                "quantity": "1",
                "amount": "249.00",
                "currency": "EUR",
            },
            Origin(
                "retry",
                "s3://landing/orders.csv",
                n,
                attempt=1,
                first_failed_run="2027-02-28-0000000000",
                last_error="ProvisionedThroughputExceededException",
            ),
        )
        for n, order_id in enumerate(order_ids, start=1)
    ]


def test_the_deployed_lifecycle_keeps_tracking_files_longer_than_the_queues_keep_their_pointers(stack):
    s3, staging = stack.client("s3"), stack.outputs.staging_bucket_name
    rules = {
        rule["Filter"].get("Prefix", ""): rule
        for rule in s3.get_bucket_lifecycle_configuration(Bucket=staging)["Rules"]
        if rule.get("Expiration", {}).get("Days")
    }
    expiry = {prefix: rule["Expiration"]["Days"] for prefix, rule in rules.items()}
    assert expiry == {"runs/": 30, layout.RETRY_PAYLOAD_PREFIX: 35, layout.QUARANTINE_PREFIX: 400}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())

    retry_queue = _queue_attributes(stack, stack.outputs.retry_queue_url)
    dlq = _queue_attributes(stack, stack.outputs.retry_dlq_url)
    # A FIFO move to the DLQ resets the retention: a pointer can live on both queues, one after the other.
    pointer_lifetime = int(retry_queue["MessageRetentionPeriod"]) + int(dlq["MessageRetentionPeriod"])
    assert pointer_lifetime == 28 * DAY
    assert expiry[layout.RETRY_PAYLOAD_PREFIX] * DAY > pointer_lifetime
    assert expiry[layout.QUARANTINE_PREFIX] * DAY > pointer_lifetime
    assert expiry["runs/"] * DAY < expiry[layout.QUARANTINE_PREFIX] * DAY


def test_drained_messages_stay_hidden_for_the_extracts_whole_retry_budget(stack):
    functions = stack.client("lambda")
    states = json.loads((ROOT / "statemachine" / "etl.asl.json").read_text())["States"]
    budgets = {}
    for state, role in (("Extract", "extract"), ("TrackResult", "track_result")):
        deployed = functions.get_function_configuration(
            FunctionName=stack.outputs.lambda_function_names[role]
        )
        budgets[state] = retry_budget_seconds(states[state], deployed["Timeout"])
    extract = functions.get_function_configuration(
        FunctionName=stack.outputs.lambda_function_names["extract"]
    )
    visibility = int(extract["Environment"]["Variables"]["DRAIN_VISIBILITY_SECONDS"])

    assert budgets == {"Extract": 5507, "TrackResult": 2233}
    assert visibility == max(budgets.values()) <= 43_200
    queue = _queue_attributes(stack, stack.outputs.retry_queue_url)
    assert int(queue["VisibilityTimeout"]) == visibility


def test_a_message_sqs_moved_to_the_dlq_is_counted_quarantined_dlq_by_the_next_run(stack):
    run_date = date(2027, 3, 1)
    order_ids = [f"DLQ-{uuid.uuid4().hex[:8]}-{n}" for n in range(2)]
    [message] = retry.pack(_records(order_ids), "2027-02-28-0000000000")
    sqs, url = stack.client("sqs"), stack.outputs.retry_queue_url
    sent = _send(stack, message.body)
    max_receives = json.loads(_queue_attributes(stack, url)["RedrivePolicy"])["maxReceiveCount"]
    received = 0
    while received < int(max_receives):  # received and never deleted, as by runs that keep failing
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        received += sum(1 for m in answer.get("Messages", []) if m["MessageId"] == sent)

    _, execution = stack.run_direct(run_date)  # its extract's receive makes SQS move the message

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["identity_ok"] is True
    c = item["counts"]
    assert c["extracted"] + c["retried_in"] == (
        c["loaded"] + c["rejected"] + c["queued_for_retry"] + c["quarantined"] + c["duplicates_dropped"]
    )
    assert item["quarantine_reasons"]["dlq"] >= 2
    assert c["quarantined"] >= 2
    key = layout.quarantine_key(item["run_id"])
    assert item["quarantine_key"] == key
    body = stack.client("s3").get_object(Bucket=stack.outputs.staging_bucket_name, Key=key)["Body"].read()
    kept = [json.loads(line)["raw"]["order_id"] for line in gzip.decompress(body).decode().splitlines()]
    assert set(order_ids) <= set(kept)

    # The redriven message is replaced by this run's announcement, which `etl requeue` reads.
    dead = []
    while batch := sqs.receive_message(
        QueueUrl=stack.outputs.retry_dlq_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=30,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", []):
        dead += batch
    assert sent not in {m["MessageId"] for m in dead}
    assert not [m for m in dead if "DeadLetterQueueSourceArn" in m["Attributes"]]
    [announcement] = [m for m in dead if json.loads(m["Body"]).get("run_id") == item["run_id"]]
    assert json.loads(announcement["Body"])["s3"]["key"] == key
    for m in dead:
        sqs.change_message_visibility(
            QueueUrl=stack.outputs.retry_dlq_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    [status_email] = stack.emails(run_date)
    assert f"dlq {item['quarantine_reasons']['dlq']}" in email_text(status_email)


def test_an_unreadable_retry_message_is_quarantined_raw_and_the_next_run_succeeds(stack):
    run_date = date(2027, 3, 2)
    body = '{"v": 1, "run_id": "2027-02-28-0000000000", "records": [5]}'  # a record that is a number
    sent = _send(stack, body)

    _, execution = stack.run_direct(run_date)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["identity_ok"] is True
    assert item["quarantine_reasons"]["unreadable"] == 1
    key = layout.unreadable_key(item["run_id"], "retry", sent)
    kept = json.loads(
        stack.client("s3").get_object(Bucket=stack.outputs.staging_bucket_name, Key=key)["Body"].read()
    )
    assert (kept["body"], kept["message_id"]) == (body, sent)
    assert kept["error"] == "a record is not an object with raw and origin: 5"
    # Deleted, not left in flight to come back until SQS moves it to the DLQ.
    queue = _queue_attributes(stack, stack.outputs.retry_queue_url)
    assert queue["ApproximateNumberOfMessagesNotVisible"] == "0"
