"""The load's Spark transforms on a local session: which records are kept, loaded, rejected and failed."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from pyspark import cloudpickle

from pipeline import layout
from pipeline.dynamo_writer import BatchWriter
from pipeline.staging import StagedRecord, decode_lines
from pipeline.transforms import (
    OUTCOME_SCHEMA,
    STAGED_SCHEMA,
    LoadContext,
    Sink,
    deduplicate,
    load,
    read_staged,
    staged_records,
    validate,
    validate_and_load,
)
from tests.glue.staged_runs import CATALOG, SECOND_SOURCE, SOURCE, chunk_blobs, fresh, order, retried

pytestmark = pytest.mark.spark

# The fakes below run in Spark's Python workers, which cannot import this test module: ship them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

RUN_ID = "2026-11-22-0a1b2c3d4e"
CONTEXT = LoadContext(RUN_ID, "2026-11-22", "2026-11-23T02:00:00Z")


def staged(spark, records: list[StagedRecord], chunk_rows: int = 3):
    chunks, blobs = chunk_blobs(RUN_ID, records, chunk_rows)
    return staged_records(spark, chunks, blobs.__getitem__)


def deduplicated(spark, records: list[StagedRecord], partitions: int = 2):
    return deduplicate(staged(spark, records), partitions)


def kept(rows) -> dict[str, tuple[StagedRecord, int]]:
    """key → (the record kept, duplicates dropped); rows without a key under "#<line>"."""
    result = {}
    for row in rows.collect():
        record = StagedRecord.from_json(row.record)
        result[row.key or f"#{record.origin.line}"] = (record, row.duplicates)
    return result


def test_staged_chunks_are_read_into_one_partition_each(spark):
    records = [fresh(order(f"A-{n}"), n) for n in range(1, 8)]
    chunks, blobs = chunk_blobs(RUN_ID, records, 3)
    frame = read_staged(spark, chunks, blobs.__getitem__)

    assert frame.schema == STAGED_SCHEMA
    assert frame.rdd.getNumPartitions() == 3
    rows = frame.orderBy("position").collect()
    assert [row.key for row in rows] == [f"A-{n}" for n in range(1, 8)]
    assert [StagedRecord.from_json(row.record) for row in rows] == records
    assert rows[4].version.asDict() == {"rank": 1, "run": "", "file_index": 0, "line": 5}
    assert [row.position for row in rows[2:4]] == [3, (1 << 32) + 1]


def test_a_chunk_with_fewer_records_than_the_manifest_lists_stops_the_load(spark):
    chunks, blobs = chunk_blobs(RUN_ID, [fresh(order("A-1"), 1), fresh(order("A-2"), 2)], 5)
    chunks[0] = type(chunks[0])(chunks[0].key, 3, chunks[0].bytes)

    with pytest.raises(Exception, match="holds 2 records but the manifest lists 3"):
        read_staged(spark, chunks, blobs.__getitem__).collect()


def test_the_newest_version_of_each_key_is_kept_and_the_others_counted(spark):
    records = [
        fresh(order("A-1"), 1),
        retried(order("A-2", amount="10.00"), 40, first_failed_run="2026-11-21-ffff"),
        fresh(order("A-2", amount="30.00"), 2),  # today's file beats a retry of yesterday's failure
        fresh(order("A-3", amount="1.00"), 3),
        fresh(order("A-3", amount="2.00"), 4),  # twice in one file: the later line wins
        fresh(order("A-4", amount="4.00"), 9),
        fresh(order("A-4", amount="5.00"), 1, SECOND_SOURCE, file_index=1),  # a later file beats row 9
        retried(order("A-5", amount="7.00"), 3, first_failed_run="2026-11-20-eeee", attempt=2),
        retried(order("A-5", amount="8.00"), 3, first_failed_run="2026-11-21-ffff"),
        fresh(order(" A-3 ", amount="3.00"), 5),  # the key is the trimmed order_id
    ]

    result = kept(deduplicated(spark, records))

    assert {key: (r.raw["amount"], dropped) for key, (r, dropped) in result.items()} == {
        "A-1": ("59.90", 0),
        "A-2": ("30.00", 1),
        "A-3": ("3.00", 2),
        "A-4": ("5.00", 1),
        "A-5": ("8.00", 1),
    }
    assert result["A-2"][0].origin.kind == "file"
    assert result["A-4"][0].origin.source == SECOND_SOURCE


def test_deduplicated_records_are_spread_by_key_and_kept_in_staging_order(spark):
    records = [fresh(order(f"A-{n % 40}"), n) for n in range(1, 121)]  # three versions of each of 40 keys

    partitions = deduplicated(spark, records, partitions=3).glom().collect()

    assert len(partitions) == 3
    keys = [[row.key for row in rows] for rows in partitions]
    assert sorted(key for part in keys for key in part) == sorted(f"A-{n}" for n in range(40))
    assert all(len(part) >= 5 for part in keys)  # spread by key, not all in one partition
    lines = [[StagedRecord.from_json(row.record).origin.line for row in rows] for rows in partitions]
    assert all(part == sorted(part) for part in lines)
    assert all(
        line > 80 and row.duplicates == 2
        for part, rows in zip(lines, partitions, strict=True)
        for line, row in zip(part, rows, strict=True)
    )
    assert deduplicated(spark, records, partitions=3).glom().collect() == partitions  # the same on a re-run


def test_records_without_an_order_id_are_never_merged(spark):
    records = [fresh(order(""), 1), fresh(order("  "), 2), fresh(order("", amount="1.00"), 3)]

    result = kept(deduplicated(spark, records))

    assert {key: dropped for key, (_, dropped) in result.items()} == {"#1": 0, "#2": 0, "#3": 0}


def test_valid_records_become_enriched_items_with_their_run_bookkeeping(spark):
    records = [
        fresh(order("A-1", quantity="3", amount="89.85", currency=" eur "), 7),
        retried(order("A-2", product_id="P-200", amount="149"), 12, first_failed_run="2026-11-21-ffff"),
    ]

    outcomes = validate(spark, deduplicated(spark, records), CATALOG, CONTEXT)

    assert outcomes.schema == OUTCOME_SCHEMA
    rows = {row.key: row for row in outcomes.collect()}
    assert {key: row.reason for key, row in rows.items()} == {"A-1": None, "A-2": None}
    assert item_of(rows["A-1"]) == {
        "order_id": "A-1",
        "order_date": "2026-11-22",
        "customer": "Ada Lovelace",
        "product_id": "P-100",
        "product_name": "Desk lamp",
        "category": "lighting",
        "unit_price": Decimal("29.95"),
        "quantity": Decimal(3),
        "amount": Decimal("89.85"),
        "currency": "EUR",
        "run_date": "2026-11-22",
        "run_id": RUN_ID,
        "loaded_at": "2026-11-23T02:00:00Z",
        "version": "file/-/0/7",
        "source": f"row 7 of {SOURCE}",
    }
    second = item_of(rows["A-2"])
    assert (second["amount"], second["product_name"], second["version"], second["source"]) == (
        Decimal("149.00"),
        "Office chair",
        "retry/2026-11-21-ffff/0/12",
        f"row 12 of {SOURCE}, retry 1 (first failed in run 2026-11-21-ffff)",
    )
    assert (rows["A-1"].category, rows["A-1"].currency, rows["A-1"].quantity, rows["A-1"].amount) == (
        "lighting",
        "EUR",
        3,
        Decimal("89.85"),
    )


def test_invalid_records_are_rejected_with_the_contracts_reason(spark):
    records = [
        fresh(order("A-1", amount="12.345"), 1),
        fresh(order("A-2", product_id="P-999"), 2),
        fresh(order(""), 3),
        fresh(order("A-4", quantity="0"), 4),
        fresh({**order("A-5"), "_extra": ["surplus"]}, 5),
        fresh({**order("A-6"), "currency": None}, 6),
        fresh(order("A 7"), 7),
    ]

    outcomes = validate(spark, deduplicated(spark, records), CATALOG, CONTEXT).collect()

    assert sorted((row.key, row.reason, row.field, row.detail) for row in outcomes) == [
        ("", "missing_order_id", "order_id", "empty"),
        ("A 7", "invalid_order_id", "order_id", "'A 7' is not a valid id"),
        ("A-1", "invalid_amount", "amount", "'12.345' is not an amount like 1234.50"),
        ("A-2", "unknown_product", "product_id", "'P-999' is not in the product catalog"),
        ("A-4", "invalid_quantity", "quantity", "0 is outside 1..100000"),
        ("A-5", "unexpected_field", "_extra", "1 value(s) beyond the header"),
        ("A-6", "missing_field", "currency", "column missing from the row"),
    ]
    assert all(row.item is None and row.amount is None for row in outcomes)


class FlakyTableClient:
    """A DynamoDB client that stores items as files and never processes the order_ids it is told to."""

    def __init__(self, folder: Path, never: set[str]):
        self.folder = folder
        self.never = never

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        unprocessed = []
        for request in requests:
            item = request["PutRequest"]["Item"]
            if item["order_id"]["S"] in self.never:
                unprocessed.append(request)
            else:
                (self.folder / f"{item['order_id']['S']}.json").write_text(json.dumps(item))
        return {"UnprocessedItems": {table: unprocessed} if unprocessed else {}}


def file_sink(folder: Path, never: set[str]):
    def open_sink() -> Sink:
        client = FlakyTableClient(folder / "table", never)
        writer = BatchWriter(client, "orders", ["order_id"], max_attempts=3, sleep=lambda _: None)
        return Sink(writer, lambda key, body: _put(folder / "bucket" / key, body))

    return open_sink


def _put(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def item_of(row) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in json.loads(row.item).items()}


def test_loading_writes_items_and_parts_and_reports_every_record_once(spark, tmp_path):
    (tmp_path / "table").mkdir()
    records = [
        fresh(order("A-1", quantity="2", amount="59.90"), 1),
        fresh(order("A-2", product_id="P-200", quantity="1", amount="149.00", currency="EUR"), 2),
        fresh(order("A-3", product_id="P-300", quantity="4", amount="358.00"), 3),
        fresh(order("A-3", product_id="P-300", quantity="5", amount="447.50"), 4),
        fresh(order("A-4", amount="oops"), 5),
        fresh(order("A-5", product_id="P-999"), 6),
        fresh(order("A-6", quantity="7", amount="209.65"), 7),
        retried(order("A-6", quantity="6", amount="179.70"), 3, first_failed_run="2026-11-21-ffff"),
        fresh(order("", amount="oops"), 8),
    ]
    rejected_prefix, failed_prefix = layout.rejected_prefix(RUN_ID), layout.failed_prefix(RUN_ID)
    outcomes = validate(spark, deduplicated(spark, records), CATALOG, CONTEXT)

    report = load(outcomes, file_sink(tmp_path, never={"A-6"}), rejected_prefix, failed_prefix)

    assert (report.staged, report.loaded, report.rejected, report.failed, report.duplicates_dropped) == (
        9,
        3,
        3,
        1,
        2,
    )
    assert sorted(p.stem for p in (tmp_path / "table").iterdir()) == ["A-1", "A-2", "A-3"]
    assert json.loads((tmp_path / "table" / "A-3.json").read_text())["amount"] == {"N": "447.50"}
    assert {name: (s.count, s.examples) for name, s in report.rejection_reasons.items()} == {
        "invalid_amount": (1, [f"A-4 (row 5 of {SOURCE})"]),
        "unknown_product": (1, [f"A-5 (row 6 of {SOURCE})"]),
        "missing_order_id": (1, [f"(empty) (row 8 of {SOURCE})"]),
    }
    assert {name: (s.count, s.examples) for name, s in report.failure_errors.items()} == {
        "UnprocessedItems after 3 attempts": (1, [f"A-6 (row 7 of {SOURCE})"])
    }
    assert report.aggregates.orders == 3
    assert report.aggregates.quantity == 2 + 1 + 5
    assert report.aggregates.revenue == {"USD": "507.40", "EUR": "149.00"}
    assert report.aggregates.by_category == {
        "lighting": {"orders": 2, "revenue": {"USD": "507.40"}},
        "furniture": {"orders": 1, "revenue": {"EUR": "149.00"}},
    }

    failed = [json.loads(line) for key in report.failed_keys for line in read_part(tmp_path, key)]
    assert [(f["raw"]["order_id"], f["raw"]["amount"], f["error"]) for f in failed] == [
        ("A-6", "209.65", "UnprocessedItems after 3 attempts")
    ]
    assert StagedRecord.from_dict(failed[0]) == records[6]
    rejected = [json.loads(line) for key in report.rejected_keys for line in read_part(tmp_path, key)]
    assert sorted((r["raw"]["order_id"], r["reason"], r["field"]) for r in rejected) == [
        ("", "missing_order_id", "order_id"),
        ("A-4", "invalid_amount", "amount"),
        ("A-5", "unknown_product", "product_id"),
    ]
    assert all(key.startswith(f"runs/{RUN_ID}/rejected/part-") for key in report.rejected_keys)
    assert all(key.startswith(f"runs/{RUN_ID}/failed/part-") for key in report.failed_keys)


def test_the_single_pass_loads_exactly_what_validate_then_load_does(spark, tmp_path):
    records = [
        fresh(order("A-1", quantity="2", amount="59.90"), 1),
        fresh(order("A-2", product_id="P-200", quantity="1", amount="149.00", currency="EUR"), 2),
        fresh(order("A-2", product_id="P-200", quantity="3", amount="447.00", currency="EUR"), 3),
        fresh(order("A-4", amount="oops"), 4),
        fresh(order("A-5", product_id="P-999"), 5),
        fresh(order("A-6", quantity="7", amount="209.65"), 6),
        retried(order("A-7", quantity="6", amount="179.70"), 3, first_failed_run="2026-11-21-ffff"),
    ]
    prefixes = layout.rejected_prefix(RUN_ID), layout.failed_prefix(RUN_ID)
    two_pass, one_pass = tmp_path / "two", tmp_path / "one"
    for folder in (two_pass, one_pass):
        (folder / "table").mkdir(parents=True)
    records_kept = deduplicated(spark, records)

    expected = load(
        validate(spark, records_kept, CATALOG, CONTEXT), file_sink(two_pass, never={"A-6"}), *prefixes
    )
    report = validate_and_load(
        spark, records_kept, CATALOG, CONTEXT, file_sink(one_pass, never={"A-6"}), *prefixes
    )

    assert report.to_json() == expected.to_json()
    assert (report.loaded, report.rejected, report.failed, report.duplicates_dropped) == (3, 2, 1, 1)
    tables = [
        {p.name: p.read_text() for p in (folder / "table").iterdir()} for folder in (two_pass, one_pass)
    ]
    assert tables[0] == tables[1]
    assert sorted(tables[1]) == ["A-1.json", "A-2.json", "A-7.json"]
    parts = [
        sorted(str(p.relative_to(folder)) for p in (folder / "bucket").rglob("*.gz"))
        for folder in (two_pass, one_pass)
    ]
    assert parts[0] == parts[1] and parts[1]
    for part in parts[1]:
        assert read_part(one_pass, part.removeprefix("bucket/")) == read_part(
            two_pass, part.removeprefix("bucket/")
        )


def read_part(folder: Path, key: str) -> list[str]:
    return list(decode_lines((folder / "bucket" / key).read_bytes()))
