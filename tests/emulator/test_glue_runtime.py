"""The emulator's Glue runtime: job runs execute their script from S3, and report what happened.

Only the first test starts Spark (several seconds); the others run plain-Python scripts, which take the same
path through the runtime (fetch, launch, states, logs) in a fraction of the time.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from datetime import UTC, datetime

import pytest

from emulator.glue_runtime import process
from emulator.settings import EmulatorSettings
from tests.conftest import start_emulator

ROLE_NAME = "etl"
ROLE = f"arn:aws:iam::123456789012:role/{ROLE_NAME}"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"}

# Spark settings that keep a local run to a few seconds; they belong to the job script, not the runtime.
SPARK_SCRIPT = """
import sys

from awsglue.utils import getResolvedOptions
from pyspark.sql import SparkSession

args = getResolvedOptions(sys.argv, ["JOB_NAME", "table"])
spark = (
    SparkSession.builder.appName(args["JOB_NAME"])
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.shuffle.partitions", "2")
    .getOrCreate()
)
orders = spark.createDataFrame([("o-1", 3, 250), ("o-2", 1, 1999), ("o-3", 2, 5)], ["order_id", "quantity", "cents"])
table_name = args["table"]


def write_partition(rows):
    # Runs in a Spark executor: the helper comes from the --extra-py-files zip there too.
    import boto3
    from order_helpers import to_item

    table = boto3.resource("dynamodb").Table(table_name)
    for row in rows:
        table.put_item(Item=to_item(row))


orders.repartition(2).foreachPartition(write_partition)
spark.stop()
"""

HELPER_MODULE = """
def to_item(row):
    return {"order_id": row.order_id, "quantity": row.quantity, "total": f"{row.quantity * row.cents / 100:.2f}"}
"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _trust(*services: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _create_role(emulator, name: str, actions: list[str], trust: str) -> str:
    """A role that ``trust`` lets assume it, allowed ``actions`` on every resource (once per emulator)."""
    iam = emulator.client("iam")
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    return arn


def _ensure_role(emulator) -> str:
    """ROLE: what the test jobs run as (and the test state machines), allowed what their scripts do."""
    actions = ["s3:*", "dynamodb:*", "logs:*", "glue:*", "cloudwatch:PutMetricData"]
    return _create_role(emulator, ROLE_NAME, actions, _trust("glue.amazonaws.com", "states.amazonaws.com"))


def _create_job(emulator, bucket: str, script: str, **job: object) -> str:
    _ensure_role(emulator)
    role = str(job.pop("Role", ROLE))
    name = str(job.pop("Name", _name("job")))
    key = f"jobs/{name}.py"
    emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=textwrap.dedent(script).encode())
    emulator.client("glue").create_job(
        Name=name,
        Role=role,
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/{key}", "PythonVersion": "3"},
        GlueVersion="5.0",
        **job,
    )
    return name


def _wait_for_run(glue, job_name: str, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def _wait_for_state(glue, job_name: str, run_id: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]["JobRunState"] != state:
        assert time.monotonic() < deadline, f"run {run_id} never reached {state}"
        time.sleep(0.1)


def _run_state_machine(emulator, definition: dict, execution_input: dict, timeout: float = 120) -> dict:
    sfn = emulator.client("stepfunctions")
    _ensure_role(emulator)
    machine = sfn.create_state_machine(name=_name("sm"), definition=json.dumps(definition), roleArn=ROLE)
    arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(execution_input))[
        "executionArn"
    ]
    deadline = time.monotonic() + timeout
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=arn)["events"]
    execution["path"] = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    return execution


def _log_messages(emulator, group: str, run_id: str) -> list[str]:
    events = emulator.client("logs").get_log_events(logGroupName=group, logStreamName=run_id)["events"]
    return [event["message"] for event in events]


def _object_exists(emulator, bucket: str, key: str) -> bool:
    listed = emulator.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


