"""Staging a run's files in the unit tests' moto S3 as the extract leaves them."""

from __future__ import annotations

from typing import Any

from pipeline import layout
from pipeline.staging import Chunk, Manifest, Origin, StagedRecord, encode_lines


def staged_retries(aws: Any, run_id: str, run_date: str) -> None:
    """What the extract left: a chunk with 3 retried records and 1 fresh one, and its manifest."""
    retried = [
        StagedRecord(
            {"order_id": f"R-{n}"},
            Origin("retry", "2026-11-21-x", n, attempt=1, first_failed_run="2026-11-21-x"),
        )
        for n in range(3)
    ]
    fresh = [StagedRecord({"order_id": "F-1"}, Origin("file", "s3://landing/o.csv", 1))]
    key = layout.staging_chunk_key(run_id, 0)
    aws.s3.put_object(
        Bucket=aws.config.staging_bucket, Key=key, Body=encode_lines(r.to_json() for r in fresh + retried)
    )
    manifest = Manifest(run_id, run_date, [Chunk(key, 4, 1)], extracted=1, retried_in=3)
    aws.s3.put_object(
        Bucket=aws.config.staging_bucket, Key=layout.manifest_key(run_id), Body=manifest.to_json()
    )
