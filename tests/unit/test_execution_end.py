"""An execution's end as EventBridge reports it (stopped, timed out, an uncatchable error), and the missed-run
check: the core against DynamoDB in-process, then the failure tracker's handler with the events the rules send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import retry
from pipeline.execution_end import (
    ExecutionEnd,
    ExecutionEventError,
    check_missed_run,
    describe_end,
    record_execution_end,
)
from pipeline.run_store import Run
from pipeline.runs import RunStatus
from pipeline.tracking import record_failure, requeued_marker_key
from tests.unit.staged_runs import staged_retries

RUN_DATE = "2026-11-22"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22"
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:nightly-etl"
# 2026-11-22T06:00:00Z and 06:07:30.5Z in epoch milliseconds, as the event carries them.
START_MS = 1795327200000
STOP_MS = 1795327650500


def end_event(
    status: str, error: str | None = None, cause: str | None = None, **detail: Any
) -> dict[str, Any]:
    """What the execution-end rule hands the tracker: the AWS event wrapped with the definition's limit."""
    event = {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-22T06:07:30Z",
        "region": "us-east-1",
        "resources": [EXECUTION_ARN],
        "detail": {
            "executionArn": EXECUTION_ARN,
            "stateMachineArn": MACHINE_ARN,
            "name": "daily-2026-11-22",
            "status": status,
            "startDate": START_MS,
            "stopDate": STOP_MS,
            "input": json.dumps({"run_date": "2026-11-22T06:00:00Z"}),
            "output": None,
            "inputDetails": {"included": True},
            "outputDetails": None,
            "error": error,
            "cause": cause,
            **detail,
        },
    }
    return {"execution_end": event, "timeout_seconds": 43200}


def test_the_event_is_read_into_the_execution_and_its_run():
    end = ExecutionEnd.from_event(end_event("ABORTED", cause="stopped by the operator"))

    assert end == ExecutionEnd(
        execution_arn=EXECUTION_ARN,
        status="ABORTED",
        execution_input={"run_date": "2026-11-22T06:00:00Z"},
        started_at="2026-11-22T06:00:00.000Z",
        stopped_at="2026-11-22T06:07:30.500Z",
        error="",
        cause="stopped by the operator",
        timeout_seconds=43200,
    )


def test_an_unwrapped_event_is_read_too_and_other_events_are_refused_with_the_reason():
    raw = end_event("TIMED_OUT")["execution_end"]

    assert ExecutionEnd.from_event(raw).timeout_seconds is None
    with pytest.raises(ExecutionEventError, match="is SUCCEEDED, not one of FAILED, TIMED_OUT, ABORTED"):
        ExecutionEnd.from_event(end_event("SUCCEEDED"))
    with pytest.raises(ExecutionEventError, match="not a 'Step Functions Execution Status Change' event"):
        ExecutionEnd.from_event({"execution_end": {"detail-type": "Scheduled Event"}})


def test_each_end_is_described_in_words():
    def described(event: dict[str, Any], state: str = "Load") -> dict[str, str]:
        return describe_end(ExecutionEnd.from_event(event), state)

    assert described(end_event("ABORTED")) == {
        "state": "Load",
        "error": "ExecutionAborted",
        "cause": "",
        "message": "Load did not finish: the execution was stopped",
    }
    assert described(end_event("ABORTED", "Maintenance", "bad catalog"))["message"] == (
        "Load did not finish: the execution was stopped (bad catalog)"
    )
    assert described(end_event("TIMED_OUT"), "Extract") == {
        "state": "Extract",
        "error": "States.Timeout",
        "cause": "",
        "message": "Extract did not finish: the execution did not finish within its 43,200 s limit",
    }
    limit = "The state/task 'Extract' returned a result with a size exceeding the maximum number of bytes"
    assert described(end_event("FAILED", "States.DataLimitExceeded", limit), "Extract") == {
        "state": "Extract",
        "error": "States.DataLimitExceeded",
        "cause": limit,
        "message": f"Extract failed: States.DataLimitExceeded: {limit}",
    }


def test_a_running_run_whose_execution_was_stopped_is_recorded_failed_and_released(aws, clock, run):
    result = record_execution_end(aws.store, ExecutionEnd.from_event(end_event("ABORTED")), "Load", clock)

    item = aws.store.get(RUN_DATE)
    assert (result["recorded"], result["owned"], result["tracked"], result["status"]) == (
        True,
        True,
        False,
        "FAILED",
    )
    assert result["run"] == run
    assert item["status"] == "FAILED"
    assert "lock" not in item
    assert item["error"] == {
        "state": "Load",
        "error": "ExecutionAborted",
        "cause": "",
        "message": "Load did not finish: the execution was stopped",
    }
    assert item["finished_at"] == "2026-11-22T06:00:02.250Z"
    assert item["stages"]["Load"] == {
        "status": "FAILED",
        "started_at": "2026-11-22T06:00:01.250Z",
        "finished_at": "2026-11-22T06:00:02.250Z",
    }


