"""Glue job load_orders: load one run's staged records into the orders table and write its report.

Arguments (Glue passes them as ``--name value``):
  --run_id, --run_date, --manifest_key   from the state machine's Load state
  --staging_bucket, --orders_table       the job's default arguments
  --max_write_attempts (default 5), --write_concurrency (default 4)   optional tuning

Reads the manifest and the staged catalog on the driver, the staging chunks in the executors; writes the
items with BatchWriteItem from the executors, rejected/failed part files and report.json to the staging
bucket. A missing or unreadable manifest fails the run; bad rows never do. AWS endpoints and credentials
come from the environment (boto3 reads AWS_ENDPOINT_URL), in Glue and on the emulator alike.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from awsglue.utils import getResolvedOptions
from botocore.exceptions import ClientError
from pyspark.sql import SparkSession

from pipeline import dynamo_writer, layout, transforms
from pipeline.contract import Product
from pipeline.report import LoadReport
from pipeline.sources import read_catalog
from pipeline.staging import Manifest, StagingError

REQUIRED = ["JOB_NAME", "run_id", "run_date", "manifest_key", "staging_bucket", "orders_table"]
OPTIONAL = {
    "max_write_attempts": str(dynamo_writer.DEFAULT_MAX_ATTEMPTS),
    "write_concurrency": str(dynamo_writer.DEFAULT_CONCURRENCY),
}
ORDERS_KEY = ("order_id",)


def resolve_arguments(argv: list[str]) -> dict[str, Any]:
    # getResolvedOptions makes every listed argument required: list the optional ones only when given.
    given = [name for name in OPTIONAL if f"--{name}" in argv]
    args = {**OPTIONAL, **getResolvedOptions(argv, REQUIRED + given)}
    for name in OPTIONAL:
        try:
            args[name] = int(args[name])
        except ValueError:
            raise ValueError(f"--{name} must be a whole number, got {args[name]!r}") from None
        if args[name] < 1:
            raise ValueError(f"--{name} must be at least 1, got {args[name]}")
    return args


def read_manifest(s3: Any, bucket: str, key: str) -> Manifest:
    uri = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404"}:
            raise StagingError(
                f"manifest {uri} does not exist: the extract did not finish for this run"
            ) from None
        raise StagingError(f"cannot read manifest {uri}: {code or error}") from None
    try:
        manifest = Manifest.from_json(body)
    except (ValueError, KeyError, TypeError) as error:
        raise StagingError(f"manifest {uri} is not a valid manifest ({error!r})") from None
    listed = sum(chunk.records for chunk in manifest.chunks)
    if listed != manifest.staged_records:
        raise StagingError(
            f"manifest {uri} lists {listed} records in its chunks but counts {manifest.staged_records} "
            f"staged (extracted {manifest.extracted} + retried_in {manifest.retried_in})"
        )
    return manifest


def read_products(s3: Any, bucket: str, manifest: Manifest) -> dict[str, Product]:
    if manifest.catalog_key is None:
        if manifest.chunks:
            raise StagingError(f"the manifest of run {manifest.run_id} has records but no catalog_key")
        return {}
    body = s3.get_object(Bucket=bucket, Key=manifest.catalog_key)["Body"]
    with body:
        return transforms.catalog_by_id(read_catalog(body, f"s3://{bucket}/{manifest.catalog_key}"))


def chunk_fetcher(bucket: str) -> Callable[[str], bytes]:
    def fetch(key: str) -> bytes:
        try:
            return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise StagingError(f"cannot read staging chunk s3://{bucket}/{key}: {error}") from None

    return fetch


def sink_opener(args: dict[str, Any]) -> Callable[[], transforms.Sink]:
    bucket, table = args["staging_bucket"], args["orders_table"]
    attempts, concurrency = args["max_write_attempts"], args["write_concurrency"]

    def open_sink() -> transforms.Sink:
        s3 = boto3.client("s3")
        dynamodb = boto3.client("dynamodb", config=dynamo_writer.client_config(concurrency))
        writer = dynamo_writer.BatchWriter(
            dynamodb, table, ORDERS_KEY, max_attempts=attempts, concurrency=concurrency
        )
        return transforms.Sink(writer, lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body))

    return open_sink


def remove_stale_parts(s3: Any, bucket: str, prefix: str, keep: list[str]) -> None:
    """Delete part files an earlier attempt of this run wrote and this one did not."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    stale = [item["Key"] for page in pages for item in page.get("Contents", ()) if item["Key"] not in keep]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stale[start : start + 1000]]}
        )


def build_session() -> SparkSession:
    spark = (
        SparkSession.builder.appName("load_orders")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def main(argv: list[str]) -> LoadReport:
    started = time.monotonic()
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    args = resolve_arguments(argv)
    bucket, run_id = args["staging_bucket"], args["run_id"]
    s3 = boto3.client("s3")
    manifest = read_manifest(s3, bucket, args["manifest_key"])
    products = read_products(s3, bucket, manifest)
    rejected_prefix, failed_prefix = layout.rejected_prefix(run_id), layout.failed_prefix(run_id)

    spark = build_session()
    try:
        staged = transforms.staged_records(spark, manifest.chunks, chunk_fetcher(bucket))
        # One partition per chunk, and at least one per core so every core writes.
        partitions = max(len(manifest.chunks), spark.sparkContext.defaultParallelism)
        context = transforms.LoadContext(run_id, args["run_date"], loaded_at)
        totals = transforms.validate_and_load(
            spark,
            transforms.deduplicate(staged, partitions),
            products,
            context,
            sink_opener(args),
            rejected_prefix,
            failed_prefix,
        )
    finally:
        spark.stop()

    report = LoadReport(
        run_id=run_id,
        run_date=args["run_date"],
        job_run_id=args.get("JOB_RUN_ID") or "",
        rejected_prefix=rejected_prefix,
        failed_prefix=failed_prefix,
    )
    report.merge(totals)
    report.check()
    if report.staged != manifest.staged_records:
        raise StagingError(
            f"the load read {report.staged} staged records but the manifest counts {manifest.staged_records}"
        )
    remove_stale_parts(s3, bucket, rejected_prefix, report.rejected_keys)
    remove_stale_parts(s3, bucket, failed_prefix, report.failed_keys)
    report.duration_s = round(time.monotonic() - started, 3)
    s3.put_object(
        Bucket=bucket,
        Key=layout.report_key(run_id),
        Body=report.to_json().encode(),
        ContentType="application/json",
    )
    print(
        f"load {run_id}: staged {report.staged}, loaded {report.loaded}, rejected {report.rejected}, "
        f"failed {report.failed}, duplicates dropped {report.duplicates_dropped} in {report.duration_s}s"
    )
    return report


if __name__ == "__main__":
    main(sys.argv)
