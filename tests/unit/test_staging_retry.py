import gzip
import json

import pytest
from botocore.exceptions import ClientError

from pipeline import retry
from pipeline.staging import Chunk, Manifest, Origin, StagedRecord, chunked, decode_lines, encode_lines


def record(n: int, kind="file", **origin) -> StagedRecord:
    return StagedRecord({"order_id": f"O-{n}", "amount": "1.00"}, Origin(kind, "s3://b/k.csv", n, **origin))


def test_a_fresh_row_is_newer_than_a_retry_and_later_lines_are_newer():
    retried = Origin("retry", "run-1", 9, attempt=1, first_failed_run="2026-11-21-a")
    fresh_early = Origin("file", "s3://b/a.csv", 1)
    fresh_late = Origin("file", "s3://b/a.csv", 2)
    second_file = Origin("file", "s3://b/b.csv", 1, file_index=1)
    assert sorted([fresh_late, retried, second_file, fresh_early], key=Origin.version) == [
        retried,
        fresh_early,
        fresh_late,
        second_file,
    ]


def test_records_survive_the_json_line_round_trip():
    original = StagedRecord({"order_id": "Ü-1", "x": None, "_extra": ["a"]}, Origin("file", "s3://b/k", 4))
    assert StagedRecord.from_json(original.to_json()) == original


def test_chunks_are_bounded_by_records_and_bytes():
    records = [record(n) for n in range(7)]
    assert [len(c) for c in chunked(records, max_records=3)] == [3, 3, 1]
    one_line = len(records[0].to_json()) + 1
    assert [len(c) for c in chunked(records, max_records=100, max_bytes=one_line * 2)] == [2, 2, 2, 1]


def test_gzip_lines_are_deterministic_and_round_trip():
    lines = [record(n).to_json() for n in range(3)]
    assert encode_lines(lines) == encode_lines(lines)
    assert [line.rstrip("\n") for line in decode_lines(encode_lines(lines))] == lines


def test_gzip_lines_round_trip_across_write_groups_and_from_an_iterator():
    lines = [record(n).to_json() for n in range(2_345)] + ['{"raw":{"customer":"Zoë Ó"}}']

    encoded = encode_lines(iter(lines))

    assert gzip.decompress(encoded).decode("utf-8") == "".join(f"{line}\n" for line in lines)
    assert [line.rstrip("\n") for line in decode_lines(encoded)] == lines
    assert encode_lines([]) == encode_lines(iter(()))
    assert list(decode_lines(encode_lines([]))) == []


def test_a_record_line_names_every_origin_field():
    origin = Origin(
        "retry", "2026-11-21-ab", 5, 2, attempt=1, first_failed_run="2026-11-21-ab", last_error="x"
    )

    line = json.loads(StagedRecord({"order_id": "A"}, origin).to_json())

    assert line["origin"] == {
        "kind": "retry",
        "source": "2026-11-21-ab",
        "line": 5,
        "file_index": 2,
        "attempt": 1,
        "first_failed_run": "2026-11-21-ab",
        "last_error": "x",
    }


def test_the_manifest_round_trips():
    manifest = Manifest("R", "2026-11-22", [Chunk("k", 3, 100)], extracted=2, retried_in=1, catalog_key="c")
    back = Manifest.from_json(manifest.to_json())
    assert back == manifest
    assert back.staged_records == 3


def test_a_failed_record_goes_back_with_its_attempt_and_first_failure():
    once = retry.next_attempt(record(1), "run-A", "ProvisionedThroughputExceeded")
    twice = retry.next_attempt(once, "run-B", "again")
    assert (once.origin.kind, once.origin.attempt, once.origin.first_failed_run) == ("retry", 1, "run-A")
    assert (twice.origin.attempt, twice.origin.first_failed_run, twice.origin.last_error) == (
        2,
        "run-A",
        "again",
    )


def test_packing_keeps_every_record_and_each_message_under_the_limit():
    records = [
        StagedRecord({"order_id": str(n), "pad": "x" * 900}, Origin("retry", "r", n)) for n in range(600)
    ]
    messages = list(retry.pack(records, "run-A", max_bytes=100_000))
    assert all(len(m.body.encode()) < 100_000 for m in messages)
    assert sum(m.records for m in messages) == 600
    assert [r.raw["order_id"] for m in messages for r in retry.unpack(m.body, fetch=None)] == [
        str(n) for n in range(600)
    ]
    assert len({m.deduplication_id for m in messages}) == len(messages)
    assert len({m.group_id for m in messages}) == len(messages)