def test_a_failure_recordfailure_recorded_is_left_as_it_is(aws, clock, run):
    state = {
        "run_date": RUN_DATE,
        "begin": {"value": {"run": run}},
        "error": {"Error": "States.TaskFailed", "Cause": "boom"},
        "failed_state": "Load",
    }
    record_failure(aws.store, {"state": state, "execution_arn": EXECUTION_ARN}, clock)
    before = aws.store.get(RUN_DATE)
    clock.advance(5)

    result = record_execution_end(
        aws.store,
        ExecutionEnd.from_event(end_event("FAILED", "RunFailed", "The run failed")),
        "RunFailed",
        clock,
    )

    assert (result["recorded"], result["owned"], result["tracked"]) == (False, True, False)
    assert result["error"] == before["error"]
    assert aws.store.get(RUN_DATE) == before


def test_an_outcome_trackresult_recorded_stays_and_the_end_goes_beside_it(aws, clock, run):
    aws.store.finish(
        Run.from_dict(run), RunStatus.SUCCEEDED, {"counts": {"loaded": 5}}, "2026-11-22T06:03:00Z"
    )

    result = record_execution_end(aws.store, ExecutionEnd.from_event(end_event("ABORTED")), "Notify", clock)

    item = aws.store.get(RUN_DATE)
    assert (result["recorded"], result["owned"], result["tracked"], result["status"]) == (
        False,
        True,
        True,
        "SUCCEEDED",
    )
    assert (item["status"], item["counts"], item["finished_at"]) == (
        "SUCCEEDED",
        {"loaded": 5},
        "2026-11-22T06:03:00Z",
    )
    assert item["notify_error"]["message"] == "Notify did not finish: the execution was stopped"


def test_an_execution_refused_the_lock_leaves_the_holders_run_alone(aws, clock, run):
    before = aws.store.get(RUN_DATE)
    loser = EXECUTION_ARN + "-2"
    event = end_event("FAILED", "RunLocked", "Another execution holds the run lock for this date")
    event["execution_end"]["detail"]["executionArn"] = loser

    result = record_execution_end(aws.store, ExecutionEnd.from_event(event), "RunLocked", clock)

    assert (result["recorded"], result["owned"]) == (False, False)
    assert result["run"]["execution_arn"] == loser
    assert aws.store.get(RUN_DATE) == before


def test_an_execution_whose_input_names_no_date_records_nothing(aws, clock):
    event = end_event("FAILED", "States.Runtime", "x")
    event["execution_end"]["detail"]["input"] = json.dumps({"run_date": "tomorrow"})

    result = record_execution_end(aws.store, ExecutionEnd.from_event(event), None, clock)

    assert (result["run"], result["recorded"], result["owned"]) == (None, False, False)
    assert result["error"]["message"] == "the execution failed: States.Runtime: x"


# --- the missed-run check -----------------------------------------------------------------------


def check(time: str = "2026-11-22T12:00:00Z") -> dict[str, Any]:
    return {"missed_run_check": {"time": time, "hour_utc": 12}}


def test_a_day_without_a_run_item_is_missed(aws):
    run_date, missed = check_missed_run(aws.store, check())

    assert run_date == RUN_DATE
    assert missed is not None
    assert (missed.status, missed.subject) == (
        "MISSED",
        "[nightly-etl] MISSED 2026-11-22: no run recorded by 12:00 UTC",
    )
    assert missed.body.startswith(
        "Nightly ETL MISSED for 2026-11-22\nNo run of 2026-11-22 was recorded by 12:00 UTC.\n\n"
        "Run date:   2026-11-22\nChecked:    2026-11-22T12:00:00.000Z\n"
    )
    assert missed.body.endswith("  then run the date: etl run --run-date 2026-11-22\n")


def test_a_run_still_running_at_the_hour_is_missed_and_a_finished_one_is_not(aws, run):
    _, missed = check_missed_run(aws.store, check())
    assert missed is not None
    assert missed.subject == "[nightly-etl] MISSED 2026-11-22: still RUNNING at 12:00 UTC"
    assert f"Execution:  {EXECUTION_ARN}\n" in missed.body

    aws.store.finish(Run.from_dict(run), RunStatus.NO_DATA, {}, "2026-11-22T06:01:00Z")
    assert check_missed_run(aws.store, check()) == (RUN_DATE, None)
    # Another day is checked on its own item.
    assert check_missed_run(aws.store, check("2026-11-23T12:00:01Z"))[1] is not None


