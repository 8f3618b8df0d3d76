"""Tracking a run in the etl_runs table: begin (claim the date), result (route failed records, record the
counts), failure (record the cause in words), and the operator's requeue of quarantined records.

What the recorded figures mean:

- ``retry_backlog``: records waiting in the retry queue for the next run. The extract drains the whole
  queue before it stages anything, so after a run that is exactly what this run queued (``queued_for_retry``).
  ``retry_backlog_messages`` is SQS's approximate count of messages in the queue (visible, in flight and
  delayed) read after this run's sends; it counts messages, not records, and also shows anything queued
  since the drain (a requeue, another date's run).
- ``quarantine_total``: records quarantined up to and including this run: the total of the latest earlier
  run date that recorded one, plus this run's ``quarantined``. A requeue does not subtract from it.
- Stage times: BeginRun's are its own. Extract and Load report none, so unless the extract recorded its
  stage itself, Extract runs from BeginRun's end to the manifest's LastModified and Load from there to the
  report's LastModified, the moments their outputs became visible.

Failed records that reached ``max_attempts`` are quarantined: written to the run's quarantine object and
announced by one message on the retry DLQ that points at it (the retry message format, so the DLQ holds
one kind of message whether SQS redrove it or we put it there). Everything is derived from the run id, so a
repeated TrackResult writes the same objects and sends messages with the same FIFO deduplication ids.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout, retry
from pipeline.config import Config
from pipeline.report import LoadReport
from pipeline.run_store import Holder, HolderCheck, HolderState, Run, RunLockLostError, RunStore
from pipeline.runs import AccountingError, Counts, RunStatus, Stage, parse_run_date
from pipeline.staging import Manifest, StagedRecord, decode_lines, encode_lines

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)

# SQS takes at most 10 entries and 256 KiB of bodies per SendMessageBatch call.
SEND_BATCH_ENTRIES = 10
SEND_BATCH_BYTES = 256 * 1024
# Keep the item and the email readable: the full cause stays in the execution history.
MAX_CAUSE_CHARS = 2000
MAX_DETAIL_CHARS = 1000
_EXCEPTION_NAME = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception))\b")


class RunInputError(ValueError):
    """The execution input does not name a run date the pipeline can use."""


class ReportMissingError(Exception):
    """The load finished but its report is not where the layout says: nothing can be accounted for."""


class QueueSendError(Exception):
    """SQS refused some messages; the task is safe to retry (deduplication ids make re-sends no-ops)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the one timestamp format of the runs table."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- BeginRun -----------------------------------------------------------------------------------


def begin_run(
    store: RunStore, event: dict[str, Any], now: Clock = utc_now, holder_check: HolderCheck | None = None
) -> dict[str, Any]:
    """Claim the run date named by the execution input for this execution; return ``{"run": ...}``.

    ``holder_check`` tells whether the execution holding a RUNNING date still runs (``execution_holder``
    over Step Functions): a holder that stopped without releasing the date loses it to this run.
    """
    execution_input = event.get("input") or {}
    if "run_date" not in execution_input:
        raise RunInputError(
            'the execution input has no run_date: start the execution with {"run_date": "YYYY-MM-DD"}'
        )
    run = _run_for(parse_run_date(execution_input["run_date"]), execution_input, event, now)
    begun = iso(now())
    store.claim(run, {Stage.BEGIN.value: _stage(RunStatus.SUCCEEDED, run.started_at, begun)}, holder_check)
    return {"run": run.to_dict()}


# Statuses of an execution that may still write its date: it runs, or is about to run again (redrive).
_HOLDING_STATUSES = {"RUNNING", "PENDING_REDRIVE"}


def execution_holder(sfn: Any, execution_arn: str) -> Holder:
    """What Step Functions says of the execution holding a lock. Only ExecutionDoesNotExist (deleted, or
    its history expired) counts as ended without a status; any other error leaves it UNKNOWN."""
    try:
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ExecutionDoesNotExist":
            return Holder(HolderState.ENDED, "the execution does not exist")
        message = error.response["Error"].get("Message") or ""
        return Holder(HolderState.UNKNOWN, f"DescribeExecution answered {code}: {message}".rstrip(": "))
    if status in _HOLDING_STATUSES:
        return Holder(HolderState.RUNNING, status)
    return Holder(HolderState.ENDED, status)


