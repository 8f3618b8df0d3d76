"""The load's Spark transforms: staged records in; deduplicated, validated and loaded records out.

Each step is a function of a DataFrame (``f(spark, df, ...) -> df``) that the Glue entry wires to its sources
and sinks and the tests call on a local session. The record rules are not Spark expressions: every row goes
through ``pipeline.contract`` in the executors, so the job accepts and rejects exactly what the contract
says. I/O comes in as arguments (a function that fetches a chunk, a factory that opens a sink), so the same
transforms run against S3 and DynamoDB in the job and against fakes in tests.

The records stay Python objects from the staged chunk to the written item: they are read, deduplicated,
validated and loaded as RDDs of tuples, so the one shuffle (by record key, to deduplicate) moves pickled
tuples and no record is converted to a JVM row and back. DataFrame views (``read_staged``, ``validate``)
are there for inspection and tests.

The partitioning follows the data: one partition per staged chunk when reading, then ``partitions``
partitions by record key for the deduplication, kept through validation and loading (no other shuffle).
Partition numbers name the rejected/failed part files, and a partition's records are in staging order, so
a re-run of the same run writes the same keys with the same lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from typing import Any, NamedTuple

from pyspark import RDD
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from pipeline import layout
from pipeline.budgets import EXAMPLE_CHARS, EXAMPLE_ID_CHARS, safe_text
from pipeline.contract import Order, Product, Reason, Rejection, enrich, order_key, parse_order, shorten
from pipeline.dynamo_writer import Item, attribute_value
from pipeline.report import LoadReport, ReasonSummary
from pipeline.staging import Chunk, StagedRecord, StagingError, decode_lines, encode_lines
from pipeline.text import has_surrogate

# A staged record: its key (empty when the row has no order_id), its version (Origin.version(), newest is
# greatest), its position in the staging (chunk << 32 | line: unique and stable) and its JSON line.
STAGED_SCHEMA = StructType(
    [
        StructField("key", StringType(), False),
        StructField(
            "version",
            StructType(
                [
                    StructField("rank", IntegerType(), False),
                    StructField("run", StringType(), False),
                    StructField("file_index", IntegerType(), False),
                    StructField("line", LongType(), False),
                ]
            ),
            False,
        ),
        StructField("position", LongType(), False),
        StructField("record", StringType(), False),
    ]
)

# The newest version of each key, and how many older versions of it were dropped.
DEDUPLICATED_SCHEMA = StructType(
    [
        StructField("key", StringType(), False),
        StructField("record", StringType(), False),
        StructField("duplicates", IntegerType(), False),
    ]
)

# A validated record: rejected (reason, field, detail) or ready to load (the item, in DynamoDB's
# attribute-value JSON, and the figures the run's aggregates are made of).
OUTCOME_SCHEMA = StructType(
    [
        *DEDUPLICATED_SCHEMA.fields,
        StructField("reason", StringType(), True),
        StructField("field", StringType(), True),
        StructField("detail", StringType(), True),
        StructField("item", StringType(), True),
        StructField("category", StringType(), True),
        StructField("currency", StringType(), True),
        StructField("quantity", IntegerType(), True),
        StructField("amount", DecimalType(12, 2), True),
    ]
)


class Staged(NamedTuple):
    """One staged record, in STAGED_SCHEMA's order."""

    key: str
    version: tuple[int, str, int, int]
    position: int
    record: str


class Deduplicated(NamedTuple):
    """The newest version of a key, in DEDUPLICATED_SCHEMA's order."""

    key: str
    record: str
    duplicates: int


class Outcome(NamedTuple):
    """One validated record, in OUTCOME_SCHEMA's order; ``item`` (attribute-value form) only when valid."""

    key: str
    record: str
    duplicates: int
    reason: str | None
    field: str | None
    detail: str | None
    item: Item | None
    category: str | None
    currency: str | None
    quantity: int | None
    amount: Decimal | None


@dataclass(frozen=True)
class LoadContext:
    """The bookkeeping every loaded item carries."""

    run_id: str
    run_date: str
    loaded_at: str  # ISO 8601 UTC, one instant for the whole run


@dataclass(frozen=True)
class Sink:
    """Where one partition's outcomes go: items to ``writer`` (a BatchWriter), part files to ``put``."""

    writer: Any  # BatchWriter[Outcome]: write((outcome, item), ...) -> (outcome, error | None), ...
    put: Callable[[str, bytes], None]  # (S3 key, body)


def staged_records(spark: SparkSession, chunks: Sequence[Chunk], fetch: Callable[[str], bytes]) -> RDD:
    """The staged records (``Staged``) of ``chunks``, read in the executors: one partition per chunk.

    ``fetch(key)`` returns a chunk's bytes; it is shipped to the executors, so it must be picklable and
    make its own clients. A chunk holding another number of records than the manifest lists stops the
    load: records would otherwise be lost without a trace.
    """
    listed = [(index, chunk.key, chunk.records) for index, chunk in enumerate(chunks)]
    return spark.sparkContext.parallelize(listed, max(1, len(listed))).flatMap(
        lambda entry: _chunk_rows(*entry, fetch)
    )


