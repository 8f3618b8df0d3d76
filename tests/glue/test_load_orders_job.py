"""The Glue entry script end to end: a staged run in the emulator's S3, the job as Glue starts it, the results.

The script runs as its own process with the emulator's endpoint in the environment, exactly as the
emulator's Glue runtime (and Glue) start it; the tests read DynamoDB and S3 afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from pipeline import layout
from pipeline.report import LoadReport
from pipeline.staging import StagedRecord, decode_lines
from tests.glue.staged_runs import RUN_DATE, SOURCE, fresh, order, retried, stage_run

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "glue_jobs" / "load_orders.py"
YESTERDAY = "2026-11-21-ffffffffff"

RECORDS = [
    fresh(order("A-1", quantity="2", amount="59.90"), 1),
    fresh(order("A-2", product_id="P-200", quantity="1", amount="149.00", currency="EUR"), 2),
    fresh(order("A-3", product_id="P-300", quantity="1", amount="89.50"), 3),
    fresh(order("A-3", product_id="P-300", quantity="2", amount="179.00"), 4),
    retried(order("A-4", quantity="1", amount="1.00"), 12, first_failed_run=YESTERDAY),
    fresh(order("A-4", quantity="1", amount="29.95"), 5),
    fresh(order("A-5", amount="12.345"), 6),
    fresh(order("A-6", product_id="P-999"), 7),
    fresh(order("", customer="Nobody"), 8),
    retried(
        order("A-7", quantity="3", amount="89.85", customer="Grace Hopper"), 14, first_failed_run=YESTERDAY
    ),
]
LOADED = {"A-1", "A-2", "A-3", "A-4", "A-7"}


@dataclass(frozen=True)
class StagedRun:
    run_id: str
    bucket: str
    table: str
    manifest_key: str


@pytest.fixture
def staged_run(emulator) -> StagedRun:
    """A bucket and an orders table of its own, with RECORDS staged in three chunks."""
    suffix = uuid.uuid4().hex[:10]
    bucket, table, run_id = f"staging-{suffix}", f"orders-{suffix}", f"{RUN_DATE}-{suffix}"
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=bucket)
    emulator.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    manifest_key = stage_run(s3, bucket, run_id, RECORDS, chunk_rows=4)
    return StagedRun(run_id, bucket, table, manifest_key)


@pytest.fixture
def faults(emulator) -> Iterator[Any]:
    """The emulator's fault knobs, reset after the test whatever happens."""
    try:
        yield emulator.control
    finally:
        emulator.control.delete("faults")


