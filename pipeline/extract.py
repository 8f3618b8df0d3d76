"""The Extract step: the day's order files and the retry queue, staged as chunks plus a manifest.

Order of work, each step safe to repeat when Lambda or Step Functions runs the extract again for the same
run id:

1. Drain the retry queue into ``runs/<id>/drained/`` (records and receipt handles), or reuse what an
   earlier attempt drained. A message is never received twice by one run, so no record is staged twice.
2. Check the catalog and copy it to ``runs/<id>/catalog.csv``.
3. Stream the order files and the drained records through bounded chunks; chunk keys come from the run
   id, so a repeat overwrites the same objects.
4. Write the manifest last: the load reads only the chunks it lists.
5. Delete the drained messages. Until then they stay in flight, and a run that dies before its manifest
   leaves them to come back to a later run.

A message whose records cannot be read (retry.UnreadableMessageError) is quarantined as it came: its raw
body, attributes and parse error go to ``tracking/quarantine/<run_id>/unreadable/`` during the drain, and
it is deleted with the others; TrackResult counts it (one record, reason ``unreadable``). It never fails
the extract nor stays in flight until SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from itertools import chain
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.budgets import EXTRACT_RESULT_BYTES, BudgetError, utf8_size
from pipeline.config import DEFAULT_DRAIN_VISIBILITY_SECONDS, MAX_VISIBILITY_SECONDS, Config
from pipeline.contract import CATALOG_COLUMNS, ORDER_COLUMNS
from pipeline.retry import UnreadableMessageError, keep_unreadable, unpack
from pipeline.sources import (
    CatalogMissingError,
    CsvStream,
    Opener,
    SourceFile,
    open_catalog,
    order_files,
    read_catalog,
)
from pipeline.staging import (
    Chunk,
    Manifest,
    Origin,
    SourceStats,
    StagedRecord,
    chunked,
    decode_lines,
    encode_lines,
)

logger = logging.getLogger(__name__)

CRASH_FAULT = "extract-crash-after-chunks"
SQS_BATCH = 10


class SimulatedCrash(RuntimeError):
    """Raised by the EXTRACT_CRASH_AFTER_CHUNKS fault hook on a run's first attempt only."""


@dataclass(frozen=True)
class RunRef:
    """The part of BeginRun's answer the extract needs."""

    run_id: str
    run_date: str

    @classmethod
    def from_payload(cls, run: Mapping[str, Any]) -> RunRef:
        missing = [name for name in ("run_id", "run_date") if not run.get(name)]
        if missing:
            raise ValueError(
                f"the Extract payload's run lacks {', '.join(missing)}: "
                'the state machine must pass {"run": <BeginRun result.run>}'
            )
        return cls(str(run["run_id"]), str(run["run_date"]))


@dataclass(frozen=True)
class DrainPolicy:
    """How the retry queue is drained.

    The visibility timeout must cover every attempt Step Functions may make at the extract (each attempt
    at its TimeoutSeconds, plus every retry's longest wait), so the receipt handles kept in S3 still
    delete the messages after a re-run: ``for_config`` takes it from ``Config.drain_visibility_seconds``,
    which Terraform computes from the state machine's Extract state (see pipeline/config.py).
    """

    max_messages: int = 1000
    wait_seconds: int = 1
    visibility_seconds: int = DEFAULT_DRAIN_VISIBILITY_SECONDS

    def __post_init__(self) -> None:
        if not 0 <= self.visibility_seconds <= MAX_VISIBILITY_SECONDS:
            raise ValueError(
                f"a drain's visibility timeout must be within 0..{MAX_VISIBILITY_SECONDS} s (SQS's maximum), "
                f"got {self.visibility_seconds}"
            )

    @classmethod
    def for_config(cls, config: Config) -> DrainPolicy:
        return cls(visibility_seconds=config.drain_visibility_seconds)


@dataclass(frozen=True)
class Drained:
    batch_keys: list[str]
    messages: int
    unreadable: int  # quarantined with their raw bodies, deleted with the others once the manifest is written
    reused: bool  # an earlier attempt of this run drained them


@dataclass(frozen=True)
class ExtractResult:
    """The Extract state's output: counts and keys only, the same size whatever the number of files,
    chunks or rows (rows never travel through Step Functions, and the per-file figures are in the
    manifest at ``manifest_key``: a state payload over 256 KiB fails the execution uncatchably)."""

    run_id: str
    run_date: str
    manifest_key: str
    orders_source: str
    extracted: int
    retried_in: int
    chunks: int
    files: int = 0  # order files read; their names, rows and bytes are the manifest's ``sources``
    catalog_key: str | None = None
    retry_messages: int = 0
    retry_messages_unreadable: int = 0
    retry_messages_not_deleted: int = 0
    retry_drain_reused: bool = False

    @property
    def staged_records(self) -> int:
        return self.extracted + self.retried_in

    def as_dict(self) -> dict[str, Any]:
        """The answer, refused with a clear error (which the state machine catches) if it ever outgrew
        ``EXTRACT_RESULT_BYTES``."""
        answer = {**asdict(self), "staged_records": self.staged_records}
        size = utf8_size(json.dumps(answer, ensure_ascii=False, separators=(",", ":")))
        if size > EXTRACT_RESULT_BYTES:
            raise BudgetError(
                f"the Extract answer of run {self.run_id} is {size:,} bytes, over its budget of "
                f"{EXTRACT_RESULT_BYTES:,}: check the configured orders source and catalog names"
            )
        return answer


