"""Executions that end where no Catch reaches: a manual StopExecution, an uncatchable error. The rule on the state
machine's FAILED, TIMED_OUT and ABORTED executions hands each to the failure tracker, which records the run,
releases the date, puts its drained retries back and sends one email. The lock: a date whose holder no longer
runs is taken over without --force, and --force is refused while the holder runs. The missed-run check emails
for a day without a run, and stays quiet for a day with one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from etl import operations
from pipeline import retry
from pipeline.run_store import Holder, HolderState
from pipeline.staging import Origin, StagedRecord
from pipeline.tracking import execution_holder, send_messages

from .conftest import E2EStack, email_text
from .test_iam_roles import RoleSession, denied

pytestmark = pytest.mark.e2e

T = TypeVar("T")
STOPPED = date(2026, 10, 11)
OVERSIZED = date(2026, 10, 12)
TAKEN_OVER = date(2026, 10, 13)
NO_RUN = date(2026, 10, 14)
RECORDED = date(2026, 10, 15)
RETRIED = ["ORD-9101", "ORD-9102"]


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """``probe()`` once it answers something, polling; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f} s")
        time.sleep(0.2)


def drain(stack: E2EStack) -> list[StagedRecord]:
    """Every record on the retry queue, deleted from it."""
    sqs = stack.client("sqs")
    url = stack.outputs.retry_queue_url
    s3 = stack.client("s3")
    records: list[StagedRecord] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return records
        for message in messages:
            records += retry.unpack(
                message["Body"], lambda b, k: s3.get_object(Bucket=b, Key=k)["Body"].read()
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def quiet_queue(stack: E2EStack) -> Iterator[E2EStack]:
    """The retry queue empty before and after the test, whatever earlier tests left on it."""
    drain(stack)
    try:
        yield stack
    finally:
        drain(stack)


@pytest.fixture
def slow_load(stack: E2EStack) -> Iterator[None]:
    """The orders table takes one write a second: the Load lasts long enough to act while it runs."""
    dynamodb = stack.client("dynamodb")
    table = stack.outputs.orders_table_name
    dynamodb.update_table(TableName=table, OnDemandThroughput={"MaxWriteRequestUnits": 1})
    try:
        yield
    finally:
        dynamodb.update_table(TableName=table, OnDemandThroughput={"MaxWriteRequestUnits": -1})


def queue_retries(stack: E2EStack) -> None:
    records = [
        StagedRecord(
            raw={
                "order_id": order_id,
                "order_date": "2026-10-10",
                "customer": "Grace Hopper",
                "product_id": "P-1001",
                "quantity": "1",
                "amount": "249.00",
                "currency": "EUR",
            },
            origin=Origin(
                "retry",
                "2026-10-10-0123456789",
                n,
                attempt=1,
                first_failed_run="2026-10-10-0123456789",
                last_error="ProvisionedThroughputExceededException",
            ),
        )
        for n, order_id in enumerate(RETRIED, start=2)
    ]
    send_messages(
        stack.client("sqs"), stack.outputs.retry_queue_url, retry.pack(records, "2026-10-10-0123456789")
    )


def entered(stack: E2EStack, execution_arn: str) -> list[str]:
    history = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [
        e["stateEnteredEventDetails"]["name"] for e in history["events"] if e["type"].endswith("StateEntered")
    ]


def ended(stack: E2EStack, run_date: date, execution_arn: str) -> dict[str, Any]:
    """The run's item once the failure tracker recorded the execution's end, and its email went out."""
    item = eventually(
        lambda: (
            lambda i: i if i and i.get("execution_arn") == execution_arn and i["status"] == "FAILED" else None
        )(operations.run_item(stack, run_date)),
        f"the FAILED run of {run_date}",
    )
    eventually(lambda: stack.emails(run_date), f"the failure email of {run_date}")
    assert stack.emulator.control.get("events?wait=20")["idle"]
    return item


def test_a_stopped_run_is_recorded_released_requeued_and_emailed_once_and_force_cannot_take_it_while_it_runs(
    quiet_queue: E2EStack, slow_load: None
) -> None:
    stack = quiet_queue
    operations.upload_partner_file(stack, STOPPED)
    queue_retries(stack)
    sfn = stack.client("stepfunctions")

    holder = operations.start_run(stack, STOPPED)
    eventually(lambda: "Load" in entered(stack, holder.execution_arn), "the Load state")
    forced = operations.start_run(stack, STOPPED, force=True)
    refused = operations.wait(stack, forced.execution_arn, timeout_seconds=60)
    assert sfn.describe_execution(executionArn=holder.execution_arn)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=holder.execution_arn)

    # --force while the holder runs: refused, naming the holder and how to stop it; nothing changed.
    assert (refused["status"], refused["error"]) == ("FAILED", "RunLocked")
    message = operations.lock_refusal(stack, forced.execution_arn)
    assert message is not None
    assert f"is RUNNING in execution {holder.execution_arn} " in message
    assert f"`aws stepfunctions stop-execution --execution-arn {holder.execution_arn}`" in message
    # The stop: recorded FAILED where it happened, the lock released, the drained retries back, one email.
    item = ended(stack, STOPPED, holder.execution_arn)
    assert item["error"]["state"] == "Load"
    assert item["error"]["error"] == "ExecutionAborted"
    assert item["error"]["message"] == "Load did not finish: the execution was stopped"
    assert item["stages"]["Load"]["status"] == "FAILED"
    assert "lock" not in item
    assert "counts" not in item
    back = drain(stack)
    assert sorted(r.raw["order_id"] for r in back) == RETRIED
    assert {r.origin.attempt for r in back} == {1}
    [email] = stack.emails(STOPPED)
    assert email["Subject"] == "[nightly-etl] FAILED 2026-10-11 at Load: ExecutionAborted"
    text = email_text(email)
    assert "The run stopped at Load." in text
    assert "  Load did not finish: the execution was stopped\n" in text
    assert "The lock on 2026-10-11 is released: once the cause is fixed, run the date again." in text


