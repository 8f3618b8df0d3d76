"""Builders of staged runs for the load job's tests: orders, staged records, the catalog, a whole run in S3."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pipeline import layout
from pipeline.contract import Product
from pipeline.staging import Chunk, Manifest, Origin, StagedRecord, chunked, encode_lines

SOURCE = "s3://landing/landing/orders/dt=2026-11-22/orders.csv"
SECOND_SOURCE = "s3://landing/landing/orders/dt=2026-11-22/orders-late.csv"
RUN_DATE = "2026-11-22"

CATALOG = {
    "P-100": Product("P-100", "Desk lamp", "lighting", Decimal("29.95")),
    "P-200": Product("P-200", "Office chair", "furniture", Decimal("149.00")),
    "P-300": Product("P-300", "Floor lamp", "lighting", Decimal("89.50")),
}


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    """A raw CSV row that passes the contract, with ``fields`` changed."""
    row = {
        "order_id": order_id,
        "order_date": "2026-11-22",
        "customer": "Ada Lovelace",
        "product_id": "P-100",
        "quantity": "2",
        "amount": "59.90",
        "currency": "usd",
    }
    row.update(fields)
    return row


def fresh(raw: dict[str, Any], line: int, source: str = SOURCE, file_index: int = 0) -> StagedRecord:
    return StagedRecord(raw, Origin("file", source, line, file_index=file_index))


def retried(raw: dict[str, Any], line: int, first_failed_run: str, attempt: int = 1) -> StagedRecord:
    return StagedRecord(
        raw,
        Origin(
            "retry",
            SOURCE,
            line,
            attempt=attempt,
            first_failed_run=first_failed_run,
            last_error="UnprocessedItems after 5 attempts",
        ),
    )


def catalog_csv(products: dict[str, Product] = CATALOG) -> bytes:
    rows = ["product_id,name,category,unit_price"]
    rows += [f"{p.product_id},{p.name},{p.category},{p.unit_price}" for p in products.values()]
    return ("\n".join(rows) + "\n").encode()


def chunk_blobs(
    run_id: str, records: list[StagedRecord], chunk_rows: int
) -> tuple[list[Chunk], dict[str, bytes]]:
    """The run's staging chunks as the extract writes them: their manifest entries and their bytes."""
    chunks: list[Chunk] = []
    blobs: dict[str, bytes] = {}
    for index, lines in enumerate(chunked(records, chunk_rows)):
        key = layout.staging_chunk_key(run_id, index)
        blobs[key] = encode_lines(lines)
        chunks.append(Chunk(key, len(lines), len(blobs[key])))
    return chunks, blobs


def stage_run(s3: Any, bucket: str, run_id: str, records: list[StagedRecord], chunk_rows: int = 4) -> str:
    """Upload chunks, the staged catalog and the manifest of a run; the manifest's key."""
    chunks, blobs = chunk_blobs(run_id, records, chunk_rows)
    for key, body in blobs.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    catalog_key = layout.staged_catalog_key(run_id)
    s3.put_object(Bucket=bucket, Key=catalog_key, Body=catalog_csv())
    manifest = Manifest(
        run_id=run_id,
        run_date=RUN_DATE,
        chunks=chunks,
        catalog_key=catalog_key,
        extracted=sum(1 for r in records if r.origin.kind == "file"),
        retried_in=sum(1 for r in records if r.origin.kind == "retry"),
    )
    key = layout.manifest_key(run_id)
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.to_json().encode())
    return key
