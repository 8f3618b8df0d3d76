"""Every record is accounted for across runs: writes that fail one night are retried and loaded the next,
and two executions of one date never both load it."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from etl import operations
from pipeline.generator import OrderFile, load_products
from pipeline.tracking import requeue_quarantined
from tests.generated_orders import expected_orders, generate

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

ROWS = 200
COUNT_NAMES = (
    "extracted",
    "retried_in",
    "loaded",
    "rejected",
    "queued_for_retry",
    "quarantined",
    "duplicates_dropped",
)


def generated(stack: E2EStack, day: date, seed: int, rows: int = ROWS) -> tuple[OrderFile, set[str]]:
    """Upload a generated file for ``day``; return it (with its expected counts) and its valid order ids."""
    products = load_products(operations.SAMPLE_CATALOG)
    orders, text = generate(products, day, rows=rows, bad_rate=0.1, seed=seed)
    stack.put_landing(day, "orders.csv", text.encode("utf-8"))
    valid = set(expected_orders(text, products))
    assert len(valid) == orders.expected.loaded
    return orders, valid


def counts(item: dict) -> dict[str, int]:
    return {name: item["counts"][name] for name in COUNT_NAMES}


def balanced(item: dict) -> dict[str, int]:
    """The run's counts, once the identity is checked on them and the item says it holds."""
    c = counts(item)
    assert c["extracted"] + c["retried_in"] == (
        c["loaded"] + c["rejected"] + c["queued_for_retry"] + c["quarantined"] + c["duplicates_dropped"]
    ), c
    assert item["identity_ok"] is True
    return c


def file_counts(file: OrderFile, **outcomes: int) -> dict[str, int]:
    """The counts a run of ``file`` alone must record, with ``outcomes`` changed."""
    expected = {
        "extracted": file.expected.rows,
        "retried_in": 0,
        "loaded": file.expected.loaded,
        "rejected": sum(file.expected.rejected.values()),
        "queued_for_retry": 0,
        "quarantined": 0,
        "duplicates_dropped": file.expected.duplicates_dropped,
    }
    return {**expected, **outcomes}


def dlq_messages(stack: E2EStack) -> list[dict]:
    """The bodies of the DLQ's messages, looked at and left in the queue."""
    sqs = stack.client("sqs")
    queue = stack.outputs.retry_dlq_url
    received: list[dict] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    ):
        received += batch
    for message in received:
        sqs.change_message_visibility(
            QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [json.loads(message["Body"]) for message in received]


def test_failed_writes_are_retried_and_loaded_the_next_day(stack: E2EStack) -> None:
    day1, day2 = date(2026, 11, 6), date(2026, 11, 7)
    file1, valid1 = generated(stack, day1, seed=61)
    file2, valid2 = generated(stack, day2, seed=62)
    assert not valid1 & valid2

    # 30 % of the items stay unprocessed beyond the loader's own retries (the same items on every attempt):
    # those records fail and go to the retry queue.
    stack.emulator.control.set_faults(dynamodb_unprocessed=0.3, dynamodb_unprocessed_sticky=True, seed=7)
    _, execution = stack.run_direct(day1)
    stack.emulator.control.clear_faults()

    assert execution["status"] == "SUCCEEDED"
    first = stack.run_item(day1)
    c1 = counts(first)
    queued = c1["queued_for_retry"]
    assert 0.2 * file1.expected.loaded <= queued <= 0.4 * file1.expected.loaded
    assert c1["extracted"] == ROWS
    assert c1["retried_in"] == 0
    assert c1["loaded"] + queued == file1.expected.loaded
    assert c1["rejected"] == sum(file1.expected.rejected.values())
    assert c1["duplicates_dropped"] == file1.expected.duplicates_dropped
    assert c1["quarantined"] == 0
    assert first["identity_ok"] is True
    assert first["status"] == "SUCCEEDED_WITH_ERRORS"
    loaded_day1 = set(stack.orders())
    assert len(loaded_day1 & valid1) == c1["loaded"]

    _, execution = stack.run_direct(day2)

    assert execution["status"] == "SUCCEEDED"
    second = stack.run_item(day2)
    c2 = counts(second)
    assert c2["retried_in"] == queued
    assert c2["extracted"] == ROWS
    assert c2["loaded"] == file2.expected.loaded + queued
    assert c2["queued_for_retry"] == 0
    assert c2["quarantined"] == 0
    assert c2["rejected"] == sum(file2.expected.rejected.values())
    assert c2["duplicates_dropped"] == file2.expected.duplicates_dropped
    assert second["identity_ok"] is True

    orders = stack.orders()
    ours = {order_id for order_id in orders if order_id.startswith(("ORD-20261106-", "ORD-20261107-"))}
    assert ours == valid1 | valid2
    assert len(ours) == file1.expected.loaded + file2.expected.loaded


def test_two_executions_of_one_date_load_it_once(stack: E2EStack) -> None:
    run_date = date(2026, 11, 8)
    operations.upload_partner_file(stack, run_date)
    sfn = stack.client("stepfunctions")
    stamp = int(time.time() * 1000)
    arns = [
        sfn.start_execution(
            stateMachineArn=stack.outputs.state_machine_arn,
            name=f"concurrent-{run_date.isoformat()}-{stamp}-{n}",
            input=json.dumps({"run_date": run_date.isoformat()}),
        )["executionArn"]
        for n in range(2)
    ]

    executions = {arn: operations.wait(stack, arn, timeout_seconds=600) for arn in arns}

    statuses = sorted(execution["status"] for execution in executions.values())
    assert statuses == ["FAILED", "SUCCEEDED"]
    [winner] = [arn for arn, execution in executions.items() if execution["status"] == "SUCCEEDED"]
    [loser] = [arn for arn, execution in executions.items() if execution["status"] == "FAILED"]
    assert executions[loser]["error"] == "RunLocked"
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in sfn.get_execution_history(executionArn=loser, maxResults=1000)["events"]
        if event["type"].endswith("StateEntered")
    ]
    assert entered == ["BeginRun", "RunLocked"]
    item = stack.run_item(run_date)
    assert item["execution_arn"] == winner
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["counts"]["loaded"] == 5
    assert set(stack.orders(run_date)) == {"ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1008"}
    assert len(stack.emails(run_date)) == 1


