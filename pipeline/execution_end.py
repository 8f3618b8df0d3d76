"""An execution's end as EventBridge reports it, and the check that a date's run happened at all.

RecordFailure, inside the state machine, records what its Catch clauses see. What no Catch can see ends the
execution instead: a manual StopExecution (ABORTED), the execution's TimeoutSeconds (TIMED_OUT), and the
terminal errors ``States.ALL`` does not match (``States.DataLimitExceeded``, ``States.Runtime``: FAILED).
Step Functions puts every status change of the execution on the default EventBridge bus; a rule sends the
FAILED, TIMED_OUT and ABORTED ones to the failure tracker, which records the run FAILED with the cause in
words and releases the date's lock, unless the run was already recorded for that execution (by
RecordFailure, or by TrackResult: an outcome TrackResult recorded is never turned FAILED).

The event (``detail``) carries the execution's ARN, its state machine, status, input (JSON text; null
when Step Functions left it out for size, then read from the execution's history), start and stop dates
(epoch milliseconds), error and cause. The rule wraps it as ``{"execution_end": event,
"timeout_seconds": N}`` so that a timeout can be worded with the definition's own limit.

The missed-run check is a scheduled rule at a configurable hour of each day: ``{"missed_run_check":
{"time": the firing time, "hour_utc": H}}``. It reads the day's etl_runs item and emails when there is
none, or when it is still RUNNING at that hour.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.config import Config
from pipeline.notification import SUBJECT_PREFIX, notify
from pipeline.run_store import Failure, Run, RunStore
from pipeline.runs import RunStatus, parse_run_date
from pipeline.tracking import (
    MAX_CAUSE_CHARS,
    Clock,
    _failed_stages,
    _run_for,
    describe_failure,
    iso,
    requeue_retried_after_failure,
    utc_now,
)

logger = logging.getLogger(__name__)

DETAIL_TYPE = "Step Functions Execution Status Change"
ENDED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
# Where the execution was when it ended, when its history cannot tell.
UNKNOWN_STATE = "the execution"


class ExecutionEventError(ValueError):
    """The event is not an execution's end this tracker can record."""


@dataclass(frozen=True)
class ExecutionEnd:
    execution_arn: str
    status: str
    execution_input: dict[str, Any] | None
    started_at: str
    stopped_at: str | None
    error: str
    cause: str
    timeout_seconds: int | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ExecutionEnd:
        """From the status-change event itself or from the rule's ``{"execution_end", "timeout_seconds"}``."""
        timeout = event.get("timeout_seconds")
        raw = event.get("execution_end", event)
        if not isinstance(raw, dict) or raw.get("detail-type") != DETAIL_TYPE:
            raise ExecutionEventError(f"not a {DETAIL_TYPE!r} event: {json.dumps(event)[:300]}")
        detail = raw.get("detail") or {}
        status = str(detail.get("status") or "")
        if status not in ENDED_STATUSES:
            raise ExecutionEventError(
                f"execution {detail.get('executionArn', '?')} is {status or 'without a status'}, not one of "
                f"{', '.join(ENDED_STATUSES)}: nothing to record"
            )
        return cls(
            execution_arn=str(detail["executionArn"]),
            status=status,
            execution_input=_input_of(detail),
            started_at=_iso_ms(detail.get("startDate")) or str(raw.get("time") or ""),
            stopped_at=_iso_ms(detail.get("stopDate")),
            error=str(detail.get("error") or ""),
            cause=str(detail.get("cause") or ""),
            timeout_seconds=int(timeout) if timeout not in (None, "") else None,
        )


def is_execution_end(event: dict[str, Any]) -> bool:
    return "execution_end" in event or event.get("detail-type") == DETAIL_TYPE


def is_missed_run_check(event: dict[str, Any]) -> bool:
    return "missed_run_check" in event


def describe_end(end: ExecutionEnd, state: str) -> dict[str, str]:
    """The end as a person reads it, in the shape of ``describe_failure``: ``{state, error, cause, message}``."""
    if end.status == "FAILED":
        return describe_failure(state, end.error or "ExecutionFailed", end.cause)
    if end.status == "TIMED_OUT":
        limit = f"{end.timeout_seconds:,} s" if end.timeout_seconds else "time"
        name, words = end.error or "States.Timeout", f"the execution did not finish within its {limit} limit"
    else:
        name = end.error or "ExecutionAborted"
        words = "the execution was stopped" + (f" ({end.cause})" if end.cause else "")
    return {
        "state": state,
        "error": name,
        "cause": end.cause[:MAX_CAUSE_CHARS],
        "message": f"{state} did not finish: {words}",
    }