def _run_for(run_date: date, execution_input: dict[str, Any], event: dict[str, Any], now: Clock) -> Run:
    arn = str(event["execution_arn"])
    started = event.get("started_at")
    return Run(
        run_id=layout.run_id_for(run_date, arn),
        run_date=run_date.isoformat(),
        execution_arn=arn,
        started_at=iso(datetime.fromisoformat(str(started).replace("Z", "+00:00")) if started else now()),
        force=_flag(execution_input.get("force", False)),
    )


def _flag(value: Any) -> bool:
    # The CLI sends a JSON boolean; a hand-written input may say "true".
    return value is True or str(value).strip().lower() in {"true", "1", "yes"}


# --- TrackResult --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedRecord:
    record: StagedRecord
    error: str


@dataclass(frozen=True)
class Routed:
    """Failed records after this run: back to the retry queue, or quarantined after too many attempts."""

    retry: list[StagedRecord]
    quarantine: list[StagedRecord]


def route_failed(failed: Iterable[FailedRecord], run_id: str, max_attempts: int) -> Routed:
    retry_records: list[StagedRecord] = []
    quarantined: list[StagedRecord] = []
    for item in failed:
        record = retry.next_attempt(item.record, run_id, item.error)
        (quarantined if record.origin.attempt >= max_attempts else retry_records).append(record)
    return Routed(retry_records, quarantined)


def read_failed(s3: Any, bucket: str, keys: Iterable[str]) -> list[FailedRecord]:
    """The records of the load's failed parts: each line a staged record plus the write error."""
    failed = []
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in decode_lines(body):
            data = json.loads(line)
            error = str(data.pop("error", "") or "unknown write error")
            failed.append(FailedRecord(StagedRecord.from_dict(data), error))
    return failed


def retry_messages(
    records: list[StagedRecord], run_id: str, bucket: str, s3: Any
) -> list[retry.OutgoingMessage]:
    """The messages that queue ``records``: packed inline, and the records too large for any message
    stored together under the run's retry payload key behind one pointer message."""
    inline = [r for r in records if retry.fits_inline(r)]
    oversize = [r for r in records if not retry.fits_inline(r)]
    messages = list(retry.pack(inline, run_id))
    if oversize:
        key = layout.retry_payload_key(run_id, 0)
        s3.put_object(Bucket=bucket, Key=key, Body=encode_lines(r.to_json() for r in oversize))
        messages.append(retry.pointer(run_id, 0, bucket, key, len(oversize)))
    return messages


def send_messages(sqs: Any, queue_url: str, messages: Iterable[retry.OutgoingMessage]) -> int:
    """Send FIFO messages in as few SendMessageBatch calls as the limits allow; return the records sent."""
    sent = 0
    for batch in _send_batches(list(messages)):
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message.body,
                    "MessageGroupId": message.group_id,
                    "MessageDeduplicationId": message.deduplication_id,
                }
                for index, message in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            problems = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in response["Failed"])
            raise QueueSendError(
                f"SQS refused {len(response['Failed'])} message(s) for {queue_url}: {problems}"
            )
        sent += sum(m.records for m in batch)
    return sent


