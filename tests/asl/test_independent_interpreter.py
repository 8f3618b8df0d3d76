"""The deployed state machine once more on aws-local-stepfunctions, an ASL interpreter that shares no code with
the emulator's (moto's): its Tasks call the same deployed Lambdas and Glue job, and every scenario must visit
the same states and leave the same run record as the emulator's own execution of it.

Each scenario runs first on the emulator, then, for the same date and from the same starting point, on the
independent interpreter (a date's second run replaces its record, as a re-run does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from etl import operations
from tests.e2e.conftest import E2EStack

from .local_sfn import EmulatorTasks, LocalExecution, run_execution
from .test_timeouts import GLUE_MARGIN_SECONDS, LAMBDA_MARGIN_SECONDS
from .tooling import validate_asl

pytestmark = pytest.mark.e2e

ENDED = ["RefreshDashboard", "RunEnded"]
SUCCESS = ["BeginRun", "Extract", "HasWork", "Load", "TrackResult", "Notify", *ENDED, "Done"]
NO_DATA = ["BeginRun", "Extract", "HasWork", "TrackResult", "Notify", *ENDED, "Done"]
FAILED = ["RecordFailure", "NotifyFailure", *ENDED, "RunFailed"]
EXTRACT_FAILED = ["BeginRun", "Extract", "ExtractFailed", *FAILED]
LOAD_FAILED = ["BeginRun", "Extract", "HasWork", "Load", "LoadFailed", *FAILED]
REFRESH_FAILED = [
    "BeginRun",
    "Extract",
    "HasWork",
    "Load",
    "TrackResult",
    "Notify",
    "RefreshDashboard",
    "DashboardRefreshFailed",
    "RunEnded",
    "Done",
]
LOCKED = ["BeginRun", "RunLocked"]
HEADER = "order_id,order_date,customer,product_id,quantity,amount,currency\n"


def definition(stack: E2EStack) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    return json.loads(
        sfn.describe_state_machine(stateMachineArn=stack.outputs.state_machine_arn)["definition"]
    )


def emulator_history(stack: E2EStack, execution_arn: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    return events


def entered(history: list[dict[str, Any]]) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if event["type"].endswith("StateEntered")
    ]


def failures(history: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The failure events of a history with their details, for a message that says why a run went astray."""
    return [
        (event["type"], next((v for k, v in event.items() if k.endswith("EventDetails")), {}))
        for event in history
        if event["type"].endswith(("Failed", "TimedOut"))
    ]


def record(item: dict[str, Any]) -> dict[str, Any]:
    """What both interpreters must leave in a date's etl_runs item."""
    error = item.get("error") or {}
    return {
        "status": item["status"],
        "counts": item.get("counts"),
        "identity_ok": item.get("identity_ok"),
        "rejection_reasons": item.get("rejection_reasons"),
        "error": (error.get("state"), error.get("error")) if error else None,
        "lock": item.get("lock"),
    }


def retry_backlog(stack: E2EStack) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs.retry_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


class Comparison:
    """One date run by the emulator's interpreter, then by aws-local-stepfunctions."""

    def __init__(self, stack: E2EStack, run_date: date):
        self.stack = stack
        self.run_date = run_date
        self.definition = definition(stack)
        self.tasks = EmulatorTasks(stack.client("lambda"), stack.client("glue"))

    def on_emulator(self, start: Callable[[], operations.StartedRun]) -> tuple[dict[str, Any], list[dict]]:
        started = start()
        execution = operations.wait(self.stack, started.execution_arn, timeout_seconds=600)
        return execution, emulator_history(self.stack, started.execution_arn)

    def independently(self, execution_input: Any) -> tuple[str, LocalExecution]:
        """Run with the input the emulator's execution had, under an execution ARN of the state machine."""
        name = f"independent-{self.run_date.isoformat()}-{int(time.time() * 1000)}"
        machine = self.stack.outputs.state_machine_arn
        arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        context = {
            "Execution": {"Id": arn, "Name": name},
            "StateMachine": {"Id": machine, "Name": machine.rsplit(":", 1)[-1]},
        }
        return arn, run_execution(self.definition, execution_input, context, self.tasks)

    def subjects(self) -> list[str]:
        return [message["Subject"] for message in self.stack.emails(self.run_date)]