def last_state_entered(sfn: Any, execution_arn: str) -> str | None:
    """The state the execution was in when it ended: the newest state-entered event of its history."""
    page = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=100)
    for event in page.get("events", []):
        entered = event.get("stateEnteredEventDetails")
        if entered and event.get("type", "").endswith("StateEntered"):
            return str(entered["name"])
    return None


def started_input(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The execution's input from its ExecutionStarted event, for an end event that left the input out
    (Step Functions drops it when the escaped input and output pass 248 KB)."""
    page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1)
    for event in page.get("events", []):
        details = event.get("executionStartedEventDetails")
        if details is not None:
            return _parsed_object(details.get("input"))
    return None


def run_of(end: ExecutionEnd, now: Clock = utc_now) -> Run | None:
    """The run the execution was for, as BeginRun names it; None when its input names no usable date."""
    execution_input = end.execution_input or {}
    try:
        run_date = parse_run_date(execution_input["run_date"])
    except (KeyError, TypeError, ValueError):
        return None
    return _run_for(
        run_date, execution_input, {"execution_arn": end.execution_arn, "started_at": end.started_at}, now
    )


def record_execution_end(
    store: RunStore, end: ExecutionEnd, state: str | None, now: Clock = utc_now
) -> dict[str, Any]:
    """Record the run of an execution that ended FAILED, TIMED_OUT or ABORTED; return what happened.

    ``recorded``: this call set the run FAILED (the run was still RUNNING, or had no item yet).
    ``owned``: the date's item is this execution's (recorded now or before). ``tracked``: TrackResult had
    recorded its outcome, which stays (the end goes beside it as ``notify_error``). A date another
    execution holds (one refused the lock, or a newer run) is left alone.
    """
    place = state or UNKNOWN_STATE
    error = describe_end(end, place)
    run = run_of(end, now)
    if run is None:
        return {
            "run": None,
            "status": None,
            "error": error,
            "recorded": False,
            "owned": False,
            "tracked": False,
        }
    finished = iso(now())
    current = store.get(run.run_date)
    if current is None or current.get("execution_arn") == run.execution_arn:
        stages = _failed_stages((current or {}).get("stages") or {}, {}, place, finished)
        failure = store.fail(run, {"error": error, "stages": stages}, finished, keep_failed=True)
    else:
        failure = Failure(None, recorded=False)
    item = failure.item or {}
    return {
        "run": run.to_dict(),
        "status": item.get("status"),
        # The cause the item holds: this end's, or the one RecordFailure recorded first.
        "error": item.get("error") or error,
        "recorded": failure.recorded,
        "owned": failure.item is not None,
        "tracked": failure.tracked,
    }


def end_execution(
    config: Config, store: RunStore, s3: Any, sqs: Any, sns: Any, sfn: Any, event: dict[str, Any]
) -> dict[str, Any]:
    """Everything the failure tracker does for an execution's end: record it (``record_execution_end``),
    put the run's drained retries back unless TrackResult accounted for them, and send the failure email
    (once per outcome: ``notify`` keeps the marker). Returns the record's answer with ``requeued`` and
    ``notified``, plus the execution's ARN and status."""
    end = ExecutionEnd.from_event(event)
    if end.execution_input is None:
        end = replace(end, execution_input=started_input(sfn, end.execution_arn))
    result = record_execution_end(store, end, _state_at_end(sfn, end.execution_arn))
    result.update(execution_arn=end.execution_arn, execution_status=end.status, requeued=0, notified=None)
    run = result["run"]
    if run is None:
        logger.warning("execution end without a run date: nothing recorded (%s)", end.execution_arn)
        return result
    # A run another execution took over is requeued only when it never reached its load (it cannot have
    # been tracked then); its email is that execution's to send.
    reached_load = _exists(s3, config.staging_bucket, layout.report_key(run["run_id"]))
    if not result["tracked"] and (result["owned"] or not reached_load):
        result["requeued"] = requeue_retried_after_failure(config, s3, sqs, run["run_id"])
    if result["owned"]:
        result["notified"] = notify(config, store, s3, sns, {"run": run, "result": result})["sent"]
    return result


def _state_at_end(sfn: Any, execution_arn: str) -> str | None:
    try:
        return last_state_entered(sfn, execution_arn)
    except ClientError as error:
        # The end is recorded all the same, without the state's name.
        logger.warning("execution history of %s unreadable: %s", execution_arn, error)
        return None


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


# --- the missed-run check -----------------------------------------------------------------------


@dataclass(frozen=True)
class MissedRun:
    run_date: str
    subject: str
    body: str
    status: str  # MISSED (no item) or RUNNING (not finished by the check's hour)


def check_missed_run(store: RunStore, event: dict[str, Any]) -> tuple[str, MissedRun | None]:
    """The run date the check is about, and the email to send when its run was not recorded in time."""
    check = event.get("missed_run_check") or {}
    try:
        moment = datetime.fromisoformat(str(check["time"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        raise ExecutionEventError(
            f'a missed-run check needs {{"missed_run_check": {{"time": ISO 8601}}}}, got {json.dumps(event)[:300]}'
        ) from None
    run_date = moment.date().isoformat()
    hour = int(check.get("hour_utc", moment.hour))
    item = store.get(run_date)
    if item is None:
        return run_date, _missed(run_date, moment, hour)
    if item.get("status") == RunStatus.RUNNING:
        return run_date, _still_running(run_date, moment, hour, item)
    return run_date, None


def run_missed_run_check(config: Config, store: RunStore, sns: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The missed-run check: publish its email when the day's run was not recorded in time."""
    run_date, missed = check_missed_run(store, event)
    if missed is None:
        return {"check": "missed_run", "run_date": run_date, "status": "RECORDED", "message_id": None}
    answer = sns.publish(TopicArn=config.status_topic_arn, Subject=missed.subject, Message=missed.body)
    return {
        "check": "missed_run",
        "run_date": run_date,
        "status": missed.status,
        "message_id": answer["MessageId"],
    }


def _missed(run_date: str, moment: datetime, hour: int) -> MissedRun:
    lines = [
        f"Nightly ETL MISSED for {run_date}",
        f"No run of {run_date} was recorded by {hour:02d}:00 UTC.",
        "",
        f"Run date:   {run_date}",
        f"Checked:    {iso(moment)}",
        "",
        "What to do:",
        "  The daily schedule did not start a run for the date, or its execution ended before it could",
        "  claim it. Check the daily EventBridge rule and the state machine's executions of the day,",
        f"  then run the date: etl run --run-date {run_date}",
    ]
    subject = f"{SUBJECT_PREFIX} MISSED {run_date}: no run recorded by {hour:02d}:00 UTC"
    return MissedRun(run_date, subject, "\n".join(lines) + "\n", "MISSED")


def _still_running(run_date: str, moment: datetime, hour: int, item: dict[str, Any]) -> MissedRun:
    arn = item.get("lock") or item.get("execution_arn") or "-"
    lines = [
        f"Nightly ETL MISSED for {run_date}",
        f"The run of {run_date} was still RUNNING at {hour:02d}:00 UTC.",
        "",
        f"Run date:   {run_date}",
        f"Run id:     {item.get('run_id') or '-'}",
        f"Execution:  {arn}",
        f"Started:    {item.get('started_at') or '-'}",
        f"Checked:    {iso(moment)}",
        "",
        "What to do:",
        "  If the execution still runs, its own time limit ends it and its end is recorded and emailed.",
        "  If it has ended, its end was not recorded: run the date again; the next run takes the date over",
        f"  from an execution that no longer runs: etl run --run-date {run_date}",
    ]
    subject = f"{SUBJECT_PREFIX} MISSED {run_date}: still RUNNING at {hour:02d}:00 UTC"
    return MissedRun(run_date, subject, "\n".join(lines) + "\n", "RUNNING")


def _input_of(detail: dict[str, Any]) -> dict[str, Any] | None:
    return _parsed_object(detail.get("input"))


def _parsed_object(text: Any) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _iso_ms(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return iso(datetime.fromtimestamp(int(value) / 1000, UTC))