def extract_run(
    config: Config,
    s3: Any,
    sqs: Any,
    run: Mapping[str, Any],
    *,
    open_url: Opener | None = None,
    drain: DrainPolicy | None = None,
) -> ExtractResult:
    """Stage the run's records (today's files + drained retries) and write its manifest."""
    ref = RunRef.from_payload(run)
    bucket = config.staging_bucket
    drained = drain_retry_queue(config, s3, sqs, ref.run_id, drain or DrainPolicy.for_config(config))
    catalog_key = stage_catalog(config, s3, ref.run_id, open_url)

    orders_source = config.orders_source_for(ref.run_date)
    files = order_files(orders_source, s3, open_url)
    sources: list[SourceStats] = []
    handles: list[str] = []
    counts = {"file": 0, "retry": 0}

    def counted(records: Iterable[StagedRecord]) -> Iterator[StagedRecord]:
        for record in records:
            counts[record.origin.kind] += 1
            yield record

    records = counted(
        chain(_file_records(files, sources), _drained_records(s3, bucket, drained.batch_keys, handles))
    )
    first = next(records, None)
    if first is not None and catalog_key is None:
        raise CatalogMissingError(
            f"there are orders to load but no product catalog at {config.catalog}: "
            "upload the catalog (CSV with product_id, name, category, unit_price) and re-run the day"
        )

    staged = chain([first], records) if first is not None else iter(())
    chunks = write_chunks(config, s3, ref.run_id, staged)
    manifest = Manifest(
        run_id=ref.run_id,
        run_date=ref.run_date,
        chunks=chunks,
        sources=sources,
        catalog_key=catalog_key,
        extracted=counts["file"],
        retried_in=counts["retry"],
    )
    manifest_key = layout.manifest_key(ref.run_id)
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=manifest.to_json(), ContentType="application/json")

    not_deleted = delete_messages(sqs, config.retry_queue_url, handles)
    return ExtractResult(
        run_id=ref.run_id,
        run_date=ref.run_date,
        manifest_key=manifest_key,
        orders_source=orders_source,
        extracted=manifest.extracted,
        retried_in=manifest.retried_in,
        chunks=len(chunks),
        files=len(manifest.sources),
        catalog_key=catalog_key,
        retry_messages=drained.messages,
        retry_messages_unreadable=drained.unreadable,
        retry_messages_not_deleted=not_deleted,
        retry_drain_reused=drained.reused,
    )


def write_chunks(config: Config, s3: Any, run_id: str, records: Iterable[StagedRecord]) -> list[Chunk]:
    """Write records as gzip JSON-lines chunks of at most ``config.chunk_rows``, each as soon as it fills."""
    chunks: list[Chunk] = []
    for index, lines in enumerate(chunked(records, config.chunk_rows)):
        key = layout.staging_chunk_key(run_id, index)
        body = encode_lines(lines)
        s3.put_object(Bucket=config.staging_bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        chunks.append(Chunk(key, len(lines), len(body)))
        if len(chunks) == config.extract_crash_after_chunks:
            _crash_once(s3, config.staging_bucket, run_id, len(chunks))
    return chunks


def stage_catalog(config: Config, s3: Any, run_id: str, open_url: Opener | None = None) -> str | None:
    """Check the catalog and copy it, normalized, under the run; None when there is no catalog."""
    stream = open_catalog(config.catalog, s3, open_url)
    if stream is None:
        return None
    with stream:
        products = read_catalog(stream, config.catalog)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    writer.writerows((p.product_id, p.name, p.category, str(p.unit_price)) for p in products)
    key = layout.staged_catalog_key(run_id)
    s3.put_object(
        Bucket=config.staging_bucket, Key=key, Body=text.getvalue().encode(), ContentType="text/csv"
    )
    return key


def drain_retry_queue(config: Config, s3: Any, sqs: Any, run_id: str, policy: DrainPolicy) -> Drained:
    """Receive the retry queue's messages into S3 batches, or reuse an earlier attempt's batches.

    A FIFO queue hands out no more messages of a group while some are in flight, so one run takes at
    most one receive's worth of each group; the rest stay queued for the next run, none is lost.
    """
    bucket = config.staging_bucket
    complete = _get_json(s3, bucket, layout.drained_complete_key(run_id))
    if complete is not None:
        return Drained(complete["batch_keys"], complete["messages"], complete["unreadable"], reused=True)

    prefix = layout.drained_batch_key(run_id, 0).rsplit("/", 1)[0] + "/"
    earlier = sorted(
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", ())
        if item["Key"].endswith(".jsonl.gz")
    )
    if earlier:
        # An attempt died mid-drain: keep what it persisted; what it received after that is still in
        # flight and comes back to a later run.
        lines = [json.loads(line) for key in earlier for line in decode_lines(_get_bytes(s3, bucket, key))]
        unreadable = sum(1 for line in lines if line.get("unreadable"))
        drained = Drained(earlier, len(lines) - unreadable, unreadable, reused=True)
    else:
        drained = _receive_batches(config, s3, sqs, run_id, policy)
    s3.put_object(
        Bucket=bucket,
        Key=layout.drained_complete_key(run_id),
        Body=json.dumps(
            {"batch_keys": drained.batch_keys, "messages": drained.messages, "unreadable": drained.unreadable}
        ),
        ContentType="application/json",
    )
    return drained


def delete_messages(sqs: Any, queue_url: str, handles: list[str]) -> int:
    """Delete drained messages; the number that could not be deleted (they will come back) is returned."""
    failed = 0
    for start in range(0, len(handles), SQS_BATCH):
        batch = handles[start : start + SQS_BATCH]
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(batch)],
        )
        for failure in answer.get("Failed", ()):
            failed += 1
            logger.warning(
                "retry message not deleted: it will be received again by a later run",
                extra={"code": failure.get("Code"), "detail": failure.get("Message")},
            )
    return failed