def run_job(emulator, run: StagedRun, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(emulator.env)
    # As the emulator's Glue runtime starts a job: the pipeline package importable (Glue's
    # --extra-py-files), Spark's Python workers on this interpreter.
    env.update({"PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"})
    arguments = {
        "--run_id": run.run_id,
        "--run_date": RUN_DATE,
        "--manifest_key": run.manifest_key,
        "--staging_bucket": run.bucket,
        "--orders_table": run.table,
        "--runs_table": "etl_runs",
    }
    command = [sys.executable, str(SCRIPT), "--JOB_NAME", "load_orders", "--JOB_RUN_ID", "jr_0123abcd"]
    command += [part for pair in arguments.items() for part in pair] + list(extra)
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def items(emulator, table: str) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    pages = emulator.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {
        item["order_id"]["S"]: {k: deserializer.deserialize(v) for k, v in item.items()}
        for page in pages
        for item in page["Items"]
    }


def report_of(emulator, run: StagedRun) -> LoadReport:
    body = emulator.client("s3").get_object(Bucket=run.bucket, Key=layout.report_key(run.run_id))["Body"]
    return LoadReport.from_json(body.read())


def parts(emulator, run: StagedRun, prefix: str) -> dict[str, list[dict[str, Any]]]:
    s3 = emulator.client("s3")
    listed = s3.list_objects_v2(Bucket=run.bucket, Prefix=prefix).get("Contents", [])
    return {
        entry["Key"]: [
            json.loads(line)
            for line in decode_lines(s3.get_object(Bucket=run.bucket, Key=entry["Key"])["Body"].read())
        ]
        for entry in listed
    }


def test_the_job_loads_the_newest_valid_orders_and_reports_the_rest(emulator, staged_run):
    result = succeeded(run_job(emulator, staged_run))

    loaded = items(emulator, staged_run.table)
    stamps = {item.pop("loaded_at") for item in loaded.values()}
    assert len(stamps) == 1 and datetime.fromisoformat(stamps.pop().replace("Z", "+00:00")).tzinfo
    common = {"order_date": "2026-11-22", "run_date": RUN_DATE, "run_id": staged_run.run_id}
    lamp = {
        "product_id": "P-100",
        "product_name": "Desk lamp",
        "category": "lighting",
        "unit_price": Decimal("29.95"),
    }
    assert loaded == {
        "A-1": {
            **common,
            **lamp,
            "order_id": "A-1",
            "customer": "Ada Lovelace",
            "quantity": Decimal(2),
            "amount": Decimal("59.90"),
            "currency": "USD",
            "version": "file/-/0/1",
            "source": f"row 1 of {SOURCE}",
        },
        "A-2": {
            **common,
            "order_id": "A-2",
            "customer": "Ada Lovelace",
            "product_id": "P-200",
            "product_name": "Office chair",
            "category": "furniture",
            "unit_price": Decimal("149.00"),
            "quantity": Decimal(1),
            "amount": Decimal("149.00"),
            "currency": "EUR",
            "version": "file/-/0/2",
            "source": f"row 2 of {SOURCE}",
        },
        "A-3": {
            **common,
            "order_id": "A-3",
            "customer": "Ada Lovelace",
            "product_id": "P-300",
            "product_name": "Floor lamp",
            "category": "lighting",
            "unit_price": Decimal("89.50"),
            "quantity": Decimal(2),
            "amount": Decimal("179.00"),
            "currency": "USD",
            "version": "file/-/0/4",
            "source": f"row 4 of {SOURCE}",
        },
        "A-4": {
            **common,
            **lamp,
            "order_id": "A-4",
            "customer": "Ada Lovelace",
            "quantity": Decimal(1),
            "amount": Decimal("29.95"),
            "currency": "USD",
            "version": "file/-/0/5",
            "source": f"row 5 of {SOURCE}",
        },
        "A-7": {
            **common,
            **lamp,
            "order_id": "A-7",
            "customer": "Grace Hopper",
            "quantity": Decimal(3),
            "amount": Decimal("89.85"),
            "currency": "USD",
            "version": f"retry/{YESTERDAY}/0/14",
            "source": f"row 14 of {SOURCE}, retry 1 (first failed in run {YESTERDAY})",
        },
    }

    report = report_of(emulator, staged_run)
    assert (report.run_id, report.run_date, report.job_run_id) == (staged_run.run_id, RUN_DATE, "jr_0123abcd")
    assert (report.staged, report.loaded, report.rejected, report.failed, report.duplicates_dropped) == (
        10,
        5,
        3,
        0,
        2,
    )
    assert {name: (s.count, s.examples) for name, s in report.rejection_reasons.items()} == {
        "invalid_amount": (1, [f"A-5 (row 6 of {SOURCE})"]),
        "unknown_product": (1, [f"A-6 (row 7 of {SOURCE})"]),
        "missing_order_id": (1, [f"(empty) (row 8 of {SOURCE})"]),
    }
    assert (report.failure_errors, report.failed_keys) == ({}, [])
    assert (report.rejected_prefix, report.failed_prefix) == (
        layout.rejected_prefix(staged_run.run_id),
        layout.failed_prefix(staged_run.run_id),
    )
    assert (report.aggregates.orders, report.aggregates.quantity) == (5, 9)
    assert report.aggregates.revenue == {"USD": "358.70", "EUR": "149.00"}
    assert report.aggregates.by_category == {
        "lighting": {"orders": 4, "revenue": {"USD": "358.70"}},
        "furniture": {"orders": 1, "revenue": {"EUR": "149.00"}},
    }
    assert report.duration_s > 0

    rejected = parts(emulator, staged_run, report.rejected_prefix)
    assert sorted(rejected) == sorted(report.rejected_keys)
    lines = sorted((line for part in rejected.values() for line in part), key=lambda r: r["origin"]["line"])
    assert [(r["reason"], r["field"], r["detail"]) for r in lines] == [
        ("invalid_amount", "amount", "'12.345' is not an amount like 1234.50"),
        ("unknown_product", "product_id", "'P-999' is not in the product catalog"),
        ("missing_order_id", "order_id", "empty"),
    ]
    assert [StagedRecord.from_dict(r) for r in lines] == [RECORDS[6], RECORDS[7], RECORDS[8]]
    assert parts(emulator, staged_run, report.failed_prefix) == {}
    assert "staged 10, loaded 5, rejected 3, failed 0, duplicates dropped 2" in result.stdout


def test_items_dynamodb_leaves_unprocessed_are_failed_and_loaded_by_a_rerun(emulator, staged_run, faults):
    faults.post("faults", {"dynamodb_unprocessed": 1.0, "seed": 1})

    succeeded(run_job(emulator, staged_run, "--max_write_attempts", "2"))

    report = report_of(emulator, staged_run)
    assert (report.staged, report.loaded, report.rejected, report.failed, report.duplicates_dropped) == (
        10,
        0,
        3,
        5,
        2,
    )
    assert report.staged == report.loaded + report.rejected + report.failed + report.duplicates_dropped
    assert {name: s.count for name, s in report.failure_errors.items()} == {
        "UnprocessedItems after 2 attempts": 5
    }
    assert report.aggregates.orders == 0 and report.aggregates.revenue == {}
    assert items(emulator, staged_run.table) == {}
    failed = parts(emulator, staged_run, report.failed_prefix)
    assert sorted(failed) == sorted(report.failed_keys)
    lines = [line for part in failed.values() for line in part]
    assert sorted((r["raw"]["order_id"], r["error"]) for r in lines) == [
        (order_id, "UnprocessedItems after 2 attempts") for order_id in sorted(LOADED)
    ]
    newest = {"A-1": RECORDS[0], "A-2": RECORDS[1], "A-3": RECORDS[3], "A-4": RECORDS[5], "A-7": RECORDS[9]}
    assert {r["raw"]["order_id"]: StagedRecord.from_dict(r) for r in lines} == newest
    first_rejected = report.rejected_keys

    faults.delete("faults")
    succeeded(run_job(emulator, staged_run))

    rerun = report_of(emulator, staged_run)
    assert (rerun.loaded, rerun.rejected, rerun.failed, rerun.failed_keys) == (5, 3, 0, [])
    assert rerun.rejected_keys == first_rejected
    assert set(items(emulator, staged_run.table)) == LOADED
    assert parts(emulator, staged_run, rerun.failed_prefix) == {}  # the first attempt's parts are gone


def test_a_missing_manifest_fails_the_job_with_a_clear_error(emulator, staged_run):
    emulator.client("s3").delete_object(Bucket=staged_run.bucket, Key=staged_run.manifest_key)

    result = run_job(emulator, staged_run)

    assert result.returncode != 0
    assert (
        f"StagingError: manifest s3://{staged_run.bucket}/{staged_run.manifest_key} does not exist"
        in result.stderr
    )
    assert items(emulator, staged_run.table) == {}


def test_an_unreadable_manifest_fails_the_job_with_a_clear_error(emulator, staged_run):
    emulator.client("s3").put_object(Bucket=staged_run.bucket, Key=staged_run.manifest_key, Body=b"{not json")

    result = run_job(emulator, staged_run)

    assert result.returncode != 0
    assert f"StagingError: manifest s3://{staged_run.bucket}/{staged_run.manifest_key} is not a valid" in (
        result.stderr
    )


def job_role(emulator, name: str, run: StagedRun) -> str:
    """A role for the job with the grants infra/modules/compute gives the deployed job's role, on this
    test's bucket (code under glue/, run files under runs/) and table."""
    bucket = f"arn:aws:s3:::{run.bucket}"
    statements = [
        {"Action": ["s3:GetObject"], "Resource": [f"{bucket}/glue/*"]},
        {"Action": ["s3:ListBucket"], "Resource": [bucket]},
        {"Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": [f"{bucket}/runs/*"]},
        {
            "Action": ["dynamodb:BatchWriteItem"],
            "Resource": [f"arn:aws:dynamodb:us-east-1:123456789012:table/{run.table}"],
        },
        {
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/*"],
        },
    ]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = emulator.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]}
    iam.put_role_policy(RoleName=name, PolicyName="load-orders", PolicyDocument=json.dumps(policy))
    return arn


def deploy_job(emulator, run: StagedRun, tmp_path: Path) -> str:
    """The job as Terraform deploys it: the script and the pipeline package (--extra-py-files) in S3."""
    package = tmp_path / "pipeline.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for path in sorted((ROOT / "pipeline").glob("*.py")):
            archive.write(path, f"pipeline/{path.name}")
    s3 = emulator.client("s3")
    s3.put_object(Bucket=run.bucket, Key="glue/load_orders.py", Body=SCRIPT.read_bytes())
    s3.put_object(Bucket=run.bucket, Key="glue/pipeline.zip", Body=package.read_bytes())
    name = f"load-orders-{uuid.uuid4().hex[:8]}"
    emulator.client("glue").create_job(
        Name=name,
        Role=job_role(emulator, name, run),
        Command={
            "Name": "glueetl",
            "ScriptLocation": f"s3://{run.bucket}/glue/load_orders.py",
            "PythonVersion": "3",
        },
        GlueVersion="5.0",
        DefaultArguments={
            "--staging_bucket": run.bucket,
            "--orders_table": run.table,
            "--runs_table": "etl_runs",
            "--extra-py-files": f"s3://{run.bucket}/glue/pipeline.zip",
        },
    )
    return name


def finished_run(emulator, job: str, run: StagedRun, timeout: float = 300) -> dict[str, Any]:
    """Start the job as the Load state does and wait for the run to end."""
    glue = emulator.client("glue")
    arguments = {"--run_id": run.run_id, "--run_date": RUN_DATE, "--manifest_key": run.manifest_key}
    run_id = glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"]
    deadline = time.monotonic() + timeout
    while True:
        job_run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if job_run["JobRunState"] not in {"STARTING", "RUNNING", "STOPPING", "WAITING"}:
            return job_run
        assert time.monotonic() < deadline, f"job run {run_id} still {job_run['JobRunState']}"
        time.sleep(0.5)


def test_the_deployed_job_runs_on_the_emulators_glue_with_the_pipeline_package(
    emulator, staged_run, tmp_path
):
    job = deploy_job(emulator, staged_run, tmp_path)

    job_run = finished_run(emulator, job, staged_run)

    assert job_run["JobRunState"] == "SUCCEEDED", job_run.get("ErrorMessage")
    report = report_of(emulator, staged_run)
    assert (report.job_run_id, report.loaded, report.rejected, report.duplicates_dropped) == (
        job_run["Id"],
        5,
        3,
        2,
    )
    assert set(items(emulator, staged_run.table)) == LOADED


def test_a_deployed_job_without_its_manifest_fails_with_the_error_the_state_machine_sees(
    emulator, staged_run, tmp_path
):
    job = deploy_job(emulator, staged_run, tmp_path)
    emulator.client("s3").delete_object(Bucket=staged_run.bucket, Key=staged_run.manifest_key)

    job_run = finished_run(emulator, job, staged_run)

    assert job_run["JobRunState"] == "FAILED"
    assert job_run["ErrorMessage"].startswith(
        f"pipeline.staging.StagingError: manifest s3://{staged_run.bucket}/{staged_run.manifest_key} "
        "does not exist"
    )
