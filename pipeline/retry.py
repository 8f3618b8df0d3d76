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
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.staging import Origin, StagedRecord, decode_lines

FORMAT_VERSION = 1
# SQS allows 256 KiB per message; stay well under it for the envelope and attributes.
MAX_MESSAGE_BYTES = 200 * 1024
# Room kept in a message for the JSON envelope around the records.
_ENVELOPE_BYTES = 512


class UnreadableMessageError(ValueError):
    """A retry message whose records cannot be read: it is quarantined with its raw body, never retried."""


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
    """The records of a message; ``fetch(bucket, key)`` reads a pointer's payload from S3.

    Anything that is not a message this module wrote (not JSON, another format version, a pointer whose
    object is gone or corrupt, a record of the wrong shape) raises UnreadableMessageError naming what is
    wrong, so that one bad message is set aside instead of failing the run that receives it.
    """
    try:
        data = json.loads(body)
    except ValueError as error:
        raise UnreadableMessageError(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise UnreadableMessageError(f"the body is a JSON {type(data).__name__}, not an object")
    if data.get("v") != FORMAT_VERSION:
        raise UnreadableMessageError(f"unknown retry message format {data.get('v')!r}")
    if "s3" in data:
        return [parse_record(item) for item in _pointer_lines(data["s3"], fetch)]
    items = data.get("records")
    if not isinstance(items, list):
        raise UnreadableMessageError("the message has neither a records list nor an s3 pointer")
    return [parse_record(item) for item in items]


_ORIGIN_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "source": (str,),
    "line": (int,),
    "file_index": (int,),
    "attempt": (int,),
    "first_failed_run": (str, type(None)),
    "last_error": (str, type(None)),
}
_REQUIRED_ORIGIN = {"kind", "source", "line"}


def parse_record(item: Any) -> StagedRecord:
    """A queued record, checked field by field: a retry record with a raw row of column → text."""
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError as error:
            raise UnreadableMessageError(f"a record line is not JSON: {error}") from None
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("raw"), dict)
        or not isinstance(item.get("origin"), dict)
    ):
        raise UnreadableMessageError(f"a record is not an object with raw and origin: {str(item)[:200]}")
    raw, origin = item["raw"], item["origin"]
    if not all(isinstance(k, str) and (v is None or isinstance(v, str | list)) for k, v in raw.items()):
        raise UnreadableMessageError("a record's raw row holds values that are not text")
    unknown = set(origin) - set(_ORIGIN_TYPES)
    missing = _REQUIRED_ORIGIN - set(origin)
    wrong = [
        name
        for name, value in origin.items()
        if name in _ORIGIN_TYPES and (not isinstance(value, _ORIGIN_TYPES[name]) or isinstance(value, bool))
    ]
    if unknown or missing or wrong:
        raise UnreadableMessageError(
            f"a record's origin is malformed (unknown {sorted(unknown)}, missing {sorted(missing)}, "
            f"wrong type {sorted(wrong)})"
        )
    if origin["kind"] != "retry" or origin.get("attempt", 0) < 0:
        raise UnreadableMessageError(
            f"a queued record must be a retry with attempt >= 0, got kind {origin['kind']!r}, "
            f"attempt {origin.get('attempt', 0)!r}"
        )
    return StagedRecord(raw=raw, origin=Origin(**origin))


def _pointer_lines(where: Any, fetch: Callable[[str, str], bytes]) -> list[str]:
    if (
        not isinstance(where, dict)
        or not isinstance(where.get("bucket"), str)
        or not isinstance(where.get("key"), str)
    ):
        raise UnreadableMessageError(f"the s3 pointer is not {{bucket, key}}: {str(where)[:200]}")
    try:
        payload = fetch(where["bucket"], where["key"])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise UnreadableMessageError(
            f"the pointer's payload s3://{where['bucket']}/{where['key']} cannot be read ({code})"
        ) from None
    try:
        return list(decode_lines(payload))
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise UnreadableMessageError(
            f"the pointer's payload s3://{where['bucket']}/{where['key']} is not gzip JSON lines: {error}"
        ) from None


def keep_unreadable(
    s3: Any, bucket: str, run_id: str, source: str, message: dict[str, Any], error: str
) -> str:
    """Quarantine an unreadable message as it came (body, attributes, parse error) under the durable
    quarantine prefix; the key is derived from the run and the message id, so a repeat writes the same
    object. ``source`` is the queue it was received from: ``retry`` or ``dlq``."""
    key = layout.unreadable_key(run_id, source, message["MessageId"])
    document = {
        "run_id": run_id,
        "source": source,
        "message_id": message["MessageId"],
        "attributes": message.get("Attributes", {}),
        "message_attributes": message.get("MessageAttributes", {}),
        "error": error,
        "body": message["Body"],
    }
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(document, indent=1).encode(), ContentType="application/json"
    )
    return key


def _message(run_id: str, index: int, lines: list[str]) -> OutgoingMessage:
    body = f'{{"v":{FORMAT_VERSION},"run_id":{json.dumps(run_id)},"records":[{",".join(lines)}]}}'
    return OutgoingMessage(body, _dedup_id(run_id, str(index)), _group(run_id, str(index)), len(lines))


def _dedup_id(run_id: str, part: str) -> str:
    return hashlib.sha256(f"{run_id}/{part}".encode()).hexdigest()[:64]


def _group(run_id: str, part: str) -> str:
    return f"{run_id}/{part}"[:128]