def _receive_batches(config: Config, s3: Any, sqs: Any, run_id: str, policy: DrainPolicy) -> Drained:
    bucket = config.staging_bucket

    def fetch(payload_bucket: str, key: str) -> bytes:
        return _get_bytes(s3, payload_bucket, key)

    keys: list[str] = []
    messages = unreadable = 0
    while messages + unreadable < policy.max_messages:
        answer = sqs.receive_message(
            QueueUrl=config.retry_queue_url,
            MaxNumberOfMessages=min(SQS_BATCH, policy.max_messages - messages - unreadable),
            WaitTimeSeconds=policy.wait_seconds,
            VisibilityTimeout=policy.visibility_seconds,
            MessageSystemAttributeNames=["All"],
        )
        received = answer.get("Messages", [])
        if not received:
            break
        lines = []
        for message in received:
            envelope = {"message_id": message["MessageId"], "receipt_handle": message["ReceiptHandle"]}
            try:
                records = unpack(message["Body"], fetch)
            except UnreadableMessageError as error:
                unreadable += 1
                key = keep_unreadable(s3, bucket, run_id, "retry", message, str(error))
                logger.error(
                    "unreadable retry message quarantined with its raw body",
                    extra={"message_id": message["MessageId"], "error": str(error), "key": key},
                )
                lines.append(json.dumps({**envelope, "records": [], "unreadable": key}))
                continue
            messages += 1
            head = json.dumps(envelope)
            lines.append(f'{head[:-1]},"records":[{",".join(r.to_json() for r in records)}]}}')
        key = layout.drained_batch_key(run_id, len(keys))
        s3.put_object(Bucket=bucket, Key=key, Body=encode_lines(lines))
        keys.append(key)
    return Drained(keys, messages, unreadable, reused=False)


def _file_records(files: list[SourceFile], sources: list[SourceStats]) -> Iterator[StagedRecord]:
    for file in files:
        with file.open() as stream:
            rows = CsvStream(stream, file.uri, ORDER_COLUMNS)
            for line, raw in enumerate(rows, start=1):
                yield StagedRecord(raw, Origin("file", file.uri, line, file.index))
        sources.append(SourceStats(file.uri, rows.rows, rows.bytes_read))


def _drained_records(
    s3: Any, bucket: str, batch_keys: list[str], handles: list[str]
) -> Iterator[StagedRecord]:
    for key in batch_keys:
        for line in decode_lines(_get_bytes(s3, bucket, key)):
            message = json.loads(line)
            handles.append(message["receipt_handle"])
            for record in message["records"]:
                yield StagedRecord.from_dict(record)


def _crash_once(s3: Any, bucket: str, run_id: str, after: int) -> None:
    marker = layout.fault_marker_key(run_id, CRASH_FAULT)
    if _get_bytes(s3, bucket, marker, missing_ok=True) is not None:
        return
    s3.put_object(Bucket=bucket, Key=marker, Body=b"fired")
    raise SimulatedCrash(
        f"simulated crash after {after} chunk(s) of run {run_id} (EXTRACT_CRASH_AFTER_CHUNKS={after}); "
        "the next attempt of this run proceeds normally"
    )


def _get_bytes(s3: Any, bucket: str, key: str, missing_ok: bool = False) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if missing_ok and error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise


def _get_json(s3: Any, bucket: str, key: str) -> Any:
    body = _get_bytes(s3, bucket, key, missing_ok=True)
    return None if body is None else json.loads(body)