@pytest.mark.spark
def test_a_sync_task_runs_the_pyspark_job_whose_executors_write_to_dynamodb(emulator, bucket):
    table = _name("orders")
    emulator.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    helpers = io.BytesIO()
    with zipfile.ZipFile(helpers, "w") as archive:
        archive.writestr("order_helpers.py", HELPER_MODULE)
    emulator.client("s3").put_object(Bucket=bucket, Key="libs/helpers.zip", Body=helpers.getvalue())
    job = _create_job(
        emulator,
        bucket,
        SPARK_SCRIPT,
        DefaultArguments={"--extra-py-files": f"s3://{bucket}/libs/helpers.zip"},
    )
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": job, "Arguments": {"--table.$": "$.table"}},
                "ResultSelector": {"run_id.$": "$.Id", "state.$": "$.JobRunState"},
                "End": True,
            }
        },
    }

    execution = _run_state_machine(emulator, definition, {"table": table})

    assert execution["status"] == "SUCCEEDED"
    [run] = emulator.client("glue").get_job_runs(JobName=job)["JobRuns"]
    assert json.loads(execution["output"]) == {"run_id": run["Id"], "state": "SUCCEEDED"}
    items = emulator.client("dynamodb").scan(TableName=table)["Items"]
    assert sorted(items, key=lambda item: item["order_id"]["S"]) == [
        {"order_id": {"S": "o-1"}, "quantity": {"N": "3"}, "total": {"S": "7.50"}},
        {"order_id": {"S": "o-2"}, "quantity": {"N": "1"}, "total": {"S": "19.99"}},
        {"order_id": {"S": "o-3"}, "quantity": {"N": "2"}, "total": {"S": "0.10"}},
    ]
    # The task notices the end of the run within a couple of polls, not minutes later.
    assert (execution["stopDate"] - run["CompletedOn"]).total_seconds() < 3


def test_a_failing_script_fails_the_task_so_a_catch_routes_to_the_fallback(emulator, bucket):
    job = _create_job(emulator, bucket, "raise ValueError('boom: row 5 has no order_id')\n")
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": job},
                "Catch": [
                    {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "LoadFailed"}
                ],
                "Next": "Loaded",
            },
            "Loaded": {"Type": "Succeed"},
            "LoadFailed": {
                "Type": "Pass",
                "Parameters": {
                    "run_date.$": "$.run_date",
                    "error.$": "$.error.Error",
                    "cause.$": "$.error.Cause",
                },
                "End": True,
            },
        },
    }

    execution = _run_state_machine(emulator, definition, {"run_date": "2026-11-23"})

    assert execution["status"] == "SUCCEEDED"
    assert execution["path"] == ["Load", "LoadFailed"]
    output = json.loads(execution["output"])
    assert (output["run_date"], output["error"]) == ("2026-11-23", "States.TaskFailed")
    # The cause is the failed JobRun, as GetJobRun reports it.
    cause = json.loads(output["cause"])
    assert (cause["JobName"], cause["JobRunState"]) == (job, "FAILED")
    run = emulator.client("glue").get_job_run(JobName=job, RunId=cause["Id"])["JobRun"]
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == cause["ErrorMessage"] == "ValueError: boom: row 5 has no order_id"


def test_the_script_gets_default_arguments_overridden_by_the_run_and_its_identity(emulator, bucket):
    script = """
    import json
    import sys

    import boto3
    from awsglue.utils import getResolvedOptions

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "run_date", "source", "env", "out"])
    bucket, key = args["out"].split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(args))
    """
    out_key = f"out/{uuid.uuid4().hex}.json"
    job = _create_job(
        emulator,
        bucket,
        script,
        DefaultArguments={"--run_date": "2026-01-01", "--source": "landing", "--out": f"{bucket}/{out_key}"},
        NonOverridableArguments={"--env": "local"},
    )
    glue = emulator.client("glue")

    run_id = glue.start_job_run(JobName=job, Arguments={"--run_date": "2026-11-23", "--env": "prod"})[
        "JobRunId"
    ]
    run = _wait_for_run(glue, job, run_id)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert run["Arguments"] == {
        "--run_date": "2026-11-23",
        "--source": "landing",
        "--out": f"{bucket}/{out_key}",
        "--env": "local",
    }
    seen = json.loads(emulator.client("s3").get_object(Bucket=bucket, Key=out_key)["Body"].read())
    assert {k: seen[k] for k in ("JOB_NAME", "JOB_RUN_ID", "run_date", "source", "env")} == {
        "JOB_NAME": job,
        "JOB_RUN_ID": run_id,
        "run_date": "2026-11-23",
        "source": "landing",
        "env": "local",
    }
    assert run["StartedOn"] <= run["CompletedOn"] <= datetime.now(UTC)
    assert run["ExecutionTime"] == round((run["CompletedOn"] - run["StartedOn"]).total_seconds())