def test_packing_is_deterministic_so_a_resend_is_deduplicated():
    records = [record(n) for n in range(5)]
    first = [m.deduplication_id for m in retry.pack(records, "run-A")]
    assert first == [m.deduplication_id for m in retry.pack(records, "run-A")]
    assert first != [m.deduplication_id for m in retry.pack(records, "run-B")]


def test_a_pointer_message_reads_its_records_from_s3():
    lines = [record(n, kind="retry", attempt=1).to_json() for n in range(3)]
    message = retry.pointer("run-A", 0, "bucket", "tracking/retry/run-A/batch-00000.jsonl.gz", 3)
    fetched = []

    def fetch(bucket, key):
        fetched.append((bucket, key))
        return encode_lines(lines)

    assert [r.raw["order_id"] for r in retry.unpack(message.body, fetch)] == ["O-0", "O-1", "O-2"]
    assert fetched == [("bucket", "tracking/retry/run-A/batch-00000.jsonl.gz")]


def test_an_unknown_message_format_is_refused():
    with pytest.raises(retry.UnreadableMessageError, match="unknown retry message format 99"):
        retry.unpack('{"v": 99}', fetch=None)


def _inline(*items) -> str:
    return json.dumps({"v": 1, "run_id": "r", "records": list(items)})


def _retry_origin(**fields) -> dict:
    return {"kind": "retry", "source": "s3://b/k.csv", "line": 3, "attempt": 1, **fields}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("ORD-1,2026-01-14", "the body is not JSON"),
        ("[1]", "the body is a JSON list, not an object"),
        ('{"v": 1, "run_id": "r"}', "neither a records list nor an s3 pointer"),
        (_inline(5), "a record is not an object with raw and origin: 5"),
        (
            _inline({"raw": {"amount": 5}, "origin": _retry_origin()}),
            "raw row holds values that are not text",
        ),
        (
            _inline({"raw": {}, "origin": _retry_origin(colour="red")}),
            r"unknown \['colour'\], missing \[\], wrong type \[\]",
        ),
        (
            _inline({"raw": {}, "origin": {"kind": "retry", "source": "s", "line": "3"}}),
            r"wrong type \['line'\]",
        ),
        (_inline({"raw": {}, "origin": _retry_origin(kind="file")}), "must be a retry with attempt >= 0"),
        (_inline({"raw": {}, "origin": _retry_origin(attempt=-1)}), "got kind 'retry', attempt -1"),
        ('{"v": 1, "run_id": "r", "s3": "tracking/retry/x"}', "the s3 pointer is not {bucket, key}"),
    ],
)
def test_a_message_of_the_wrong_shape_is_unreadable_with_a_reason(body, error):
    with pytest.raises(retry.UnreadableMessageError, match=error):
        retry.unpack(body, fetch=None)


def test_a_pointer_whose_payload_is_gone_is_unreadable_and_names_the_object():
    def fetch(bucket, key):
        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")

    body = retry.pointer("r", 0, "staging", "tracking/retry/r/batch-00000.jsonl.gz", 1).body
    with pytest.raises(
        retry.UnreadableMessageError,
        match=r"s3://staging/tracking/retry/r/batch-00000.jsonl.gz cannot be read \(NoSuchKey\)",
    ):
        retry.unpack(body, fetch)


def test_a_queued_record_round_trips_through_the_strict_parser():
    original = record(4, kind="retry", attempt=2, first_failed_run="2026-11-20-a", last_error="throttled")
    [parsed] = retry.unpack(next(retry.pack([original], "r")).body, fetch=None)
    assert parsed == original


def test_a_record_names_the_row_it_came_from_and_its_retries():
    fresh = Origin("file", "s3://landing/orders.csv", 17)
    retried = retry.next_attempt(
        StagedRecord({"order_id": "A"}, fresh), "2026-11-21-ab12", "UnprocessedItems"
    )

    assert fresh.describe() == "row 17 of s3://landing/orders.csv"
    assert retried.origin.describe() == (
        "row 17 of s3://landing/orders.csv, retry 1 (first failed in run 2026-11-21-ab12)"
    )
