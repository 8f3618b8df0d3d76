"""The etl_runs table and its run lock, against DynamoDB in-process."""

from __future__ import annotations

import pytest

from pipeline import layout
from pipeline.run_store import Holder, HolderState, Run, RunLockLostError
from pipeline.runs import RunLockedError, RunStatus, parse_run_date

RUN_DATE = "2026-11-22"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22"
STARTED_AT = "2026-11-22T06:00:00.000Z"
OTHER_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:manual-rerun"
BEGUN = {
    "BeginRun": {"status": "SUCCEEDED", "started_at": STARTED_AT, "finished_at": "2026-11-22T06:00:01.250Z"}
}


def a_run(arn: str = EXECUTION_ARN, force: bool = False, started_at: str = STARTED_AT) -> Run:
    return Run(layout.run_id_for(parse_run_date(RUN_DATE), arn), RUN_DATE, arn, started_at, force)


def test_claiming_a_new_date_creates_a_running_item_that_holds_the_lock(aws):
    run = a_run()
    item = aws.store.claim(run, BEGUN)

    assert item == aws.store.get(RUN_DATE)
    assert item == {
        "run_date": RUN_DATE,
        "run_id": run.run_id,
        "execution_arn": EXECUTION_ARN,
        "status": "RUNNING",
        "lock": EXECUTION_ARN,
        "force": False,
        "attempts": 1,
        "started_at": STARTED_AT,
        "stages": BEGUN,
    }


def test_a_second_claim_while_the_holder_runs_is_refused_and_changes_nothing(aws):
    aws.store.claim(a_run(), BEGUN)
    before = aws.store.get(RUN_DATE)
    asked = []

    def running(arn: str) -> Holder:
        asked.append(arn)
        return Holder(HolderState.RUNNING, "RUNNING")

    with pytest.raises(RunLockedError) as refused:
        aws.store.claim(a_run(OTHER_ARN, started_at="2026-11-22T07:00:00.000Z"), {}, running)

    assert asked == [EXECUTION_ARN]
    assert str(refused.value) == (
        f"run for {RUN_DATE} is RUNNING in execution {EXECUTION_ARN} (started at {STARTED_AT}, Step Functions "
        "says RUNNING); --force does not take a date from an execution that still runs: wait for it to end, "
        f"or stop it first with `aws stepfunctions stop-execution --execution-arn {EXECUTION_ARN}`, then run "
        "the date again"
    )
    assert aws.store.get(RUN_DATE) == before


def test_force_is_refused_too_while_the_holder_runs(aws):
    aws.store.claim(a_run(), BEGUN)
    before = aws.store.get(RUN_DATE)

    with pytest.raises(
        RunLockedError, match="--force does not take a date from an execution that still runs"
    ):
        aws.store.claim(
            a_run(OTHER_ARN, force=True), {}, lambda arn: Holder(HolderState.RUNNING, "PENDING_REDRIVE")
        )

    assert aws.store.get(RUN_DATE) == before


@pytest.mark.parametrize("detail", ["ABORTED", "TIMED_OUT", "the execution does not exist"])
def test_a_holder_that_no_longer_runs_loses_the_date_without_force(aws, detail):
    old = a_run()
    aws.store.claim(old, BEGUN)

    taken = aws.store.claim(a_run(OTHER_ARN), {}, lambda arn: Holder(HolderState.ENDED, detail))

    assert (taken["status"], taken["lock"], taken["execution_arn"], taken["force"], taken["attempts"]) == (
        "RUNNING",
        OTHER_ARN,
        OTHER_ARN,
        False,
        2,
    )
    assert taken["took_over"] == {"execution_arn": EXECUTION_ARN, "status": detail}
    # The stopped execution's late writes are refused; a later fresh claim forgets the takeover.
    assert aws.store.fail(old, {"error": {"state": "Load"}}, "2026-11-22T06:05:00.000Z").item is None
    aws.store.finish(a_run(OTHER_ARN), RunStatus.SUCCEEDED, {}, "2026-11-22T07:05:00.000Z")
    third = aws.store.claim(a_run(OTHER_ARN + "-3"), {})
    assert "took_over" not in third


def test_a_holder_whose_status_cannot_be_told_keeps_the_date_unless_forced(aws):
    old = a_run()
    aws.store.claim(old, BEGUN)
    unknown = Holder(HolderState.UNKNOWN, "DescribeExecution answered AccessDeniedException: no")

    with pytest.raises(RunLockedError) as refused:
        aws.store.claim(a_run(OTHER_ARN), {}, lambda arn: unknown)
    assert str(refused.value) == (
        f"run for {RUN_DATE} is held by execution {EXECUTION_ARN} (started at {STARTED_AT}), whose status Step "
        "Functions could not tell (DescribeExecution answered AccessDeniedException: no); once you know it "
        "has stopped, run the date again with --force"
    )

    forced = aws.store.claim(a_run(OTHER_ARN, force=True), {}, lambda arn: unknown)
    assert (forced["lock"], forced["force"], forced["attempts"]) == (OTHER_ARN, True, 2)
    assert forced["took_over"] == {"execution_arn": EXECUTION_ARN, "status": unknown.detail}
    with pytest.raises(RunLockLostError, match=f"now belongs to execution {OTHER_ARN} \\(RUNNING\\)"):
        aws.store.finish(old, RunStatus.SUCCEEDED, {"counts": {"loaded": 1}}, "2026-11-22T06:05:00.000Z")
    assert aws.store.get(RUN_DATE) == forced