def test_the_script_acts_as_the_jobs_role_in_glues_session_and_reaches_the_internal_endpoint(
    emulator, bucket
):
    script = """
    import json
    import os
    import sys

    import boto3
    from awsglue.utils import getResolvedOptions

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "out"])
    identity = boto3.client("sts").get_caller_identity()
    seen = {
        "arn": identity["Arn"],
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        "ca_bundle": os.environ.get("AWS_CA_BUNDLE"),
    }
    bucket, key = args["out"].split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(seen))
    """
    out_key = f"out/{uuid.uuid4().hex}.json"
    job = _name("identity")
    emulator.client("s3").put_object(
        Bucket=bucket, Key=f"jobs/{job}.py", Body=textwrap.dedent(script).encode()
    )
    glue = emulator.client("glue")
    _ensure_role(emulator)
    # The role by name, as Glue also takes it.
    glue.create_job(
        Name=job,
        Role=ROLE_NAME,
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/jobs/{job}.py"},
        DefaultArguments={"--out": f"{bucket}/{out_key}"},
    )

    run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    seen = json.loads(emulator.client("s3").get_object(Bucket=bucket, Key=out_key)["Body"].read())
    assert seen["arn"] == f"arn:aws:sts::123456789012:assumed-role/{ROLE_NAME}/GlueJobRunnerSession"
    assert seen["key"].startswith("ASIA")
    settings = EmulatorSettings(port=emulator.port, state_dir=emulator.state_dir)
    assert seen["endpoint"] == settings.internal_endpoint
    ca_bundle = settings.ca_bundle
    assert seen["ca_bundle"] == (None if ca_bundle is None else str(ca_bundle))


def test_a_job_whose_role_glue_cannot_assume_fails_its_run(emulator, bucket):
    marker = f"markers/{uuid.uuid4().hex}"
    lambda_only = _create_role(emulator, _name("lambda-only"), ["s3:*"], _trust("lambda.amazonaws.com"))
    script = f"import boto3\nboto3.client('s3').put_object(Bucket='{bucket}', Key='{marker}', Body=b'')\n"
    job = _create_job(emulator, bucket, script, Role=lambda_only)
    glue = emulator.client("glue")

    run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])

    assert run["JobRunState"] == "FAILED"
    assert (
        run["ErrorMessage"] == "Service is unable to assume provided role. Please verify role's TrustPolicy."
    )
    assert not _object_exists(emulator, bucket, marker)


def test_the_fail_glue_knob_fails_the_run_with_its_message_without_running_the_script(emulator, bucket):
    marker = f"markers/{uuid.uuid4().hex}"
    job = _create_job(
        emulator,
        bucket,
        f"import boto3\nboto3.client('s3').put_object(Bucket='{bucket}', Key='{marker}', Body=b'')\n",
    )
    glue = emulator.client("glue")
    emulator.control.post("faults", {"fail_glue": {job: "Glue is unavailable (emulated fault)"}})
    try:
        run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])
    finally:
        emulator.control.delete("faults")

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "Glue is unavailable (emulated fault)"
    assert not _object_exists(emulator, bucket, marker)
    assert emulator.control.get("faults")["fail_glue"] == {}


def test_a_missing_script_fails_the_run_naming_where_it_was_looked_for(emulator, bucket):
    job = _name("job")
    glue = emulator.client("glue")
    _ensure_role(emulator)
    glue.create_job(
        Name=job, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/jobs/missing.py"}
    )

    run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == (
        f"The job's script s3://{bucket}/jobs/missing.py was not found in S3 (NoSuchKey): "
        "upload it before starting the job"
    )


def test_starting_a_run_of_an_unknown_job_is_refused(emulator):
    glue = emulator.client("glue")

    with pytest.raises(glue.exceptions.EntityNotFoundException, match="Job no-such-job not found"):
        glue.start_job_run(JobName="no-such-job")


def test_the_job_cannot_import_the_projects_development_install(emulator, bucket):
    job = _create_job(emulator, bucket, "import pipeline\n")
    glue = emulator.client("glue")

    run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ModuleNotFoundError: No module named 'pipeline'"