def test_a_record_that_fails_on_every_run_is_quarantined_reported_and_requeued_after_a_fix(
    stack: E2EStack,
) -> None:
    day1, day2, day3, day4, day5 = (date(2026, 11, 10 + n) for n in range(5))
    file1, valid1 = generated(stack, day1, seed=101, rows=40)
    file2, valid2 = generated(stack, day2, seed=102, rows=40)
    file3, valid3 = generated(stack, day3, seed=103, rows=40)
    poisoned = sorted(valid1)[0]
    bucket = stack.outputs.staging_bucket_name
    # Every write of the poisoned order comes back unprocessed, beyond the loader's own five attempts.
    stack.emulator.control.set_faults(dynamodb_unprocessed_keys=[poisoned])

    _, execution = stack.run_direct(day1)

    assert execution["status"] == "SUCCEEDED"
    first = stack.run_item(day1)
    assert balanced(first) == file_counts(file1, loaded=file1.expected.loaded - 1, queued_for_retry=1)
    assert set(stack.orders(day1)) == valid1 - {poisoned}

    _, execution = stack.run_direct(day2)

    assert execution["status"] == "SUCCEEDED"
    second = stack.run_item(day2)
    assert balanced(second) == file_counts(file2, retried_in=1, queued_for_retry=1)
    assert (second["retry_backlog"], second["quarantine_total"]) == (1, 0)

    _, execution = stack.run_direct(day3)

    assert execution["status"] == "SUCCEEDED"
    third = stack.run_item(day3)
    assert balanced(third) == file_counts(file3, retried_in=1, quarantined=1)
    assert (third["status"], third["retry_backlog"], third["quarantine_total"]) == (
        "SUCCEEDED_WITH_ERRORS",
        0,
        1,
    )
    # Under the durable tracking prefix, never the run's 30-day runs/ prefix.
    quarantine_key = f"tracking/quarantine/{third['run_id']}/records.jsonl.gz"
    assert third["quarantine_key"] == quarantine_key
    assert third["quarantine_reasons"] == {"max_attempts": 1}
    [record] = stack.staged_lines(quarantine_key)
    assert record["raw"]["order_id"] == poisoned
    assert record["origin"]["kind"] == "retry"
    assert record["origin"]["attempt"] == 3
    assert record["origin"]["first_failed_run"] == first["run_id"]
    assert record["origin"]["last_error"] == "UnprocessedItems after 5 attempts"
    announcement = {
        "v": 1,
        "run_id": third["run_id"],
        "s3": {"bucket": bucket, "key": quarantine_key},
        "count": 1,
    }
    assert announcement in dlq_messages(stack)
    [message] = stack.emails(day3)
    assert message["Subject"] == (
        f"[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-11-12: {file3.expected.loaded} loaded, "
        f"{sum(file3.expected.rejected.values())} rejected, 0 retrying, 1 quarantined"
    )
    text = email_text(message)
    assert "Quarantine:  1 record this run, 1 record in total" in text
    assert "  by reason:  max_attempts 1" in text
    assert f"Quarantined:       s3://{bucket}/{quarantine_key}" in text
    assert "      1  UnprocessedItems after 5 attempts" in text
    assert poisoned not in stack.orders()

    # Quarantined means never retried again automatically, even once the writes would succeed.
    stack.emulator.control.clear_faults()
    _, execution = stack.run_direct(day4)

    assert execution["status"] == "SUCCEEDED"
    fourth = stack.run_item(day4)
    assert balanced(fourth) == dict.fromkeys(COUNT_NAMES, 0)
    assert (fourth["status"], fourth["quarantine_total"]) == ("NO_DATA", 1)
    assert poisoned not in stack.orders()

    requeued = requeue_quarantined(
        stack.pipeline_config(), stack.client("s3"), stack.client("sqs"), run_id=third["run_id"]
    )
    assert requeued == 1
    assert not [body for body in dlq_messages(stack) if body["run_id"] == third["run_id"]]

    _, execution = stack.run_direct(day5)

    assert execution["status"] == "SUCCEEDED"
    fifth = stack.run_item(day5)
    assert balanced(fifth) == dict.fromkeys(COUNT_NAMES, 0) | {"retried_in": 1, "loaded": 1}
    assert (fifth["status"], fifth["retry_backlog"], fifth["quarantine_total"]) == ("SUCCEEDED", 0, 1)
    assert set(stack.orders(day5)) == {poisoned}
    ours = {
        order_id
        for order_id in stack.orders()
        if order_id.startswith(("ORD-20261110-", "ORD-20261111-", "ORD-20261112-"))
    }
    assert ours == valid1 | valid2 | valid3
    loaded = sum(stack.run_item(day)["counts"]["loaded"] for day in (day1, day2, day3, day4, day5))
    assert loaded == len(valid1) + len(valid2) + len(valid3)