def test_a_claim_without_a_holder_check_cannot_take_a_running_date(aws):
    aws.store.claim(a_run(), BEGUN)

    with pytest.raises(RunLockedError, match="could not tell \\(not checked\\)"):
        aws.store.claim(a_run(OTHER_ARN), {})


def test_a_retried_claim_by_the_holding_execution_returns_its_item_unchanged(aws):
    first = aws.store.claim(a_run(), BEGUN)

    again = aws.store.claim(a_run(), {"BeginRun": {"status": "SUCCEEDED"}})

    assert again == first == aws.store.get(RUN_DATE)
    assert again["attempts"] == 1


@pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED])
def test_a_date_whose_run_has_stopped_can_be_claimed_again(aws, status):
    first = a_run()
    aws.store.claim(first, BEGUN)
    if status is RunStatus.FAILED:
        aws.store.fail(first, {"error": {"state": "Extract"}}, "2026-11-22T06:01:00.000Z")
    else:
        aws.store.finish(first, status, {"counts": {"loaded": 3}}, "2026-11-22T06:01:00.000Z")

    second = a_run(OTHER_ARN, started_at="2026-11-22T07:00:00.000Z")
    item = aws.store.claim(second, {})

    assert (item["status"], item["lock"], item["run_id"], item["attempts"]) == (
        "RUNNING",
        OTHER_ARN,
        second.run_id,
        2,
    )
    # The earlier execution's outcome does not leak into the new run.
    assert {"counts", "error", "finished_at"}.isdisjoint(item)


def test_finish_releases_the_lock_and_a_repeat_writes_the_same_item(aws):
    run = a_run()
    aws.store.claim(run, BEGUN)

    first = aws.store.finish(run, RunStatus.SUCCEEDED, {"retry_backlog": 0}, "2026-11-22T06:03:00.000Z")
    again = aws.store.finish(run, RunStatus.SUCCEEDED, {"retry_backlog": 0}, "2026-11-22T06:09:00.000Z")

    assert "lock" not in first
    assert first["finished_at"] == "2026-11-22T06:03:00.000Z"
    assert again == first


def test_fail_records_the_error_and_releases_the_lock(aws):
    run = a_run()
    aws.store.claim(run, BEGUN)
    error = {
        "state": "Extract",
        "error": "HeaderError",
        "cause": "{}",
        "message": "Extract failed: HeaderError: x",
    }

    failure = aws.store.fail(run, {"error": error}, "2026-11-22T06:02:00.000Z")

    assert (failure.recorded, failure.tracked) == (True, False)
    item = failure.item
    assert item["status"] == "FAILED"
    assert item["error"] == error
    assert item["finished_at"] == "2026-11-22T06:02:00.000Z"
    assert "lock" not in item
    assert item["attempts"] == 1


ERROR = {
    "state": "Notify",
    "error": "Sandbox.Timedout",
    "cause": "",
    "message": "Notify failed: Sandbox.Timedout",
}


@pytest.mark.parametrize("keep_failed", [False, True])
def test_fail_never_turns_an_outcome_trackresult_recorded_into_failed(aws, keep_failed):
    run = a_run()
    aws.store.claim(run, BEGUN)
    tracked = aws.store.finish(
        run, RunStatus.SUCCEEDED_WITH_ERRORS, {"counts": {"loaded": 5}}, "2026-11-22T06:03:00Z"
    )

    failure = aws.store.fail(run, {"error": ERROR}, "2026-11-22T06:04:00.000Z", keep_failed=keep_failed)
    again = aws.store.fail(run, {"error": {**ERROR, "error": "RunFailed"}}, "2026-11-22T06:05:00Z")

    assert (failure.recorded, failure.tracked) == (False, True)
    assert (again.recorded, again.tracked) == (False, True)
    item = aws.store.get(RUN_DATE)
    assert item == {**tracked, "notify_error": ERROR}
    assert (item["status"], item["finished_at"], item["counts"]) == (
        "SUCCEEDED_WITH_ERRORS",
        "2026-11-22T06:03:00Z",
        {"loaded": 5},
    )


def test_an_execution_end_leaves_a_failure_recordfailure_recorded_and_records_a_running_one(aws):
    run = a_run()
    aws.store.claim(run, BEGUN)
    first = aws.store.fail(run, {"error": ERROR}, "2026-11-22T06:04:00.000Z")
    end = {**ERROR, "state": "Notify", "error": "RunFailed"}

    later = aws.store.fail(run, {"error": end}, "2026-11-22T06:05:00.000Z", keep_failed=True)
    retried = aws.store.fail(run, {"error": end}, "2026-11-22T06:06:00.000Z")

    assert (later.recorded, later.tracked, later.item) == (False, False, first.item)
    # Without keep_failed (RecordFailure retried by Step Functions) the cause is written again.
    assert (retried.recorded, retried.item["error"], retried.item["finished_at"]) == (
        True,
        end,
        "2026-11-22T06:06:00.000Z",
    )