def test_an_uncatchable_error_is_recorded_and_emailed_through_the_rule(stack: E2EStack) -> None:
    # BeginRun's Parameters add the execution's ARN and start time to an input just under 256 KiB:
    # States.DataLimitExceeded, which States.ALL does not catch. The event leaves the input out (over 248 KB).
    padding = "x" * (262_144 - 100)
    started = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.outputs.state_machine_arn,
        name=f"oversized-{OVERSIZED.isoformat()}-{int(time.time() * 1000)}",
        input=json.dumps({"run_date": OVERSIZED.isoformat(), "note": padding}),
    )["executionArn"]
    execution = operations.wait(stack, started, timeout_seconds=60)

    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert entered(stack, started) == ["BeginRun"]
    item = ended(stack, OVERSIZED, started)
    assert (item["error"]["state"], item["error"]["error"]) == ("BeginRun", "States.DataLimitExceeded")
    assert item["error"]["message"].startswith("BeginRun failed: States.DataLimitExceeded: ")
    assert "lock" not in item
    [email] = stack.emails(OVERSIZED)
    assert email["Subject"] == "[nightly-etl] FAILED 2026-10-12 at BeginRun: States.DataLimitExceeded"
    assert "The run stopped at BeginRun." in email_text(email)


def test_the_next_run_takes_a_date_from_a_stopped_holder_without_force(quiet_queue: E2EStack) -> None:
    stack = quiet_queue
    # The holder stops and its end goes unrecorded (the rule is off, as when the event is lost): the date
    # stays RUNNING in its name. It claims the date as its BeginRun does, whether or not that ran first.
    events = stack.client("events")
    rule = f"{stack.outputs.state_machine_arn.rsplit(':', 1)[1]}-execution-end"
    events.disable_rule(Name=rule)
    try:
        holder = operations.start_run(stack, TAKEN_OVER)
        stack.client("stepfunctions").stop_execution(executionArn=holder.execution_arn)
        assert operations.wait(stack, holder.execution_arn, timeout_seconds=60)["status"] == "ABORTED"
        claim = stack.client("lambda").invoke(
            FunctionName=stack.outputs.lambda_function_names["track_begin"],
            Payload=json.dumps(
                {
                    "input": {"run_date": TAKEN_OVER.isoformat()},
                    "execution_arn": holder.execution_arn,
                    "started_at": "2026-10-13T06:00:00Z",
                }
            ).encode(),
        )
        assert "FunctionError" not in claim, claim["Payload"].read()
        assert stack.emulator.control.get("events?wait=20")["idle"]
    finally:
        events.enable_rule(Name=rule)
    stale = stack.run_item(TAKEN_OVER)
    assert (stale["status"], stale["lock"]) == ("RUNNING", holder.execution_arn)

    again, execution = stack.run_direct(TAKEN_OVER)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(TAKEN_OVER)
    assert (item["status"], item["execution_arn"], item["force"], item["attempts"]) == (
        "NO_DATA",
        again.execution_arn,
        False,
        stale["attempts"] + 1,
    )
    assert item["took_over"] == {"execution_arn": holder.execution_arn, "status": "ABORTED"}
    assert "lock" not in item


