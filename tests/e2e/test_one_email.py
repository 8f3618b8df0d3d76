"""Exactly one status email per run outcome, and a dashboard refresh that can never fail, repeat or hold up a
run: the deployed pipeline on the strict emulator, with a Notify retried after it published and a Redash that
never answers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from etl import operations

from .conftest import E2EStack
from .test_error_tracking import balanced, generated, task_outcomes
from .test_iam_roles import LAMBDA, RoleSession, denied

pytestmark = pytest.mark.e2e

REDASH_KEY_PARAMETER = "/nightly-etl/local/redash-api-key"


@contextmanager
def reconfigured(
    stack: E2EStack, role: str, timeout: int | None = None, **variables: str
) -> Iterator[dict[str, Any]]:
    """The function of ``role`` with more environment variables (and another timeout), as deployed again
    afterwards."""
    functions = stack.client("lambda")
    name = stack.outputs.lambda_function_names[role]
    original = functions.get_function_configuration(FunctionName=name)
    changes: dict[str, Any] = {
        "Environment": {"Variables": {**original["Environment"]["Variables"], **variables}}
    }
    if timeout is not None:
        changes["Timeout"] = timeout
    functions.update_function_configuration(FunctionName=name, **changes)
    try:
        yield original
    finally:
        functions.update_function_configuration(
            FunctionName=name, Environment=original["Environment"], Timeout=original["Timeout"]
        )
    restored = functions.get_function_configuration(FunctionName=name)
    assert (restored["Environment"], restored["Timeout"]) == (original["Environment"], original["Timeout"])


@contextmanager
def redash_key_readable_by(stack: E2EStack, role: str) -> Iterator[None]:
    """The Redash API key in SSM, and the grant the compute module gives when redash_api_key_parameter is set."""
    ssm, iam = stack.client("ssm"), stack.client("iam")
    ssm.put_parameter(Name=REDASH_KEY_PARAMETER, Value="e2e-redash-key", Type="SecureString", Overwrite=True)
    role_name = f"{stack.outputs.lambda_function_names[role]}-lambda"
    statement = {
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:us-east-1:123456789012:parameter{REDASH_KEY_PARAMETER}",
    }
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="read-redash-api-key",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    try:
        yield
    finally:
        iam.delete_role_policy(RoleName=role_name, PolicyName="read-redash-api-key")
        ssm.delete_parameter(Name=REDASH_KEY_PARAMETER)


@contextmanager
def silent_redash() -> Iterator[str]:
    """A Redash URL whose server accepts every connection and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def retry_queue_depth(stack: E2EStack) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs.retry_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def states_entered(stack: E2EStack, execution_arn: str) -> list[str]:
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [
        e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e
    ]


def test_a_notify_retried_after_it_published_sends_exactly_one_email(stack: E2EStack) -> None:
    run_date = date(2026, 10, 5)
    operations.upload_partner_file(stack, run_date)

    with reconfigured(stack, "notify", NOTIFY_CRASH_AFTER_PUBLISH="1"):
        started, execution = stack.run_direct(run_date)

    assert execution["status"] == "SUCCEEDED"
    crashed, retried = task_outcomes(stack, started.execution_arn, "Notify")
    assert crashed[:2] == ("TaskFailed", "SimulatedCrash")
    item = stack.run_item(run_date)
    assert json.loads(crashed[2])["errorMessage"].startswith(
        f"simulated crash after publishing the SUCCEEDED_WITH_ERRORS email of run {item['run_id']}"
    )
    assert retried == ("TaskSucceeded", "", "")
    [email] = stack.emails(run_date)
    assert (
        email["Subject"] == "[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-10-05: 5 loaded, 5 rejected, 0 retrying"
    )
    assert (item["status"], item["notified"], item["counts"]["loaded"]) == (
        "SUCCEEDED_WITH_ERRORS",
        ["SUCCEEDED_WITH_ERRORS"],
        5,
    )
    assert "notify_error" not in item