def _send_batches(messages: list[retry.OutgoingMessage]) -> Iterable[list[retry.OutgoingMessage]]:
    batch: list[retry.OutgoingMessage] = []
    size = 0
    for message in messages:
        length = len(message.body.encode())
        if batch and (len(batch) == SEND_BATCH_ENTRIES or size + length > SEND_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += length
    if batch:
        yield batch


def quarantine(records: list[StagedRecord], run_id: str, config: Config, s3: Any, sqs: Any) -> str:
    """Keep records that ran out of attempts (or that SQS moved to the DLQ) in the run's durable quarantine
    object under ``tracking/quarantine/`` and announce it on the DLQ with one pointer message."""
    key = layout.quarantine_key(run_id)
    s3.put_object(Bucket=config.staging_bucket, Key=key, Body=encode_lines(r.to_json() for r in records))
    send_messages(
        sqs, config.retry_dlq_url, [retry.pointer(run_id, 0, config.staging_bucket, key, len(records))]
    )
    return key


# SQS adds this system attribute to the messages it moves to a dead-letter queue after maxReceiveCount;
# the quarantine announcements this module sends lack it.
REDRIVE_ATTRIBUTE = "DeadLetterQueueSourceArn"
MAX_REDRIVEN_MESSAGES = 1000


@dataclass(frozen=True)
class Redriven:
    """The DLQ messages SQS moved there after maxReceiveCount, as one TrackResult received them.

    ``records`` are the records of the readable ones; ``unreadable`` counts the others, each kept raw
    under the run's quarantine prefix and counted as one record; ``handles`` delete them all once the
    run is recorded. Kept at ``layout.redriven_key`` so a repeated TrackResult counts the same messages.
    """

    records: list[StagedRecord]
    unreadable: int
    handles: list[str]

    @property
    def count(self) -> int:
        return len(self.records) + self.unreadable

    def to_json(self) -> str:
        return json.dumps(
            {
                "records": [json.loads(r.to_json()) for r in self.records],
                "unreadable": self.unreadable,
                "handles": self.handles,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Redriven:
        data = json.loads(text)
        return cls(
            [StagedRecord.from_dict(r) for r in data["records"]], int(data["unreadable"]), data["handles"]
        )


def receive_redriven(config: Config, s3: Any, sqs: Any, run_id: str) -> Redriven:
    """Take the messages SQS redrove to the DLQ (those carrying DeadLetterQueueSourceArn), or what an
    earlier attempt of this TrackResult took. The DLQ's other messages (quarantine announcements) are
    made visible again at once; the redriven ones stay hidden for ``drain_visibility_seconds`` until
    ``delete_redriven`` removes them after the run is recorded."""
    bucket = config.staging_bucket
    kept = _get_optional(s3, bucket, layout.redriven_key(run_id))
    if kept is not None:
        return Redriven.from_json(kept)

    def fetch(payload_bucket: str, key: str) -> bytes:
        return s3.get_object(Bucket=payload_bucket, Key=key)["Body"].read()

    records: list[StagedRecord] = []
    unreadable = 0
    handles: list[str] = []
    announcements: list[str] = []
    # Receive as many messages as the DLQ shows, and no more: an empty DLQ (the usual night) costs no long
    # poll, and one that holds only announcements no last empty one. The count is approximate: a message
    # SQS moved moments ago may show only to the next run, which then counts it; none is lost or counted
    # twice.
    visible = int(
        sqs.get_queue_attributes(
            QueueUrl=config.retry_dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
    )
    try:
        while len(handles) + len(announcements) < min(visible, MAX_REDRIVEN_MESSAGES):
            messages = sqs.receive_message(
                QueueUrl=config.retry_dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=config.drain_visibility_seconds,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                if REDRIVE_ATTRIBUTE not in message.get("Attributes", {}):
                    announcements.append(message["ReceiptHandle"])
                    continue
                try:
                    records += retry.unpack(message["Body"], fetch)
                except retry.UnreadableMessageError as error:
                    retry.keep_unreadable(s3, bucket, run_id, "dlq", message, str(error))
                    unreadable += 1
                handles.append(message["ReceiptHandle"])
        redriven = Redriven(records, unreadable, handles)
        s3.put_object(Bucket=bucket, Key=layout.redriven_key(run_id), Body=redriven.to_json().encode())
    finally:
        for handle in announcements:
            sqs.change_message_visibility(
                QueueUrl=config.retry_dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
    return redriven


def delete_redriven(sqs: Any, queue_url: str, handles: list[str]) -> None:
    """Delete the redriven messages: their records are in the run's quarantine object and announcement.
    A handle SQS already deleted (a repeated TrackResult) is not an error."""
    for start in range(0, len(handles), 10):
        batch = handles[start : start + 10]
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(batch)]
        )
        refused = [f for f in answer.get("Failed", ()) if f.get("Code") != "ReceiptHandleIsInvalid"]
        if refused:
            problems = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in refused)
            raise QueueSendError(f"SQS refused to delete {len(refused)} redriven message(s): {problems}")


def quarantine_reasons(routed: Routed, redriven: Redriven, unreadable: int) -> dict[str, int]:
    """Why this run's records were quarantined: out of attempts, moved to the DLQ by SQS, unreadable."""
    reasons = {"max_attempts": len(routed.quarantine), "dlq": redriven.count, "unreadable": unreadable}
    return {reason: count for reason, count in reasons.items() if count}


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def track_result(
    config: Config, store: RunStore, s3: Any, sqs: Any, event: dict[str, Any], now: Clock = utc_now
) -> dict[str, Any]:
    """Account for every record of the run, route its failed records, and record the outcome.

    ``event`` is ``{"run": Run, "extract": the Extract result}``. Raises AccountingError (before anything
    is queued) when the report, the failed parts and the extract do not add up.
    """
    run = Run.from_dict(event["run"])
    extract = event.get("extract") or {}
    tracking_started = iso(now())
    item = store.get(run.run_date)
    if not item or item.get("execution_arn") != run.execution_arn:
        holder = (item or {}).get("execution_arn", "nobody")
        raise RunLockLostError(
            f"run for {run.run_date} belongs to execution {holder}, not {run.execution_arn}: "
            "its results were not recorded and nothing was queued"
        )
    staged = int(extract.get("staged_records", 0))
    extracted = int(extract.get("extracted", 0))
    retried_in = int(extract.get("retried_in", 0))

    report: LoadReport | None = None
    report_written: str | None = None
    routed = Routed([], [])
    if staged > 0:
        report, report_written = _read_report(s3, config.staging_bucket, run.run_id)
        if report.staged != staged:
            raise AccountingError(
                f"the load report of run {run.run_id} counts {report.staged} staged records but the extract "
                f"staged {staged}: records were lost or read twice between the stages"
            )
        failed = read_failed(s3, config.staging_bucket, report.failed_keys)
        if len(failed) != report.failed:
            raise AccountingError(
                f"the load report of run {run.run_id} counts {report.failed} failed records but its failed "
                f"parts hold {len(failed)}"
            )
        routed = route_failed(failed, run.run_id, config.max_attempts)

    # Received but never staged, so quarantined at once: messages SQS redrove to the DLQ, and unreadable
    # retry messages the extract kept raw (pipeline/runs.py explains why both sides of the identity count them).
    redriven = receive_redriven(config, s3, sqs, run.run_id)
    unreadable = int(extract.get("retry_messages_unreadable", 0))
    set_aside = redriven.count + unreadable
    counts = Counts(
        extracted=extracted,
        retried_in=retried_in + set_aside,
        loaded=report.loaded if report else 0,
        rejected=report.rejected if report else 0,
        queued_for_retry=len(routed.retry),
        quarantined=len(routed.quarantine) + set_aside,
        duplicates_dropped=report.duplicates_dropped if report else 0,
    ).check()
    status = counts.status()

    values: dict[str, Any] = {"counts": counts.as_dict(), "identity_ok": counts.balanced}
    values["quarantine_reasons"] = quarantine_reasons(routed, redriven, unreadable)
    if routed.quarantine or redriven.records:
        values["quarantine_key"] = quarantine(
            routed.quarantine + redriven.records, run.run_id, config, s3, sqs
        )
    if set_aside:
        values["quarantine_prefix"] = layout.quarantine_prefix(run.run_id)
    if routed.retry:
        send_messages(
            sqs, config.retry_queue_url, retry_messages(routed.retry, run.run_id, config.staging_bucket, s3)
        )
    values["retry_backlog"] = counts.queued_for_retry
    values["retry_backlog_messages"] = queue_depth(sqs, config.retry_queue_url)
    values["quarantine_total"] = store.quarantine_total_before(run.run_date) + counts.quarantined
    if report:
        # Reasons, examples and aggregates within RUN_ITEM_VALUES_BYTES (pipeline.budgets), however
        # long the rejected rows' fields or many the write errors and categories.
        values.update(report_key=layout.report_key(run.run_id), **report.run_values())
    extract_done = _last_modified(s3, config.staging_bucket, extract.get("manifest_key"))
    values["stages"] = _tracked_stages(
        item.get("stages") or {}, extract_done, report_written, tracking_started, now
    )
    store.finish(run, status, values, iso(now()))
    delete_redriven(sqs, config.retry_dlq_url, redriven.handles)
    return {
        "status": status.value,
        "run": run.to_dict(),
        "counts": counts.as_dict(),
        "identity_ok": counts.balanced,
        "report_key": values.get("report_key"),
        "retry_backlog": values["retry_backlog"],
        "retry_backlog_messages": values["retry_backlog_messages"],
        "quarantine_total": values["quarantine_total"],
        "quarantine_key": values.get("quarantine_key"),
        "quarantine_reasons": values["quarantine_reasons"],
    }


def _read_report(s3: Any, bucket: str, run_id: str) -> tuple[LoadReport, str]:
    key = layout.report_key(run_id)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"NoSuchKey", "404"}:
            raise
        raise ReportMissingError(
            f"the load of run {run_id} finished but s3://{bucket}/{key} does not exist: check the Glue job's "
            "log for this run, then re-run the date with --force"
        ) from None
    return LoadReport.from_json(response["Body"].read()), iso(response["LastModified"])


def _last_modified(s3: Any, bucket: str, key: str | None) -> str | None:
    if not key:
        return None
    try:
        return iso(s3.head_object(Bucket=bucket, Key=key)["LastModified"])
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"NoSuchKey", "404"}:
            raise
        return None


def _tracked_stages(
    recorded: dict[str, Any],
    extract_done: str | None,
    report_written: str | None,
    tracking_started: str,
    now: Clock,
) -> dict[str, Any]:
    begun = (recorded.get(Stage.BEGIN.value) or {}).get("finished_at")
    inferred = {
        Stage.EXTRACT.value: _stage(RunStatus.SUCCEEDED, begun, extract_done),
        Stage.LOAD.value: _stage(RunStatus.SUCCEEDED, extract_done, report_written)
        if report_written
        else _stage("SKIPPED"),
    }
    # What is already recorded wins: the extract's own stage, and a repeated TrackResult's first times.
    return {
        **inferred,
        Stage.TRACK.value: _stage(RunStatus.SUCCEEDED, tracking_started, iso(now())),
        **recorded,
    }


def _stage(status: str, started_at: str | None = None, finished_at: str | None = None) -> dict[str, Any]:
    return {"status": str(status), "started_at": started_at, "finished_at": finished_at}


# --- RecordFailure ------------------------------------------------------------------------------


def describe_failure(state: str, error: str, cause: str) -> dict[str, str]:
    """The failure as a person reads it: ``{state, error, cause, message}``.

    Lambda errors carry ``{"errorType", "errorMessage", "stackTrace"}`` in the cause, a Glue .sync
    failure the job run (with its ``ErrorMessage``), and Step Functions' own errors (States.Timeout,
    States.Runtime, ...) plain text or nothing.
    """
    parsed: Any = None
    try:
        parsed = json.loads(cause) if cause else None
    except ValueError:
        parsed = None
    name = error or "UnknownError"
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        name = str(parsed.get("errorType") or name)
        detail = f"{name}: {parsed['errorMessage']}"
    elif isinstance(parsed, dict) and "JobRunState" in parsed:
        run_state = str(parsed["JobRunState"])
        glue_message = str(parsed.get("ErrorMessage") or "the job run gave no error message")
        match = _EXCEPTION_NAME.match(glue_message)
        name = match.group(1) if match else f"GlueJob{run_state.title()}"
        detail = (
            f"the Glue job {parsed.get('JobName', '?')} (run {parsed.get('Id', '?')}) ended {run_state}: "
            f"{glue_message}"
        )
    elif error == "States.Timeout":
        detail = f"{name}: the state did not finish within its time limit" + (f" ({cause})" if cause else "")
    else:
        detail = f"{name}: {cause or 'Step Functions gave no cause'}"
    return {
        "state": state,
        "error": name,
        "cause": cause[:MAX_CAUSE_CHARS],
        "message": f"{state} failed: {_shorten(detail, MAX_DETAIL_CHARS)}",
    }


def record_failure(store: RunStore, event: dict[str, Any], now: Clock = utc_now) -> dict[str, Any]:
    """Record the run FAILED with its cause and release the lock; return what the notifier needs.

    ``event`` is ``{"state": the state machine's state at the failure, "execution_arn", "started_at"}``.
    The state is the execution input (``run_date``, ``force``) plus the results so far (``begin``,
    ``extract``, ``load``, ``result``), ``error`` ({Error, Cause}) and ``failed_state``. When BeginRun
    itself failed there is no run yet: it is derived from the input, and the item created if the date
    has none (a date held by another execution is left alone). ``recorded`` says whether the run was
    recorded FAILED; ``tracked`` that TrackResult had recorded its outcome first: the failure then went
    beside it (``notify_error``), the outcome and its status stay, and nothing may be requeued.
    """
    state = event.get("state") or {}
    failed_state = str(state.get("failed_state") or "unknown state")
    caught = state.get("error") or {}
    error = describe_failure(failed_state, str(caught.get("Error") or ""), str(caught.get("Cause") or ""))
    run, run_date_known = _failed_run(state, event, now)
    recorded = tracked = False
    status = RunStatus.FAILED.value
    if run_date_known:
        finished = iso(now())
        current = store.get(run.run_date)
        mine = current if current and current.get("execution_arn") == run.execution_arn else {}
        stages = _failed_stages(mine.get("stages") or {}, state, failed_state, finished)
        failure = store.fail(run, {"error": error, "stages": stages}, finished)
        recorded, tracked = failure.recorded, failure.tracked
        if tracked and failure.item:
            status = str(failure.item["status"])
    return {
        "run": run.to_dict(),
        "status": status,
        "error": error,
        "recorded": recorded,
        "tracked": tracked,
    }


def requeue_retried_after_failure(config: Config, s3: Any, sqs: Any, run_id: str) -> int:
    """Put back on the retry queue the retried records a failed run had drained.

    The extract deletes drained messages once its manifest is written, so from then on those records
    live only in this run's staging chunks. When the run fails after that, they go back unchanged (the
    failure was not theirs: their attempt count stays). A record the load had already written is simply
    upserted again next time; one queued twice is dropped as a duplicate then. Returns the records sent.

    Once per run: the messages' deduplication ids cover a repeat within SQS's five-minute window only,
    so a marker object (``requeued_marker_key``) remembers the requeue for a later caller (RecordFailure,
    then the execution's end event).
    """
    if not run_id:
        return 0
    marker = requeued_marker_key(run_id)
    if _get_optional(s3, config.staging_bucket, marker) is not None:
        return 0
    raw = _get_optional(s3, config.staging_bucket, layout.manifest_key(run_id))
    if raw is None:
        return 0
    manifest = Manifest.from_json(raw)
    if manifest.retried_in == 0:
        return 0
    records = [
        record
        for chunk in manifest.chunks
        for record in (
            StagedRecord.from_json(line)
            for line in decode_lines(
                s3.get_object(Bucket=config.staging_bucket, Key=chunk.key)["Body"].read()
            )
        )
        if record.origin.kind == "retry"
    ]
    messages = retry_messages(records, f"{run_id}-requeued", config.staging_bucket, s3)
    sent = send_messages(sqs, config.retry_queue_url, messages)
    body = json.dumps({"run_id": run_id, "records": sent}).encode()
    s3.put_object(Bucket=config.staging_bucket, Key=marker, Body=body)
    return sent


def requeued_marker_key(run_id: str) -> str:
    """Written once a failed run's drained retries are back on the queue."""
    return f"{layout.run_prefix(run_id)}requeued.json"


def _get_optional(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _failed_run(state: dict[str, Any], event: dict[str, Any], now: Clock) -> tuple[Run, bool]:
    begun = ((state.get("begin") or {}).get("value") or {}).get("run")
    if begun:
        return Run.from_dict(begun), True
    raw_date = state.get("run_date")
    try:
        run_date = parse_run_date(raw_date) if raw_date is not None else None
    except ValueError:
        run_date = None
    if run_date is None:
        arn = str(event.get("execution_arn", ""))
        started = iso(now())
        return Run(run_id="", run_date=str(raw_date or ""), execution_arn=arn, started_at=started), False
    return _run_for(run_date, state, event, now), True


_STAGE_RESULTS = {Stage.BEGIN: "begin", Stage.EXTRACT: "extract", Stage.LOAD: "load", Stage.TRACK: "result"}


def _failed_stages(
    recorded: dict[str, Any], state: dict[str, Any], failed_state: str, finished: str
) -> dict[str, Any]:
    stages = dict(recorded)
    previous_end = None
    for stage in Stage:
        if stage.value == failed_state:
            stages[stage.value] = _stage(RunStatus.FAILED, previous_end, finished)
            break
        if stage.value not in stages and _STAGE_RESULTS.get(stage, "") in state:
            stages[stage.value] = _stage(RunStatus.SUCCEEDED)
        previous_end = (stages.get(stage.value) or {}).get("finished_at") or previous_end
    return stages


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- etl requeue --------------------------------------------------------------------------------


def requeue_quarantined(
    config: Config, s3: Any, sqs: Any, run_id: str | None = None, wait_seconds: int = 1
) -> int:
    """Move quarantined records from the DLQ back onto the retry queue with their attempts reset to 0.

    Takes every DLQ message (or only those of ``run_id``): quarantine announcements, which point at the
    run's object under ``tracking/quarantine/``, and messages SQS redrove that no run has counted yet.
    Each is re-queued under an id derived from its DLQ message id, so a requeue that stops half-way and
    is run again sends nothing twice; the DLQ message is deleted once its records are queued. A message
    whose records cannot be read is left on the DLQ (and logged): it needs a person, not a retry.

    The quarantine object outlives its announcement (the DLQ keeps a message 14 days, the object is kept
    for months): with ``run_id`` and no announcement of that run left on the DLQ, the records are read
    from the object itself. A marker next to the object (``layout.requeued_quarantine_key``) records that
    a run's quarantine was requeued, by either way, so it is never requeued twice.
    Returns the number of records requeued.
    """
    requeued = 0
    announced = False
    skipped: list[str] = []

    def fetch(bucket: str, key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    try:
        while True:
            messages = sqs.receive_message(
                QueueUrl=config.retry_dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=300,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                body = message["Body"]
                if run_id is not None and _message_run_id(body) != run_id:
                    skipped.append(message["ReceiptHandle"])
                    continue
                announced = True
                if _requeued_before(s3, config.staging_bucket, body):
                    # Its records went back from the quarantine object while this message was in flight.
                    sqs.delete_message(QueueUrl=config.retry_dlq_url, ReceiptHandle=message["ReceiptHandle"])
                    continue
                try:
                    records = [
                        replace(r, origin=replace(r.origin, attempt=0)) for r in retry.unpack(body, fetch)
                    ]
                except retry.UnreadableMessageError as error:
                    logger.warning(
                        "a DLQ message cannot be requeued: its records cannot be read",
                        extra={"message_id": message["MessageId"], "error": str(error)},
                    )
                    skipped.append(message["ReceiptHandle"])
                    continue
                batch_id = f"requeue-{message['MessageId']}"
                send_messages(
                    sqs, config.retry_queue_url, retry_messages(records, batch_id, config.staging_bucket, s3)
                )
                _mark_requeued(s3, config.staging_bucket, body, len(records))
                sqs.delete_message(QueueUrl=config.retry_dlq_url, ReceiptHandle=message["ReceiptHandle"])
                requeued += len(records)
        if run_id is not None and not announced:
            requeued += _requeue_from_quarantine(config, s3, sqs, run_id)
    finally:
        # Messages of other runs, and unreadable ones, were only looked at: make them visible again at once.
        for handle in skipped:
            sqs.change_message_visibility(
                QueueUrl=config.retry_dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
    return requeued


def _announced_run(body: str) -> str | None:
    """The run whose quarantine object the message announces, if it is such an announcement."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s3"), dict):
        return None
    run_id = data.get("run_id")
    return (
        run_id if isinstance(run_id, str) and data["s3"].get("key") == layout.quarantine_key(run_id) else None
    )


def _requeued_before(s3: Any, bucket: str, body: str) -> bool:
    run_id = _announced_run(body)
    return (
        run_id is not None and _get_optional(s3, bucket, layout.requeued_quarantine_key(run_id)) is not None
    )


def _mark_requeued(s3: Any, bucket: str, body: str, records: int) -> None:
    """When the message announced a run's quarantine object, note next to it that it was requeued."""
    run_id = _announced_run(body)
    if run_id is not None:
        marker = {"run_id": run_id, "records": records, "from": "dlq"}
        s3.put_object(
            Bucket=bucket, Key=layout.requeued_quarantine_key(run_id), Body=json.dumps(marker).encode()
        )


def _requeue_from_quarantine(config: Config, s3: Any, sqs: Any, run_id: str) -> int:
    bucket = config.staging_bucket
    if _get_optional(s3, bucket, layout.requeued_quarantine_key(run_id)) is not None:
        return 0
    kept = _get_optional(s3, bucket, layout.quarantine_key(run_id))
    if kept is None:
        return 0
    records = [
        replace(r, origin=replace(r.origin, attempt=0)) for r in map(retry.parse_record, decode_lines(kept))
    ]
    send_messages(
        sqs, config.retry_queue_url, retry_messages(records, f"requeue-{run_id}-quarantine", bucket, s3)
    )
    marker = {"run_id": run_id, "records": len(records), "from": "s3"}
    s3.put_object(Bucket=bucket, Key=layout.requeued_quarantine_key(run_id), Body=json.dumps(marker).encode())
    return len(records)


def _message_run_id(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("run_id") if isinstance(data, dict) else None
