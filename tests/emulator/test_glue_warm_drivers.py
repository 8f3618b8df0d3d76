"""Warm Glue drivers: Spark runs of the same code reuse a driver, yet each run starts clean."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from .test_glue_runtime import _create_job, _log_messages, _name, _wait_for_run

pytestmark = pytest.mark.spark

# Prints what a run sees, then leaves traces a later run must not find.
PROBE_SCRIPT = """
import json
import os
import sys

from awsglue.utils import getResolvedOptions
from pyspark.sql import SparkSession

args = getResolvedOptions(sys.argv, ["JOB_NAME", "outcome"])
spark = SparkSession.builder.appName("probe").config("spark.ui.enabled", "false").getOrCreate()
from helper import VERSION

print(json.dumps({
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
    run = _wait_for_run(
        glue, job, glue.start_job_run(JobName=job, Arguments={"--outcome": outcome})["JobRunId"]
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