def test_a_redash_that_never_answers_leaves_the_run_succeeded_emailed_once_and_nothing_requeued(
    stack: E2EStack,
) -> None:
    day1, day2 = date(2026, 10, 6), date(2026, 10, 7)
    _, valid1 = generated(stack, day1, seed=61, rows=30)
    file2, valid2 = generated(stack, day2, seed=62, rows=30)
    # Day 1 leaves one record on the retry queue: day 2 retries it in and loads it.
    stuck = sorted(valid1)[0]
    stack.emulator.control.set_faults(dynamodb_unprocessed_keys=[stuck])
    _, first = stack.run_direct(day1)
    stack.emulator.control.clear_faults()
    assert (first["status"], stack.run_item(day1)["counts"]["queued_for_retry"]) == ("SUCCEEDED", 1)

    # A Redash slower than the refresh function's time: its one request never gets an answer.
    with (
        silent_redash() as url,
        redash_key_readable_by(stack, "refresh_dashboard"),
        reconfigured(
            stack,
            "refresh_dashboard",
            timeout=5,
            REDASH_URL=url,
            REDASH_API_KEY_PARAMETER=REDASH_KEY_PARAMETER,
        ),
    ):
        started, execution = stack.run_direct(day2)

    assert execution["status"] == "SUCCEEDED"
    assert states_entered(stack, started.execution_arn)[-4:] == [
        "Notify",
        "RefreshDashboard",
        "RunEnded",
        "Done",
    ]
    item = stack.run_item(day2)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert balanced(item)["retried_in"] == 1
    assert item["counts"]["queued_for_retry"] == 0
    assert item["counts"]["loaded"] == file2.expected.loaded + 1
    assert valid2 | {stuck} <= set(stack.orders())
    refresh = item["dashboard_refresh"]
    assert refresh["status"] == "failed"
    assert refresh["message"] == (
        f"Redash refresh failed: RedashError: GET /api/dashboards: cannot reach Redash at {url} (timed out)"
    )
    assert [email["Subject"] for email in stack.emails(day2)] == [
        f"[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-10-07: {file2.expected.loaded + 1} loaded, "
        f"{sum(file2.expected.rejected.values())} rejected, 0 retrying"
    ]
    assert retry_queue_depth(stack) == 0


def test_the_status_topic_delivers_every_publish_even_of_the_same_message(stack: E2EStack) -> None:
    """What makes the marker necessary: a standard topic does not deduplicate, so a repeated Notify would be
    a second email."""
    sns = stack.client("sns")
    subject = "[nightly-etl] SUCCEEDED 2026-10-08: 1 loaded, 0 rejected, 0 retrying"
    ids = [
        sns.publish(TopicArn=stack.outputs.status_topic_arn, Subject=subject, Message="the same body\n")[
            "MessageId"
        ]
        for _ in range(2)
    ]

    assert len(set(ids)) == 2
    assert [email["Subject"] for email in stack.emails(date(2026, 10, 8))] == [subject, subject]


def test_the_refresh_role_records_its_outcome_and_nothing_else(stack: E2EStack) -> None:
    functions = stack.client("lambda")
    role_of = {
        role: functions.get_function_configuration(FunctionName=stack.outputs.lambda_function_names[role])[
            "Role"
        ]
        for role in ("refresh_dashboard", "notify")
    }
    table = stack.outputs.runs_table_name
    # The marker's and the refresh's write: allowed (its condition then fails on a date without an item).
    update = {
        "TableName": table,
        "Key": {"run_date": {"S": "1999-01-03"}},
        "UpdateExpression": "SET #r = :r",
        "ConditionExpression": "attribute_exists(run_date)",
        "ExpressionAttributeNames": {"#r": "dashboard_refresh"},
        "ExpressionAttributeValues": {":r": {"M": {}}},
    }
    for role in ("refresh_dashboard", "notify"):
        dynamodb = RoleSession(stack, role_of[role], LAMBDA).client("dynamodb")
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.update_item(**update)

    session = RoleSession(stack, role_of["refresh_dashboard"], LAMBDA)
    read = denied(session.client("dynamodb").get_item, TableName=table, Key={"run_date": {"S": "1999-01-03"}})
    publish = denied(session.client("sns").publish, TopicArn=stack.outputs.status_topic_arn, Message="x")
    # No redash_api_key_parameter in this stack: no SSM grant at all.
    key = denied(session.client("ssm").get_parameter, Name=REDASH_KEY_PARAMETER, WithDecryption=True)

    assert "dynamodb:GetItem" in read["Message"]
    assert "sns:Publish" in publish["Message"]
    assert "ssm:GetParameter" in key["Message"]