def test_an_execution_end_before_any_claim_creates_the_failed_item(aws):
    run = a_run()

    failure = aws.store.fail(run, {"error": ERROR}, "2026-11-22T06:00:30.000Z", keep_failed=True)

    assert failure.recorded is True
    assert {k: failure.item[k] for k in ("status", "execution_arn", "run_id", "attempts")} == {
        "status": "FAILED",
        "execution_arn": EXECUTION_ARN,
        "run_id": run.run_id,
        "attempts": 1,
    }


def test_quarantine_total_before_is_that_of_the_latest_earlier_date_that_recorded_one(aws):
    for run_date, total in (("2026-11-19", 2), ("2026-11-20", 5), ("2026-11-23", 9)):
        aws.dynamodb.put_item(
            TableName=aws.config.runs_table,
            Item={"run_date": {"S": run_date}, "quarantine_total": {"N": str(total)}},
        )
    aws.dynamodb.put_item(TableName=aws.config.runs_table, Item={"run_date": {"S": "2026-11-21"}})

    assert aws.store.quarantine_total_before(RUN_DATE) == 5
    assert aws.store.quarantine_total_before("2026-11-19") == 0


# --- the status email's marker and what is recorded beside the outcome ------------------------------


def finished_run(aws, arn: str = EXECUTION_ARN) -> Run:
    run = a_run(arn, force=arn != EXECUTION_ARN)
    aws.store.claim(run, BEGUN)
    aws.store.finish(run, RunStatus.SUCCEEDED, {"counts": {"loaded": 3}}, "2026-11-22T06:03:00.000Z")
    return run


def test_the_first_mark_for_an_outcome_wins_and_a_repeat_is_refused(aws):
    run = finished_run(aws)

    assert aws.store.mark_notified(run, "SUCCEEDED") is True
    assert aws.store.mark_notified(run, "SUCCEEDED") is False
    # Another outcome of the same execution is another email.
    assert aws.store.mark_notified(run, "FAILED") is True
    assert aws.store.mark_notified(run, "FAILED") is False

    item = aws.store.get(RUN_DATE)
    assert sorted(item["notified"]) == ["FAILED", "SUCCEEDED"]
    assert (item["status"], item["counts"], "lock" in item) == ("SUCCEEDED", {"loaded": 3}, False)


def test_a_mark_taken_back_lets_the_next_attempt_send(aws):
    run = finished_run(aws)
    aws.store.mark_notified(run, "SUCCEEDED")
    aws.store.mark_notified(run, "FAILED")

    aws.store.unmark_notified(run, "SUCCEEDED")

    assert aws.store.get(RUN_DATE)["notified"] == ["FAILED"]
    assert aws.store.mark_notified(run, "SUCCEEDED") is True


def test_no_mark_on_a_date_without_an_item_of_the_execution(aws):
    with pytest.raises(RunLockLostError, match="has no item of execution .*belongs to no execution"):
        aws.store.mark_notified(a_run(), "FAILED")
    assert aws.store.get(RUN_DATE) is None

    finished_run(aws, OTHER_ARN)
    with pytest.raises(RunLockLostError, match=f"it belongs to {OTHER_ARN}"):
        aws.store.mark_notified(a_run(), "SUCCEEDED")
    aws.store.unmark_notified(a_run(), "SUCCEEDED")
    assert "notified" not in aws.store.get(RUN_DATE)


def test_a_new_execution_of_the_date_starts_without_the_earlier_marks(aws):
    first = finished_run(aws)
    aws.store.mark_notified(first, "SUCCEEDED")
    aws.store.record_follow_up(first, "notify_error", {"state": "Notify", "error": "PublishError"})
    aws.store.record_follow_up(first, "dashboard_refresh", {"status": "failed", "message": "timed out"})

    rerun = finished_run(aws, OTHER_ARN)

    item = aws.store.get(RUN_DATE)
    assert {"notified", "notify_error", "dashboard_refresh"} & set(item) == set()
    assert aws.store.mark_notified(rerun, "SUCCEEDED") is True


def test_a_follow_up_is_recorded_beside_the_outcome_of_its_own_execution_only(aws):
    run = finished_run(aws)
    before = aws.store.get(RUN_DATE)
    refresh = {"status": "failed", "message": "Redash refresh failed: no answer", "finished_at": "06:04"}

    assert aws.store.record_follow_up(run, "dashboard_refresh", refresh) is True
    assert aws.store.get(RUN_DATE) == {**before, "dashboard_refresh": refresh}
    assert aws.store.record_follow_up(a_run(OTHER_ARN), "dashboard_refresh", {"status": "x"}) is False
    assert aws.store.get(RUN_DATE)["dashboard_refresh"] == refresh
    with pytest.raises(ValueError, match="'status' is not recorded beside a run's outcome"):
        aws.store.record_follow_up(run, "status", {"status": "FAILED"})
