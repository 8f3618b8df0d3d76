"""Warm Glue drivers: Spark runs of the same code reuse a driver, yet each run starts clean."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .test_glue_runtime import (
    ROLE_NAME,
    _create_job,
    _create_role,
    _log_messages,
    _name,
    _trust,
    _wait_for_run,
)

pytestmark = pytest.mark.spark

# Prints what a run sees, then leaves traces a later run must not find.
PROBE_SCRIPT = """
import json
import os
import sys

import boto3
from awsglue.utils import getResolvedOptions
from pyspark.sql import SparkSession

args = getResolvedOptions(sys.argv, ["JOB_NAME", "outcome"])
spark = SparkSession.builder.appName("probe").config("spark.ui.enabled", "false").getOrCreate()
from helper import VERSION


def executor_identity(_):
    # Runs in a Spark executor (a Python worker the JVM started): it acts as the job's role too.
    import boto3

    return boto3.client("sts").get_caller_identity()["Arn"]


print(json.dumps({
    "driver_arn": boto3.client("sts").get_caller_identity()["Arn"],
    "executor_arn": spark.sparkContext.parallelize([0], 1).map(executor_identity).collect()[0],
    "pid": os.getpid(),
    "app": spark.sparkContext.applicationId,
    "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
    "views": [t.name for t in spark.catalog.listTables() if t.isTemporary],
    "leak": os.environ.get("LEAKED_BY_A_RUN"),
    "cwd": os.getcwd(),
    "helper": VERSION,
    "rows": spark.range(10).count(),
}), flush=True)
spark.conf.set("spark.sql.shuffle.partitions", "7")
spark.range(3).createOrReplaceTempView("leftover")
os.environ["LEAKED_BY_A_RUN"] = "yes"
os.chdir("/")
outcome = args["outcome"]
if outcome == "raise":
    raise ValueError("boom in the probe")
if outcome.startswith("exit"):
    sys.exit(int(outcome[4:]))
