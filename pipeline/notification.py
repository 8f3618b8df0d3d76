"""The status email: one per run, whatever its outcome, rendered from the run's etl_runs item and its report.

The subject says the outcome, the date and the key counts at a glance (SNS wants ASCII and fewer than 100
characters); the plain-text body says everything a person needs to decide whether to act, and where to look.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.budgets import (
    EMAIL_BYTES,
    EMAIL_FIELD_CHARS,
    EXAMPLE_CHARS,
    REASON_NAME_CHARS,
    fit_utf8,
    safe_text,
)
from pipeline.config import Config
from pipeline.contract import Reason
from pipeline.report import LoadReport
from pipeline.run_store import Run, RunLockLostError, RunStore
from pipeline.runs import Counts, RunStatus, Stage
from pipeline.tracking import describe_failure

SUBJECT_PREFIX = "[nightly-etl]"
MAX_SUBJECT_CHARS = 99
TOP_REASONS = 5
EXAMPLES_PER_REASON = 3
# Attributes of TrackResult's and RecordFailure's answers that stand in for the item when the table has
# none for this execution (BeginRun failed on a bad date, or a newer execution took the date).
_RESULT_ATTRIBUTES = (
    "status",
    "counts",
    "identity_ok",
    "error",
    "report_key",
    "retry_backlog",
    "retry_backlog_messages",
    "quarantine_total",
    "quarantine_key",
    "quarantine_reasons",
)
_HEADLINES: dict[str, str] = {
    RunStatus.SUCCEEDED: "Every record was loaded.",
    RunStatus.SUCCEEDED_WITH_ERRORS: (
        "The run finished, but not every record was loaded: see the rejection reasons and the retry queue below."
    ),
    RunStatus.NO_DATA: "Nothing was loaded: the day had no rows to extract and no records were waiting for retry.",
    RunStatus.RUNNING: "The run is still in progress.",
}
_OUTCOMES = (
    ("extracted", "extracted"),
    ("retried_in", "retried in"),
    ("loaded", "loaded"),
    ("rejected", "rejected"),
    ("queued_for_retry", "queued for retry"),
    ("quarantined", "quarantined"),
    ("duplicates_dropped", "duplicates dropped"),
)


@dataclass(frozen=True)
class Notification:
    subject: str
    body: str


def render(item: dict[str, Any], report: LoadReport | None, bucket: str) -> Notification:
    return Notification(render_subject(item), render_body(item, report, bucket))


def render_subject(item: dict[str, Any]) -> str:
    status = str(item.get("status", "UNKNOWN"))
    run_date = item.get("run_date") or "unknown date"
    if status == RunStatus.FAILED:
        error = item.get("error") or {}
        text = f"{SUBJECT_PREFIX} FAILED {run_date} at {error.get('state', '?')}: {error.get('error', '?')}"
    elif status == RunStatus.NO_DATA:
        text = f"{SUBJECT_PREFIX} NO_DATA {run_date}: nothing to load"
    else:
        counts = Counts.from_dict(item.get("counts") or {})
        text = (
            f"{SUBJECT_PREFIX} {status} {run_date}: {counts.loaded} loaded, {counts.rejected} rejected, "
            f"{counts.queued_for_retry} retrying"
        )
        if counts.quarantined:
            text += f", {counts.quarantined} quarantined"
    return _subject_safe(text)


def render_body(item: dict[str, Any], report: LoadReport | None, bucket: str) -> str:
    status = str(item.get("status", "UNKNOWN"))
    run_date = item.get("run_date") or "unknown date"
    error = item.get("error") or {}
    lines = [f"Nightly ETL {status} for {run_date}"]
    if status == RunStatus.FAILED:
        lines.append(f"The run stopped at {error.get('state', 'an unknown state')}.")
    else:
        lines.append(_HEADLINES.get(status, ""))
    lines += [
        "",
        f"Run date:   {run_date}",
        f"Run id:     {item.get('run_id') or '-'}",
        f"Execution:  {item.get('execution_arn') or '-'}",
        f"Started:    {item.get('started_at') or '-'}",
        f"Finished:   {item.get('finished_at') or '-'}",
        f"Duration:   {_duration(item.get('started_at'), item.get('finished_at'))}",
    ]
    if status == RunStatus.FAILED:
        message = _shown(error.get("message", "no cause was recorded"), EMAIL_FIELD_CHARS)
        lines += ["", "What went wrong:", f"  {message}"]
        lines.append(f"  The lock on {run_date} is released: once the cause is fixed, run the date again.")
    lines += _stages_section(item.get("stages") or {})
    lines += _records_section(item)
    lines += _reasons_section(item)
    lines += _failures_section(report)
    lines += _locations_section(item, report, bucket)
    return _bounded_body("\n".join(_shown(line, _LINE_CHARS) for line in lines) + "\n", item, bucket)


# A line of the body: one value of EMAIL_FIELD_CHARS with its label, indent and marker.
_LINE_CHARS = EMAIL_FIELD_CHARS + 200


def _bounded_body(body: str, item: dict[str, Any], bucket: str) -> str:
    """The body within ``EMAIL_BYTES`` of UTF-8 whatever the item holds (SNS refuses a message over 256 KB):
    every value is already cut to ``EMAIL_FIELD_CHARS`` and every line to ``_LINE_CHARS``; past the budget the last lines give way to a note
    of where the rest is."""
    where = f"the run's item in etl_runs ({item.get('run_date') or '?'})"
    if item.get("report_key"):
        where += f" and s3://{bucket}/{item['report_key']}"
    return fit_utf8(body, EMAIL_BYTES, f"the rest is in {_shown(where, EMAIL_FIELD_CHARS)}")


def _shown(value: Any, keep: int) -> str:
    """Text from the item or the report as the email shows it: escaped, and cut with a marker."""
    return safe_text(value, keep)


def _stages_section(stages: dict[str, Any]) -> list[str]:
    if not stages:
        return []
    known = [s.value for s in Stage]
    lines = ["", "Stages:"]
    for name in sorted(stages, key=lambda n: known.index(n) if n in known else len(known)):
        stage = stages[name] or {}
        took = _duration(stage.get("started_at"), stage.get("finished_at"))
        lines.append(f"  {name:<12} {stage.get('status', '?'):<10} {took if took != '-' else ''}".rstrip())
    return lines


def _records_section(item: dict[str, Any]) -> list[str]:
    if "counts" not in item:
        return ["", "Records: not counted (the run stopped before its records were accounted for)."]
    counts = Counts.from_dict(item["counts"])
    lines = ["", "Records:"]
    lines += [f"  {label:<19} {getattr(counts, name):>8}" for name, label in _OUTCOMES]
    verdict = "holds" if counts.balanced else "BROKEN"
    lines += [
        f"Identity ({verdict}): extracted + retried in = {counts.extracted} + {counts.retried_in} = {counts.received}",
        f"  loaded + rejected + queued + quarantined + duplicates = {counts.loaded} + {counts.rejected} + "
        f"{counts.queued_for_retry} + {counts.quarantined} + {counts.duplicates_dropped} = {counts.accounted}",
    ]
    backlog = int(item.get("retry_backlog", 0))
    messages = int(item.get("retry_backlog_messages", 0))
    lines += [
        "",
        f"Retry queue: {_plural(backlog, 'record')} waiting for the next run "
        f"({_plural(messages, 'message')} in the queue)",
        f"Quarantine:  {_plural(counts.quarantined, 'record')} this run, "
        f"{_plural(int(item.get('quarantine_total', 0)), 'record')} in total",
    ]
    reasons = item.get("quarantine_reasons") or {}
    if reasons:
        # max_attempts: out of load attempts; dlq: moved to the DLQ by SQS; unreadable: kept raw.
        lines.append("  by reason:  " + ", ".join(f"{reason} {int(n)}" for reason, n in reasons.items()))
    return lines


def _reasons_section(item: dict[str, Any]) -> list[str]:
    reasons = item.get("rejection_reasons") or {}
    if not reasons:
        return []
    examples = item.get("examples") or {}
    ranked = sorted(reasons.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    lines = ["", "Top rejection reasons:"]
    for reason, count in ranked[:TOP_REASONS]:
        description = Reason(reason).description if reason in Reason._value2member_map_ else "unknown reason"
        lines.append(f"  {int(count):>6}  {_shown(reason, REASON_NAME_CHARS)}: {description}")
        lines += _examples_line(examples.get(reason) or [])
    counted = (item.get("other_reasons") or {}).get("rejection_reasons") or {}
    lines += _more_line(ranked[TOP_REASONS:], counted, "reason")
    return lines


def _examples_line(examples: list[Any]) -> list[str]:
    shown = [_shown(e, EXAMPLE_CHARS) for e in examples[:EXAMPLES_PER_REASON]]
    return [f"          e.g. {'; '.join(shown)}"] if shown else []


def _more_line(rest: list[tuple[str, Any]], counted: dict[str, Any], noun: str) -> list[str]:
    """``and 3 more reasons, 1,234 rows``: the names beyond those shown, and those the report or the item
    only counted (``other_reasons``)."""
    names = len(rest) + int(counted.get("reasons", 0))
    if not names:
        return []
    rows = sum(int(c) for _, c in rest) + int(counted.get("records", 0))
    return [f"  and {names:,} more {noun}{'' if names == 1 else 's'}, {rows:,} row{'' if rows == 1 else 's'}"]


def _failures_section(report: LoadReport | None) -> list[str]:
    if not report or not report.failure_errors:
        return []
    lines = ["", "Failed writes (queued for retry or quarantined):"]
    ranked = sorted(report.failure_errors.items(), key=lambda kv: (-kv[1].count, kv[0]))
    for error, summary in ranked[:TOP_REASONS]:
        lines.append(f"  {summary.count:>6}  {_shown(error, REASON_NAME_CHARS)}")
        lines += _examples_line(summary.examples)
    rest = [(error, summary.count) for error, summary in ranked[TOP_REASONS:]]
    lines += _more_line(rest, asdict(report.other_failure_errors), "error")
    return lines


def _locations_section(item: dict[str, Any], report: LoadReport | None, bucket: str) -> list[str]:
    run_id = item.get("run_id")
    if not run_id or "report_key" not in item:
        return []
    counts = Counts.from_dict(item.get("counts") or {})
    lines = ["", "Where to look:", f"  Load report:       s3://{bucket}/{item['report_key']}"]
    if report and report.job_run_id:
        lines.append(f"  Glue job run:      {report.job_run_id}")
    if counts.rejected:
        lines.append(f"  Rejected records:  s3://{bucket}/{layout.rejected_prefix(run_id)}")
    if counts.queued_for_retry or counts.quarantined:
        lines.append(f"  Failed records:    s3://{bucket}/{layout.failed_prefix(run_id)}")
    if item.get("quarantine_key"):
        lines.append(f"  Quarantined:       s3://{bucket}/{item['quarantine_key']}")
    return lines


def _duration(start: Any, end: Any) -> str:
    try:
        seconds = (_timestamp(end) - _timestamp(start)).total_seconds()
    except (TypeError, ValueError):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _timestamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _subject_safe(text: str) -> str:
    # SNS refuses subjects with non-ASCII or control characters, or of 100 characters and more.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    single_line = re.sub(r"[\x00-\x1f\x7f]+", " ", ascii_text).strip()
    return (
        single_line if len(single_line) <= MAX_SUBJECT_CHARS else single_line[: MAX_SUBJECT_CHARS - 3] + "..."
    )


def run_item(store: RunStore, event: dict[str, Any]) -> dict[str, Any]:
    """The run's item, read fresh; built from the event when the table has none for this execution."""
    run = event.get("run") or {}
    result = event.get("result") or {}
    item = store.get(run["run_date"]) if run.get("run_date") and run.get("run_id") else None
    if item and item.get("execution_arn") == run.get("execution_arn"):
        return item
    return {**run, **{k: result[k] for k in _RESULT_ATTRIBUTES if k in result}}