def test_the_scripts_output_and_errors_go_to_cloudwatch_logs(emulator, bucket):
    script = """
    import sys

    print("read 3 rows")
    print("loaded 2 rows")
    print("warning: 1 row rejected", file=sys.stderr)
    """
    job = _create_job(emulator, bucket, script)
    glue = emulator.client("glue")

    run = _wait_for_run(glue, job, glue.start_job_run(JobName=job)["JobRunId"])

    assert run["JobRunState"] == "SUCCEEDED"
    assert run["LogGroupName"] == "/aws-glue/jobs"
    assert _log_messages(emulator, "/aws-glue/jobs/output", run["Id"]) == ["read 3 rows", "loaded 2 rows"]
    assert _log_messages(emulator, "/aws-glue/jobs/error", run["Id"]) == ["warning: 1 row rejected"]


def test_a_run_past_its_timeout_is_killed_and_ends_in_timeout(emulator, bucket):
    script = """
    import os
    import time

    print(os.getpid(), flush=True)
    time.sleep(300)
    """
    job = _create_job(emulator, bucket, script, Timeout=2)
    glue = emulator.client("glue")
    # One minute of Timeout lasts half a second, so the 2-minute timeout strikes after one second.
    emulator.control.post("glue", {"timeout_unit_seconds": 0.5})
    try:
        run_id = glue.start_job_run(JobName=job)["JobRunId"]
    finally:
        emulator.control.delete("glue")
    run = _wait_for_run(glue, job, run_id, timeout=30)

    assert run["JobRunState"] == "TIMEOUT"
    assert run["Timeout"] == 2
    assert run["ErrorMessage"] == "Job run timed out after 2 minute(s), its Timeout"
    assert 1 <= run["ExecutionTime"] <= 8
    [pid] = _log_messages(emulator, "/aws-glue/jobs/output", run_id)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)


def test_runs_beyond_max_concurrent_runs_are_refused_until_one_ends(emulator, bucket):
    job = _create_job(
        emulator, bucket, "import time\ntime.sleep(300)\n", ExecutionProperty={"MaxConcurrentRuns": 2}
    )
    glue = emulator.client("glue")
    first = glue.start_job_run(JobName=job)["JobRunId"]
    second = glue.start_job_run(JobName=job)["JobRunId"]
    try:
        with pytest.raises(
            glue.exceptions.ConcurrentRunsExceededException, match=f"Concurrent runs exceeded for {job}"
        ):
            glue.start_job_run(JobName=job)

        _wait_for_state(glue, job, first, "RUNNING")
        stopped = glue.batch_stop_job_run(JobName=job, JobRunIds=[first])
        assert stopped["SuccessfulSubmissions"] == [{"JobName": job, "JobRunId": first}]
        assert _wait_for_run(glue, job, first)["JobRunState"] == "STOPPED"
        third = glue.start_job_run(JobName=job)["JobRunId"]
    finally:
        glue.batch_stop_job_run(JobName=job, JobRunIds=[first, second])

    assert [run["Id"] for run in glue.get_job_runs(JobName=job)["JobRuns"]] == [third, second, first]
    glue.batch_stop_job_run(JobName=job, JobRunIds=[third])
    assert _wait_for_run(glue, job, third)["JobRunState"] == "STOPPED"


def test_a_sync_task_beyond_max_concurrent_runs_fails_with_the_glue_error_a_retry_can_match(emulator, bucket):
    job = _create_job(emulator, bucket, "import time\ntime.sleep(300)\n")
    glue = emulator.client("glue")
    running = glue.start_job_run(JobName=job)["JobRunId"]
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": job},
                "Catch": [
                    {
                        "ErrorEquals": ["Glue.ConcurrentRunsExceededException"],
                        "ResultPath": "$.error",
                        "Next": "Busy",
                    }
                ],
                "End": True,
            },
            "Busy": {"Type": "Pass", "Parameters": {"error.$": "$.error.Error"}, "End": True},
        },
    }
    try:
        execution = _run_state_machine(emulator, definition, {})
    finally:
        glue.batch_stop_job_run(JobName=job, JobRunIds=[running])

    assert execution["path"] == ["Load", "Busy"]
    assert json.loads(execution["output"]) == {"error": "Glue.ConcurrentRunsExceededException"}
    assert [run["Id"] for run in glue.get_job_runs(JobName=job)["JobRuns"]] == [running]