def read_staged(spark: SparkSession, chunks: Sequence[Chunk], fetch: Callable[[str], bytes]) -> DataFrame:
    """``staged_records`` as a DataFrame (STAGED_SCHEMA)."""
    return spark.createDataFrame(staged_records(spark, chunks, fetch), STAGED_SCHEMA, verifySchema=False)


def deduplicate(staged: RDD, partitions: int) -> RDD:
    """Keep the newest version of each key (``Deduplicated``), counting the others in ``duplicates``, in
    ``partitions`` partitions by key; each partition's records in staging order.

    Rows without a key are never merged: each is its own group and is rejected on its own. Versions
    that tie (the same record staged twice) are decided by position, so the outcome is deterministic.
    Each executor keeps the newest of its own records of a key before the shuffle, so only one record
    of a key leaves a chunk's partition.
    """

    def grouped(row: Staged) -> tuple[Any, tuple[Any, ...]]:
        key, version, position, record = row
        return (key or ("", position)), (version, position, record, 1)

    def newest(left: tuple[Any, ...], right: tuple[Any, ...]) -> tuple[Any, ...]:
        # (version, position, ...): positions are unique, so the comparison never goes past them.
        return (*max(left, right)[:3], left[3] + right[3])

    def in_staging_order(pairs: Iterable[tuple[Any, tuple[Any, ...]]]) -> Iterator[Deduplicated]:
        kept = sorted(pairs, key=lambda pair: pair[1][1])
        for group, (_, _, record, versions) in kept:
            yield Deduplicated(group if isinstance(group, str) else "", record, versions - 1)

    return staged.map(grouped).reduceByKey(newest, partitions).mapPartitions(in_staging_order, True)


def validate(
    spark: SparkSession, records: RDD, catalog: Mapping[str, Product], context: LoadContext
) -> DataFrame:
    """Parse every record with the contract and join it with the catalog (OUTCOME_SCHEMA, the item as JSON).

    The DataFrame view of the outcomes, for inspection and tests; the job validates and loads in one pass
    (``validate_and_load``) with the same ``outcome_of``. The catalog is small: it is broadcast once to the
    executors. Partitioning is kept.
    """
    validated = _validator(spark, catalog, context)

    def outcomes(rows: Iterable[Deduplicated]) -> Iterator[Outcome]:
        for outcome in validated(rows):
            if outcome.item is not None:
                outcome = outcome._replace(
                    item=json.dumps(outcome.item, ensure_ascii=False, separators=(",", ":"))
                )
            yield outcome

    return spark.createDataFrame(records.mapPartitions(outcomes, True), OUTCOME_SCHEMA, verifySchema=False)


def load(
    outcomes: DataFrame, open_sink: Callable[[], Sink], rejected_prefix: str, failed_prefix: str
) -> LoadReport:
    """Write every partition of ``validate``'s outcomes: items and part files; the report of the whole load
    (without run ids)."""

    def from_rows(rows: Iterable[Any]) -> Iterator[Outcome]:
        for row in rows:
            outcome = Outcome(*row)
            yield outcome._replace(item=json.loads(outcome.item)) if outcome.item is not None else outcome

    return _load_partitions(outcomes.rdd, from_rows, open_sink, rejected_prefix, failed_prefix)


def validate_and_load(
    spark: SparkSession,
    records: RDD,
    catalog: Mapping[str, Product],
    context: LoadContext,
    open_sink: Callable[[], Sink],
    rejected_prefix: str,
    failed_prefix: str,
) -> LoadReport:
    """``load(validate(...))`` in one pass of the executors' Python: each partition's records are validated
    and written as they stream, with no round trip of the outcomes through the JVM (which costs more than
    the validation itself). What the job runs."""
    validated = _validator(spark, catalog, context)
    return _load_partitions(records, validated, open_sink, rejected_prefix, failed_prefix)


def _validator(
    spark: SparkSession, catalog: Mapping[str, Product], context: LoadContext
) -> Callable[[Iterable[Deduplicated]], Iterator[Outcome]]:
    """``outcome_of`` over a partition's rows, with the catalog broadcast once to the executors."""
    products = spark.sparkContext.broadcast(dict(catalog))

    def outcomes(rows: Iterable[Deduplicated]) -> Iterator[Outcome]:
        known = products.value
        for row in rows:
            yield outcome_of(row, known, context)

    return outcomes


def _load_partitions(
    rdd: Any,
    to_outcomes: Callable[[Iterable[Any]], Iterator[Outcome]],
    open_sink: Callable[[], Sink],
    rejected_prefix: str,
    failed_prefix: str,
) -> LoadReport:
    """``open_sink`` runs in the executors, once per non-empty partition: it makes the clients that the
    partition then reuses for all its requests."""

    def load_one(index: int, rows: Iterator[Any]) -> Iterator[LoadReport]:
        outcomes = to_outcomes(rows)
        first = next(outcomes, None)
        if first is None:
            yield LoadReport(run_id="", run_date="")
            return
        yield load_partition(index, chain([first], outcomes), open_sink(), rejected_prefix, failed_prefix)

    total = LoadReport(run_id="", run_date="")
    for share in rdd.mapPartitionsWithIndex(load_one).collect():
        total.merge(share)
    return total


