"""Retry queue messages: failed records packed into SQS messages, or pointers to S3 when they would not fit.

The queue is FIFO: every message carries a deduplication id derived from the run and its batch number,
so a TrackResult that runs twice does not queue its records twice. Each message is its own message group:
records need no delivery order (Origin.version decides which version wins), and a FIFO queue hands out
nothing more from a group while one of its messages is in flight — one group per run would let a run drain
only ten messages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from pipeline.staging import StagedRecord, decode_lines

FORMAT_VERSION = 1
# SQS allows 256 KiB per message; stay well under it for the envelope and attributes.
MAX_MESSAGE_BYTES = 200 * 1024
# Room kept in a message for the JSON envelope around the records.
_ENVELOPE_BYTES = 512


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    deduplication_id: str
    group_id: str
    records: int


def next_attempt(record: StagedRecord, run_id: str, error: str) -> StagedRecord:
    """The record as it goes back to the queue after failing to load in ``run_id``."""
    origin = record.origin
    return StagedRecord(
        raw=record.raw,
        origin=replace(
            origin,
            kind="retry",
            attempt=origin.attempt + 1,
            first_failed_run=origin.first_failed_run or run_id,
            last_error=error[:500],
        ),
    )


def fits_inline(record: StagedRecord, max_bytes: int = MAX_MESSAGE_BYTES) -> bool:
    """Whether ``pack`` can carry the record; a larger one must be stored in S3 behind a ``pointer``."""
    return len(record.to_json().encode()) <= max_bytes - _ENVELOPE_BYTES


def pack(
    records: Iterable[StagedRecord], run_id: str, max_bytes: int = MAX_MESSAGE_BYTES
) -> Iterator[OutgoingMessage]:
    """Pack records into as few messages as fit under ``max_bytes`` each."""
    batch: list[str] = []
    size = 0
    index = 0
    for record in records:
        line = record.to_json()
        if len(line.encode()) > max_bytes - _ENVELOPE_BYTES:
            raise ValueError(
                f"one record is larger than a message ({len(line)} bytes): store it with pointer()"
            )
        if batch and size + len(line.encode()) + 1 > max_bytes - _ENVELOPE_BYTES:
            yield _message(run_id, index, batch)
            index += 1
            batch, size = [], 0
        batch.append(line)
        size += len(line.encode()) + 1
    if batch:
        yield _message(run_id, index, batch)


def pointer(run_id: str, index: int, bucket: str, key: str, records: int) -> OutgoingMessage:
    """A message that points at records kept in S3 (for batches too big to queue inline)."""
    body = json.dumps(
        {"v": FORMAT_VERSION, "run_id": run_id, "s3": {"bucket": bucket, "key": key}, "count": records}
    )
    part = f"s3-{index}"
    return OutgoingMessage(body, _dedup_id(run_id, part), _group(run_id, part), records)


def unpack(body: str, fetch: Callable[[str, str], bytes]) -> list[StagedRecord]:
    """The records of a message; ``fetch(bucket, key)`` reads a pointer's payload from S3."""
    data = json.loads(body)
    if data.get("v") != FORMAT_VERSION:
        raise ValueError(f"unknown retry message format {data.get('v')!r}")
    if "s3" in data:
        payload = fetch(data["s3"]["bucket"], data["s3"]["key"])
        return [StagedRecord.from_json(line) for line in decode_lines(payload)]
    return [StagedRecord.from_dict(item) for item in data["records"]]


def _message(run_id: str, index: int, lines: list[str]) -> OutgoingMessage:
    body = f'{{"v":{FORMAT_VERSION},"run_id":{json.dumps(run_id)},"records":[{",".join(lines)}]}}'
    return OutgoingMessage(body, _dedup_id(run_id, str(index)), _group(run_id, str(index)), len(lines))


def _dedup_id(run_id: str, part: str) -> str:
    return hashlib.sha256(f"{run_id}/{part}".encode()).hexdigest()[:64]


def _group(run_id: str, part: str) -> str:
    return f"{run_id}/{part}"[:128]