def test_a_check_without_a_time_is_refused():
    with pytest.raises(ExecutionEventError, match="a missed-run check needs"):
        check_missed_run(None, {"missed_run_check": {}})  # type: ignore[arg-type]


# --- the failure tracker's handler ----------------------------------------------------------------


def requeued_ids(aws: Any) -> list[str]:
    return sorted(
        r.raw["order_id"]
        for m in aws.queue_messages(aws.config.retry_queue_url)
        for r in retry.unpack(m["Body"], aws.fetch)
    )


def test_a_stopped_execution_is_recorded_requeued_and_emailed_once(aws, run, load_handler, lambda_context):
    staged_retries(aws, run["run_id"], RUN_DATE)
    tracker = load_handler("track_failure")

    first = tracker.lambda_handler(end_event("ABORTED"), lambda_context)
    again = tracker.lambda_handler(end_event("ABORTED"), lambda_context)

    assert (first["recorded"], first["requeued"], first["notified"]) == (True, 3, True)
    assert (again["recorded"], again["requeued"], again["notified"]) == (False, 0, False)
    assert requeued_ids(aws) == ["R-0", "R-1", "R-2"]
    item = aws.store.get(RUN_DATE)
    assert (item["status"], item["error"]["error"]) == ("FAILED", "ExecutionAborted")
    assert "lock" not in item
    [email] = aws.emails()
    # The execution's history cannot be read here (moto has no such execution): the state is not named.
    assert email["Subject"] == "[nightly-etl] FAILED 2026-11-22 at the execution: ExecutionAborted"
    assert "  the execution did not finish: the execution was stopped\n" in email["Message"]


def test_the_end_after_recordfailure_queues_nothing_twice_even_past_the_deduplication_window(
    aws, run, load_handler, lambda_context
):
    staged_retries(aws, run["run_id"], RUN_DATE)
    state = {
        "run_date": RUN_DATE,
        "begin": {"value": {"run": run}},
        "error": {"Error": "States.TaskFailed", "Cause": "boom"},
        "failed_state": "Load",
    }
    tracker = load_handler("track_failure")
    in_machine = tracker.lambda_handler({"state": state, "execution_arn": EXECUTION_ARN}, lambda_context)
    assert in_machine["requeued"] == 3
    # The next run drains them, long after SQS forgot the deduplication ids.
    assert requeued_ids(aws) == ["R-0", "R-1", "R-2"]
    marker = json.loads(aws.read(requeued_marker_key(run["run_id"])))

    ended = tracker.lambda_handler(end_event("FAILED", "RunFailed", "The run failed"), lambda_context)

    assert marker == {"run_id": run["run_id"], "records": 3}
    assert (ended["recorded"], ended["owned"], ended["requeued"]) == (False, True, 0)
    assert requeued_ids(aws) == []
    assert aws.store.get(RUN_DATE)["error"]["state"] == "Load"


def test_a_missed_run_check_emails_only_for_a_day_without_a_run(aws, load_handler, lambda_context):
    tracker = load_handler("track_failure")

    missed = tracker.lambda_handler(check("2026-11-21T12:00:00Z"), lambda_context)
    aws.store.claim(Run("2026-11-22-x", RUN_DATE, EXECUTION_ARN, "2026-11-22T06:00:00Z"), {})
    aws.store.finish(
        Run("2026-11-22-x", RUN_DATE, EXECUTION_ARN, ""), RunStatus.SUCCEEDED, {}, "2026-11-22T06:01Z"
    )
    recorded = tracker.lambda_handler(check(), lambda_context)

    assert (missed["status"], missed["run_date"]) == ("MISSED", "2026-11-21")
    assert (recorded["status"], recorded["message_id"]) == ("RECORDED", None)
    [email] = aws.emails()
    assert email["Subject"] == "[nightly-etl] MISSED 2026-11-21: no run recorded by 12:00 UTC"
    assert email["Message"].startswith("Nightly ETL MISSED for 2026-11-21\n")


def test_the_command_a_missed_run_email_gives_is_one_the_cli_takes(aws, run):
    from click.testing import CliRunner
    from typer.main import get_command

    from etl.cli import app

    _, no_item = check_missed_run(aws.store, check("2026-11-23T12:00:00Z"))
    _, running = check_missed_run(aws.store, check())
    for missed in (no_item, running):
        assert missed is not None
        command = missed.body.rstrip("\n").rsplit(": ", 1)[1]
        assert command.split()[:2] == ["etl", "run"]
        # --help after the arguments: the CLI parses them (an unknown option fails) and starts nothing.
        answer = CliRunner().invoke(get_command(app), [*command.split()[1:], "--help"])
        assert answer.exit_code == 0, answer.output