spark.stop()
"""


def _helper_zip(version: str) -> bytes:
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("helper.py", f"VERSION = {version!r}\n")
    return body.getvalue()


@pytest.fixture
def probe(emulator, bucket):
    """A job running PROBE_SCRIPT with helper.zip (version "v1") on its path; warm drivers back on after."""
    key = f"libs/{_name('helper')}.zip"
    emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=_helper_zip("v1"))
    job = _create_job(
        emulator, bucket, PROBE_SCRIPT, DefaultArguments={"--extra-py-files": f"s3://{bucket}/{key}"}
    )
    yield job, key
    emulator.control.delete("glue")


def _run(emulator, job: str, outcome: str = "ok") -> tuple[dict, dict | None]:
    glue = emulator.client("glue")
    # A new driver starts Spark: on a busy machine that alone can take a minute.
    run = _wait_for_run(
        glue,
        job,
        glue.start_job_run(JobName=job, Arguments={"--outcome": outcome})["JobRunId"],
        timeout=300,
    )
    lines = [
        json.loads(m)
        for m in _log_messages(emulator, "/aws-glue/jobs/output", run["Id"])
        if m.startswith("{")
    ]
    return run, (lines[0] if lines else None)


def _run_files(emulator, run_id: str) -> dict:
    [summary] = [r for r in emulator.control.get("glue")["runs"] if r["run_id"] == run_id]
    return json.loads((Path(summary["work_dir"]) / "run.json").read_text())


def test_a_second_run_reuses_the_driver_and_starts_clean(emulator, probe):
    job, _ = probe

    first, seen_first = _run(emulator, job)
    second, seen_second = _run(emulator, job)

    assert (first["JobRunState"], second["JobRunState"]) == ("SUCCEEDED", "SUCCEEDED")
    assert seen_first is not None and seen_second is not None
    # The same process and SparkContext ...
    assert seen_second["pid"] == seen_first["pid"]
    assert seen_second["app"] == seen_first["app"]
    assert _run_files(emulator, first["Id"])["driver_host"]["warm"] is False
    assert _run_files(emulator, second["Id"])["driver_host"]["warm"] is True
    # ... but none of what the first run changed: SQL settings, temporary views, environment, directory.
    for seen, run in ((seen_first, first), (seen_second, second)):
        assert seen["partitions"] == "200"
        assert seen["views"] == []
        assert seen["leak"] is None
        assert seen["cwd"].endswith(run["Id"])
        assert seen["helper"] == "v1"
        assert seen["rows"] == 10


def test_a_job_of_another_role_gets_a_driver_of_its_own_that_acts_as_that_role(emulator, bucket, probe):
    job, key = probe
    other_name = _name("glue-other-role")
    other_role = _create_role(emulator, other_name, ["s3:*", "logs:*"], _trust("glue.amazonaws.com"))
    other_job = _create_job(
        emulator,
        bucket,
        PROBE_SCRIPT,
        Role=other_role,
        DefaultArguments={"--extra-py-files": f"s3://{bucket}/{key}"},
    )

    _, seen = _run(emulator, job)
    _, seen_other = _run(emulator, other_job)
    _, seen_again = _run(emulator, job)

    assert seen is not None and seen_other is not None and seen_again is not None
    session = "arn:aws:sts::123456789012:assumed-role/{}/GlueJobRunnerSession"
    assert seen["driver_arn"] == seen["executor_arn"] == session.format(ROLE_NAME)
    assert seen_other["driver_arn"] == seen_other["executor_arn"] == session.format(other_name)
    assert seen_again["driver_arn"] == seen_again["executor_arn"] == session.format(ROLE_NAME)
    # The same code, but another role: never the driver that holds the first role's credentials.
    assert seen_other["pid"] not in (seen["pid"], seen_again["pid"])


def test_a_driver_whose_role_credentials_are_about_to_expire_is_not_reused(tmp_path, monkeypatch):
    from emulator.glue_runtime import warm
    from emulator.iam.credentials import RoleCredentials

    def credentials(hours_left: float) -> RoleCredentials:
        expiration = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=hours_left)
        role = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
        return RoleCredentials(
            "ASIA1", "s", "t", expiration, role, "arn:aws:sts::123456789012:assumed-role/r/s"
        )

    def host(hours_left: float) -> warm.DriverHost:
        process = subprocess.Popen(["sleep", "60"], start_new_session=True)
        replies = open(os.devnull)  # noqa: SIM115 - closed by DriverHost.kill
        return warm.DriverHost(
            "key", tmp_path, process, replies, credentials=credentials(hours_left), environment={}
        )

    pool = warm.WarmPool(tmp_path, max_idle=5)
    fresh, old = host(11.5), host(0.5)
    pool._hosts.extend([old, fresh])
    started: list[str] = []
    monkeypatch.setattr(pool, "_start", lambda key, *args: started.append(key) or host(12))
    try:
        first, first_warm = pool.acquire(
            "key", python="python", extra_files=[], environment={}, credentials=credentials(12)
        )
        pool.release(first, healthy=True)
        fresh.credentials = credentials(0.9)
        second, _ = pool.acquire(
            "key", python="python", extra_files=[], environment={}, credentials=credentials(12)
        )
        kept = list(pool._hosts)
    finally:
        pool.shutdown()

    # The host with half an hour left was dropped, the fresh one served; once it too had less than an
    # hour left, a new host was started for the run.
    assert first is fresh and not first_warm
    assert started == ["key"] and second not in (fresh, old)
    assert kept == [second]


def test_new_extra_files_get_a_new_driver(emulator, bucket, probe):
    job, key = probe
    _, before = _run(emulator, job)

    emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=_helper_zip("v2"))
    run, after = _run(emulator, job)

    assert run["JobRunState"] == "SUCCEEDED"
    assert before is not None and after is not None
    assert after["helper"] == "v2"
    assert after["pid"] != before["pid"]


def test_a_failing_run_fails_alone_and_the_driver_serves_the_next(emulator, probe):
    job, _ = probe

    raised, seen_raised = _run(emulator, job, "raise")
    exited, seen_exited = _run(emulator, job, "exit3")
    fine, seen_fine = _run(emulator, job)

    assert raised["JobRunState"] == "FAILED"
    assert raised["ErrorMessage"] == "ValueError: boom in the probe"
    assert "Traceback" in "\n".join(_log_messages(emulator, "/aws-glue/jobs/error", raised["Id"]))
    assert exited["JobRunState"] == "FAILED"
    assert exited["ErrorMessage"].startswith("the job script exited with code 3")
    assert fine["JobRunState"] == "SUCCEEDED"
    assert seen_raised is not None and seen_exited is not None and seen_fine is not None
    assert seen_raised["pid"] == seen_exited["pid"] == seen_fine["pid"]
    assert seen_fine["partitions"] == "200" and seen_fine["views"] == []


def test_with_warm_drivers_off_each_run_has_a_process_of_its_own(emulator, probe):
    job, _ = probe
    emulator.control.post("glue", {"warm_drivers": False})

    first, seen_first = _run(emulator, job)
    second, seen_second = _run(emulator, job)

    assert (first["JobRunState"], second["JobRunState"]) == ("SUCCEEDED", "SUCCEEDED")
    assert seen_first is not None and seen_second is not None
    assert seen_first["pid"] != seen_second["pid"]
    assert "driver_host" not in _run_files(emulator, second["Id"])


def test_the_warm_drivers_setting_must_be_a_boolean(emulator):
    with pytest.raises(Exception, match="warm_drivers must be true or false"):
        emulator.control.post("glue", {"warm_drivers": "yes"})
    assert emulator.control.get("glue")["config"]["warm_drivers"] is True