def load_partition(
    index: int, rows: Iterable[Outcome], sink: Sink, rejected_prefix: str, failed_prefix: str
) -> LoadReport:
    """Load one partition: valid items to the table, rejected and failed records to their part files."""
    report = LoadReport(run_id="", run_date="")
    rejected: list[str] = []
    failed: list[str] = []

    def to_write() -> Iterator[tuple[Outcome, Item]]:
        for row in rows:
            report.staged += 1 + row.duplicates
            report.duplicates_dropped += row.duplicates
            if row.item is not None:
                yield row, row.item
                continue
            record = StagedRecord.from_json(row.record)
            report.rejected += 1
            report.rejection_reasons.setdefault(row.reason, ReasonSummary()).add(example(record))
            rejected.append(_with(row.record, reason=row.reason, field=row.field, detail=row.detail))

    for row, error in sink.writer.write(to_write()):
        if error is None:
            report.loaded += 1
            report.aggregates.add(row.category, row.currency, row.quantity, row.amount)
            continue
        report.failed += 1
        report.failure_errors.setdefault(error, ReasonSummary()).add(
            example(StagedRecord.from_json(row.record))
        )
        failed.append(_with(row.record, error=error))

    if rejected:
        key = layout.partition_key(rejected_prefix, index)
        sink.put(key, encode_lines(rejected))
        report.rejected_keys.append(key)
    if failed:
        key = layout.partition_key(failed_prefix, index)
        sink.put(key, encode_lines(failed))
        report.failed_keys.append(key)
    return report


def example(record: StagedRecord) -> str:
    """How a report names a record for a person to find it: ``A-17 (row 5 of s3://…/orders.csv)``.

    An order_id of any length is cut to ``EXAMPLE_ID_CHARS`` with a marker (``A-17AAAA…[+119,940 chars]``)
    so that the row's place stays readable, and the whole example to ``EXAMPLE_CHARS``; characters AWS
    refuses are escaped (``pipeline.budgets``)."""
    order_id = safe_text(order_key(record.raw), EXAMPLE_ID_CHARS) or "(empty)"
    return safe_text(f"{order_id} ({record.origin.describe()})", EXAMPLE_CHARS)


def catalog_by_id(products: Iterable[Product]) -> dict[str, Product]:
    return {product.product_id: product for product in products}


def _chunk_rows(index: int, key: str, declared: int, fetch: Callable[[str], bytes]) -> Iterator[Staged]:
    count = 0
    for count, line in enumerate(decode_lines(fetch(key)), start=1):
        record = StagedRecord.from_json(line)
        yield Staged(order_key(record.raw), record.origin.version(), index << 32 | count, line.rstrip("\n"))
    if count != declared:
        raise StagingError(
            f"staging chunk {key} holds {count} records but the manifest lists {declared}: "
            "the staging is incomplete; re-run the extract for this run"
        )


def outcome_of(row: Deduplicated, catalog: Mapping[str, Product], context: LoadContext) -> Outcome:
    """A deduplicated record (``key``, ``record``, ``duplicates``) validated: rejected with its reason, or the
    item to load and the figures of the run's aggregates."""
    record = StagedRecord.from_json(row.record)
    parsed = parse_order(record.raw)
    if isinstance(parsed, Order):
        product = catalog.get(parsed.product_id)
        if product is not None:
            item = enrich(parsed, product) | {
                "run_date": context.run_date,
                "run_id": context.run_id,
                "loaded_at": context.loaded_at,
                "version": record.origin.version_label(),
                "source": record.origin.describe(),
            }
            return Outcome(
                row.key,
                row.record,
                row.duplicates,
                None,
                None,
                None,
                {name: attribute_value(value) for name, value in item.items()},
                product.category,
                parsed.currency,
                parsed.quantity,
                parsed.amount,
            )
        parsed = Rejection(
            Reason.UNKNOWN_PRODUCT,
            "product_id",
            f"{shorten(parsed.product_id)!r} is not in the product catalog",
        )
    return Outcome(
        row.key,
        row.record,
        row.duplicates,
        parsed.reason.value,
        parsed.field,
        parsed.detail,
        None,
        None,
        None,
        None,
        None,
    )


def _with(record_json: str, **fields: str) -> str:
    """A staged record's JSON line with more fields: readable again with StagedRecord.from_json."""
    data = json.loads(record_json)
    data.update(fields)
    line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (a "\\udc80" escape in a hand-made record) has no UTF-8 form: keep it escaped.
    return json.dumps(data, separators=(",", ":")) if has_surrogate(line) else line