def compare(
    stack: E2EStack, run_date: date, start: Callable[[], operations.StartedRun], visited: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``run_date`` on both interpreters; return the run record each left, after checking that both
    visited ``visited`` and ended alike."""
    comparison = Comparison(stack, run_date)
    earlier = len(comparison.subjects())
    execution, history = comparison.on_emulator(start)
    emailed_by_emulator = comparison.subjects()[earlier:]
    states = entered(history)
    assert states == visited, failures(history)
    by_emulator = stack.run_item(run_date)
    if by_emulator.get("lock") is None:
        assert by_emulator["execution_arn"] == execution["executionArn"]

    arn, independent = comparison.independently(json.loads(execution["input"]))

    assert independent.states_entered == states, [e for e in independent.events if "Error" in e]
    assert independent.status == execution["status"]
    assert independent.error == execution.get("error")
    by_independent = stack.run_item(run_date)
    if by_independent.get("lock") is None:
        assert by_independent["execution_arn"] == arn
    assert record(by_independent) == record(by_emulator)
    emailed_independently = comparison.subjects()[earlier + len(emailed_by_emulator) :]
    assert emailed_independently == emailed_by_emulator
    assert len(emailed_by_emulator) == (0 if by_emulator.get("lock") else 1)
    return by_emulator, by_independent


@pytest.fixture
def quiet_retry_queue(stack: E2EStack) -> E2EStack:
    """Both runs of a date must start alike: records waiting for retry would go to the first run only."""
    if backlog := retry_backlog(stack):
        pytest.fail(
            f"the retry queue holds {backlog} messages left by an earlier test: the runs would differ"
        )
    return stack


def test_the_deployed_definition_is_the_template_rendered_with_the_stacks_names(stack: E2EStack) -> None:
    asl = validate_asl()
    lambdas = stack.client("lambda")
    functions = stack.outputs.lambda_function_names
    variables = {
        variable: lambdas.get_function(FunctionName=functions[role])["Configuration"]["FunctionArn"]
        for variable, role in asl.FUNCTION_VARIABLES.items()
    }
    variables["load_job_name"] = stack.outputs.load_job_name

    rendered = json.loads(asl.render(asl.DEFINITION.read_text(encoding="utf-8"), variables))

    assert rendered == definition(stack)


def test_the_tasks_outlast_the_deployed_functions_and_job(stack: E2EStack) -> None:
    states = definition(stack)["States"]
    lambdas = stack.client("lambda")
    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            configuration = lambdas.get_function_configuration(
                FunctionName=state["Parameters"]["FunctionName"]
            )
            assert state["TimeoutSeconds"] == configuration["Timeout"] + LAMBDA_MARGIN_SECONDS, name
    job = stack.client("glue").get_job(JobName=stack.outputs.load_job_name)["Job"]
    assert states["Load"]["TimeoutSeconds"] == job["Timeout"] * 60 + GLUE_MARGIN_SECONDS


def test_the_sample_run(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 11)
    operations.upload_partner_file(stack, run_date)
    scheduled = datetime(2026, 12, 11, 2, 0, tzinfo=UTC)

    by_emulator, _ = compare(stack, run_date, lambda: operations.fire_schedule(stack, scheduled), SUCCESS)

    assert by_emulator["status"] == "SUCCEEDED_WITH_ERRORS"
    assert by_emulator["counts"]["extracted"] == 11
    assert by_emulator["counts"]["loaded"] == 5
    assert by_emulator["counts"]["rejected"] == 5
    assert by_emulator["counts"]["duplicates_dropped"] == 1


def test_a_day_without_a_file_is_no_data(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 12)

    by_emulator, _ = compare(stack, run_date, lambda: operations.start_run(stack, run_date), NO_DATA)

    assert by_emulator["status"] == "NO_DATA"
    assert by_emulator["counts"]["extracted"] == 0


def test_a_wrong_header_fails_at_extract(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 13)
    body = HEADER.replace("customer,", "client,") + "ORD-3001,2026-12-13,Ada Lovelace,P-1001,1,19.99,EUR\n"
    stack.put_landing(run_date, "orders.csv", body.encode())

    by_emulator, _ = compare(stack, run_date, lambda: operations.start_run(stack, run_date), EXTRACT_FAILED)

    assert record(by_emulator)["error"] == ("Extract", "HeaderError")
    assert by_emulator["status"] == "FAILED"


def test_a_date_held_by_another_execution_is_left_alone(stack: E2EStack) -> None:
    run_date = date(2026, 12, 14)
    # A holder Step Functions cannot describe for BeginRun (another account's execution): the date stays its
    # own. (One it answers ExecutionDoesNotExist for, or one that stopped, would be taken over.)
    holder = (
        stack.outputs.state_machine_arn.replace(":stateMachine:", ":execution:").replace(
            ":123456789012:", ":210987654321:"
        )
        + ":holder-2026-12-14"
    )
    claimed = stack.client("lambda").invoke(
        FunctionName=stack.outputs.lambda_function_names["track_begin"],
        Payload=json.dumps(
            {
                "input": {"run_date": run_date.isoformat()},
                "execution_arn": holder,
                "started_at": "2026-12-14T02:00:00Z",
            }
        ).encode(),
    )
    assert "FunctionError" not in claimed, claimed["Payload"].read()

    by_emulator, by_independent = compare(
        stack, run_date, lambda: operations.start_run(stack, run_date), LOCKED
    )

    assert by_independent == by_emulator
    assert by_emulator["status"] == "RUNNING"
    assert by_emulator["lock"] == holder
    assert stack.emails(run_date) == []


def test_a_failed_glue_run_fails_at_load(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 15)
    operations.upload_partner_file(stack, run_date)
    stack.emulator.control.set_faults(fail_glue={stack.outputs.load_job_name: "boom"})

    by_emulator, by_independent = compare(
        stack, run_date, lambda: operations.start_run(stack, run_date), LOAD_FAILED
    )

    assert by_emulator["status"] == "FAILED"
    assert record(by_emulator)["error"] == ("Load", "GlueJobFailed")
    for item in (by_emulator, by_independent):
        assert item["error"]["message"].startswith(
            f"Load failed: the Glue job {stack.outputs.load_job_name} (run "
        )
        assert item["error"]["message"].endswith("ended FAILED: boom")


def test_a_notify_that_fails_once_after_publishing_sends_one_email(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 16)
    operations.upload_partner_file(stack, run_date)
    functions = stack.client("lambda")
    notify = stack.outputs.lambda_function_names["notify"]
    original = functions.get_function_configuration(FunctionName=notify)["Environment"]
    crashing = {"Variables": {**original["Variables"], "NOTIFY_CRASH_AFTER_PUBLISH": "1"}}
    functions.update_function_configuration(FunctionName=notify, Environment=crashing)
    try:
        # Each execution's first Notify publishes, then fails; its retry finds the email sent.
        by_emulator, by_independent = compare(
            stack, run_date, lambda: operations.start_run(stack, run_date), SUCCESS
        )
    finally:
        functions.update_function_configuration(FunctionName=notify, Environment=original)

    for item in (by_emulator, by_independent):
        assert (item["status"], item["notified"]) == ("SUCCEEDED_WITH_ERRORS", ["SUCCEEDED_WITH_ERRORS"])
        assert "notify_error" not in item


def test_a_failing_dashboard_refresh_leaves_the_run_as_it_was(quiet_retry_queue: E2EStack) -> None:
    stack, run_date = quiet_retry_queue, date(2026, 12, 17)
    operations.upload_partner_file(stack, run_date)
    refresh = stack.outputs.lambda_function_names["refresh_dashboard"]
    stack.emulator.control.set_faults(fail_lambda={refresh: "the refresh function crashed"})

    by_emulator, by_independent = compare(
        stack, run_date, lambda: operations.start_run(stack, run_date), REFRESH_FAILED
    )

    for item in (by_emulator, by_independent):
        assert item["status"] == "SUCCEEDED_WITH_ERRORS"
        assert (item["counts"]["loaded"], item["counts"]["rejected"]) == (5, 5)
        assert "dashboard_refresh" not in item