def test_stopping_a_finished_run_is_reported_as_an_error(emulator, bucket):
    job = _create_job(emulator, bucket, "print('done')\n")
    glue = emulator.client("glue")
    run_id = glue.start_job_run(JobName=job)["JobRunId"]
    assert _wait_for_run(glue, job, run_id)["JobRunState"] == "SUCCEEDED"

    answer = glue.batch_stop_job_run(JobName=job, JobRunIds=[run_id])

    assert answer["SuccessfulSubmissions"] == []
    assert answer["Errors"] == [
        {
            "JobName": job,
            "JobRunId": run_id,
            "ErrorDetail": {
                "ErrorCode": "InvalidInputException",
                "ErrorMessage": f"Job run {run_id} is not running (it is SUCCEEDED).",
            },
        }
    ]


@pytest.fixture(scope="module")
def emulator_without_java(tmp_path_factory):
    """A second emulator that finds no Java: no JAVA_HOME, and a PATH holding only the venv's tools."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("JAVA_HOME", raising=False)
        patch.setenv("PATH", os.path.dirname(sys.executable))
        process, running = start_emulator(tmp_path_factory.mktemp("emulator-without-java"))
    try:
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_without_java_a_spark_job_fails_saying_java_17_is_needed(emulator_without_java):
    emulator = emulator_without_java
    emulator.client("s3").create_bucket(Bucket="scripts")
    emulator.client("s3").put_object(Bucket="scripts", Key="load.py", Body=b"print('never runs')\n")
    glue = emulator.client("glue")
    _ensure_role(emulator)
    glue.create_job(
        Name="load", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/load.py"}
    )

    run = _wait_for_run(glue, "load", glue.start_job_run(JobName="load")["JobRunId"])

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith("Java 17 is needed to run Glue Spark jobs locally")
    assert "JAVA_HOME" in run["ErrorMessage"]


def test_without_java_a_python_shell_job_still_runs(emulator_without_java):
    emulator = emulator_without_java
    emulator.client("s3").create_bucket(Bucket="shell-scripts")
    emulator.client("s3").put_object(Bucket="shell-scripts", Key="report.py", Body=b"print('report sent')\n")
    glue = emulator.client("glue")
    _ensure_role(emulator)
    glue.create_job(
        Name="report",
        Role=ROLE,
        Command={"Name": "pythonshell", "ScriptLocation": "s3://shell-scripts/report.py"},
    )

    run = _wait_for_run(glue, "report", glue.start_job_run(JobName="report")["JobRunId"])

    assert run["JobRunState"] == "SUCCEEDED"
    assert _log_messages(emulator, "/aws-glue/jobs/output", run["Id"]) == ["report sent"]


# An uncaught error from a function run by foreachPartition, as the driver's excepthook records it (trimmed).
EXECUTOR_ERROR = """\
py4j.protocol.Py4JJavaError: An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 0.0 failed 1 times, \
most recent failure: Lost task 1.0 in stage 0.0 (TID 1) (localhost executor driver): \
org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/pyspark/python/lib/pyspark.zip/pyspark/worker.py", line 1247, in main
    process()
  File "/work/glue/load/jr_1/load.py", line 15, in write
    raise KeyError("no such product p-9")
KeyError: 'no such product p-9'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
\tat org.apache.spark.api.python.PythonRunner$$anon$3.read(PythonRunner.scala:784)
"""


def test_an_executor_error_is_reported_as_the_exception_the_worker_raised():
    assert process.error_summary(EXECUTOR_ERROR, stderr="", returncode=1) == "KeyError: 'no such product p-9'"


def test_a_script_that_exits_without_an_exception_is_reported_by_its_exit_code():
    stderr = "26/11/23 14:18:43 WARN Utils: something\nno rows staged for 2026-11-23\n"

    summary = process.error_summary(None, stderr=stderr, returncode=3)

    assert summary == "the job script exited with code 3: no rows staged for 2026-11-23"


def test_java_is_found_through_the_symlinks_of_the_java_on_path(tmp_path):
    jdk = tmp_path / "jvm" / "java-17"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk / "bin" / "java").chmod(0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").symlink_to(jdk / "bin" / "java")

    assert process.find_java_home({"PATH": str(tmp_path / "bin")}) == jdk
    assert (
        process.find_java_home({"PATH": str(tmp_path / "bin"), "JAVA_HOME": str(tmp_path / "nothing")}) == jdk
    )
    assert process.find_java_home({"PATH": str(tmp_path), "JAVA_HOME": str(jdk)}) == jdk
    assert process.find_java_home({"PATH": str(tmp_path)}) is None