def test_the_missed_run_check_emails_for_a_day_without_a_run_only(quiet_queue: E2EStack) -> None:
    stack = quiet_queue
    tracker = stack.outputs.lambda_function_names["track_failure"]
    function_arn = stack.client("lambda").get_function_configuration(FunctionName=tracker)["FunctionArn"]
    rules = stack.client("events").list_rule_names_by_target(TargetArn=function_arn)["RuleNames"]
    [check] = [name for name in rules if name.endswith("-missed-run-check")]
    # A day with a run: no file and nothing to retry, recorded NO_DATA.
    _, recorded = stack.run_direct(RECORDED)
    assert (recorded["status"], stack.run_item(RECORDED)["status"]) == ("SUCCEEDED", "NO_DATA")

    quiet = stack.emulator.control.fire(check, at=f"{RECORDED.isoformat()}T12:00:00Z")
    missed = stack.emulator.control.fire(check, at=f"{NO_RUN.isoformat()}T12:00:00Z")

    assert [t.get("status_code") for t in quiet["targets"] + missed["targets"]] == [202, 202]
    [email] = eventually(lambda: stack.emails(NO_RUN), "the missed-run email")
    assert email["Subject"] == "[nightly-etl] MISSED 2026-10-14: no run recorded by 12:00 UTC"
    text = email_text(email)
    assert text.startswith(
        "Nightly ETL MISSED for 2026-10-14\nNo run of 2026-10-14 was recorded by 12:00 UTC.\n"
    )
    assert "  then run the date: etl run --run-date 2026-10-14\n" in text
    logs = stack.client("logs")

    def checked_recorded_day() -> bool:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{tracker}").get("events", [])
        return any('"run recorded"' in e["message"] and RECORDED.isoformat() in e["message"] for e in found)

    eventually(checked_recorded_day, f"the check of {RECORDED}")
    assert [m["Subject"] for m in stack.emails(RECORDED)] == [
        "[nightly-etl] NO_DATA 2026-10-15: nothing to load"
    ]


def test_track_begin_may_describe_the_machines_executions_only(stack: E2EStack) -> None:
    role = stack.client("lambda").get_function_configuration(
        FunctionName=stack.outputs.lambda_function_names["track_begin"]
    )["Role"]
    sfn = RoleSession(stack, role, "lambda.amazonaws.com").client("stepfunctions")
    machine = stack.outputs.state_machine_arn
    gone = machine.replace(":stateMachine:", ":execution:") + ":never-started"
    elsewhere = gone.replace(":123456789012:", ":210987654321:")
    other_machine = gone.replace(":execution:", ":execution:x").replace(":never-started", ":e")

    with pytest.raises(ClientError) as missing:
        sfn.describe_execution(executionArn=gone)
    assert missing.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    assert execution_holder(sfn, gone) == Holder(HolderState.ENDED, "the execution does not exist")
    for arn in (elsewhere, other_machine):
        holder = execution_holder(sfn, arn)
        assert holder.state is HolderState.UNKNOWN
        assert holder.detail.startswith("DescribeExecution answered AccessDeniedException: User: ")
    denied(sfn.stop_execution, executionArn=gone)