def task_outcomes(stack: E2EStack, execution_arn: str, state: str) -> list[tuple[str, str, str]]:
    """Each attempt at a Task state in the execution history: (event type, error, cause), the last two
    empty for a success."""
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    outcomes: list[tuple[str, str, str]] = []
    current = None
    for event in history["events"]:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        elif current == state and event["type"] == "TaskFailed":
            details = event["taskFailedEventDetails"]
            outcomes.append(("TaskFailed", details.get("error", ""), details.get("cause", "")))
        elif current == state and event["type"] == "TaskSucceeded":
            outcomes.append(("TaskSucceeded", "", ""))
    return outcomes


def test_an_extract_that_crashes_after_part_of_its_chunks_is_retried_without_duplicate_staging(
    stack: E2EStack,
) -> None:
    run_date = date(2026, 11, 20)
    rows, chunk_rows, crash_after = 320, 50, 2
    file, valid = generated(stack, run_date, seed=120, rows=rows)
    functions = stack.client("lambda")
    extract = stack.outputs.lambda_function_names["extract"]
    original = functions.get_function_configuration(FunctionName=extract)["Environment"]["Variables"]
    crashing = {**original, "CHUNK_ROWS": str(chunk_rows), "EXTRACT_CRASH_AFTER_CHUNKS": str(crash_after)}
    functions.update_function_configuration(FunctionName=extract, Environment={"Variables": crashing})
    try:
        started, execution = stack.run_direct(run_date)
    finally:
        functions.update_function_configuration(FunctionName=extract, Environment={"Variables": original})
    assert functions.get_function_configuration(FunctionName=extract)["Environment"]["Variables"] == original

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    run_id = item["run_id"]
    crash, retry = task_outcomes(stack, started.execution_arn, "Extract")
    assert crash[:2] == ("TaskFailed", "SimulatedCrash")
    assert json.loads(crash[2])["errorMessage"].startswith(
        f"simulated crash after 2 chunk(s) of run {run_id} (EXTRACT_CRASH_AFTER_CHUNKS=2)"
    )
    assert retry == ("TaskSucceeded", "", "")
    bucket = stack.outputs.staging_bucket_name
    s3 = stack.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"runs/{run_id}/manifest.json")["Body"].read())
    expected_chunks = [f"runs/{run_id}/staging/part-{n:05d}.jsonl.gz" for n in range(-(-rows // chunk_rows))]
    assert [chunk["key"] for chunk in manifest["chunks"]] == expected_chunks
    assert [chunk["records"] for chunk in manifest["chunks"]] == [50, 50, 50, 50, 50, 50, 20]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/staging/")["Contents"]
    assert sorted(entry["Key"] for entry in listed) == expected_chunks
    staged = stack.staged_lines(f"runs/{run_id}/staging/")
    assert sorted(record["origin"]["line"] for record in staged) == list(range(1, rows + 1))
    assert {record["origin"]["kind"] for record in staged} == {"file"}
    assert balanced(item) == file_counts(file)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert set(stack.orders(run_date)) == valid