def read_report(s3: Any, bucket: str, item: dict[str, Any]) -> LoadReport | None:
    key = item.get("report_key")
    if not key:
        return None
    try:
        return LoadReport.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        # The email still goes out without the report's details: the item holds the counts.
        if error.response["Error"]["Code"] in {"NoSuchKey", "404"}:
            return None
        raise


class PublishError(Exception):
    """SNS did not take the status email; nothing was sent and the marker is taken back: safe to retry."""


class SimulatedCrash(RuntimeError):
    """Raised by the NOTIFY_CRASH_AFTER_PUBLISH fault hook right after an attempt published the email."""


def notify(config: Config, store: RunStore, s3: Any, sns: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Publish the run's status email once per outcome. ``event`` is ``{"run": Run, "result": TrackResult's
    or RecordFailure's answer}`` (the failure tracker sends the same shape).

    The outcome is the run's status as its item records it. Before publishing, ``RunStore.mark_notified``
    records the email for this outcome in the run's item with a conditional write; a repeat that finds the
    marker (Step Functions retrying Notify, the failure tracker after NotifyFailure) publishes nothing and
    answers ``sent: false``. A FAILED email after a SUCCEEDED one is another outcome and is sent.

    Marker first, then publish: when SNS refuses or cannot be reached, the marker is taken back and
    PublishError raised, so the retry sends. What this order gives up: a Lambda killed between the marker
    and the publish (its timeout, an out-of-memory kill), or a marker that cannot be taken back, loses that
    one email (at most once), which the notify function's error alarm and the execution history show.
    The other order, publish then mark, sends a duplicate whenever anything fails after the publish
    (at least once), and SNS cannot take that duplicate out: standard topics do not deduplicate, and FIFO
    topics, which do, cannot deliver to email subscriptions. The window lost here is a single SNS call;
    the one the other order leaves open is the rest of the invocation.

    A run without an item of this execution (BeginRun failed on a date it could not read, or a newer
    execution took the date) can hold no marker: its email is rendered from the event and sent.
    """
    item = run_item(store, event)
    outcome = str(item.get("status", "UNKNOWN"))
    run = _tracked_run(item)
    marked = False
    if run is not None:
        try:
            if not store.mark_notified(run, outcome):
                return {"status": outcome, "sent": False, "subject": None, "message_id": None}
            marked = True
        except RunLockLostError:
            marked = False
    message = render(item, read_report(s3, config.staging_bucket, item), config.staging_bucket)
    try:
        response = sns.publish(
            TopicArn=config.status_topic_arn, Subject=message.subject, Message=message.body
        )
    except Exception as error:
        if marked and run is not None:
            store.unmark_notified(run, outcome)
        raise PublishError(
            f"the status email of {item.get('run_date') or 'the run'} ({outcome}) was not published: "
            f"{type(error).__name__}: {error}"
        ) from error
    if config.notify_crash_after_publish and marked:
        raise SimulatedCrash(
            f"simulated crash after publishing the {outcome} email of run {item.get('run_id')} "
            "(NOTIFY_CRASH_AFTER_PUBLISH=1); the next attempt finds it sent"
        )
    return {"status": outcome, "sent": True, "subject": message.subject, "message_id": response["MessageId"]}


def record_notify_error(store: RunStore, event: dict[str, Any]) -> dict[str, Any]:
    """Record beside the run's outcome why its status email could not be sent, the outcome untouched.

    ``event`` is ``{"run": Run, "notify_error": {Error, Cause}}``: what Notify's Catch holds once its
    retries ran out. The run stays as TrackResult recorded it; its records are neither retried nor
    counted again. ``recorded`` is False when the date has no item of this execution.
    """
    caught = event.get("notify_error") or {}
    error = describe_failure("Notify", str(caught.get("Error") or ""), str(caught.get("Cause") or ""))
    run = _tracked_run(event.get("run") or {})
    recorded = store.record_follow_up(run, "notify_error", error) if run is not None else False
    return {"notify_error": error, "recorded": recorded}


def _tracked_run(item: dict[str, Any]) -> Run | None:
    """The run an item (or a Run dict) is about, when it names one the table can hold: a date and an id."""
    if not item.get("run_date") or not item.get("run_id") or not item.get("execution_arn"):
        return None
    return Run.from_dict(item)
