"""Step Functions as AWS runs it, in a running emulator: terminal errors, payload and history limits, timeouts,
StopExecution, and service integrations signed as the state machine's role. Each test builds its own small
state machine."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.executions import finish
from tests.emulator.roles import create_role

LIMIT = 256 * 1024
DATA_LIMIT_CAUSE = (
    "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit."
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def machine_role(emulator) -> str:
    return create_role(emulator, ["lambda:InvokeFunction", "glue:*"])


def machine(emulator, definition: dict[str, Any], role: str) -> str:
    return emulator.client("stepfunctions").create_state_machine(
        name=unique("sm"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]


def run(emulator, definition: dict[str, Any], role: str, payload: Any = None, timeout: float = 60):
    arn = machine(emulator, definition, role)
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))["executionArn"]
    return finish(emulator, execution, timeout), history(emulator, execution)


def history(emulator, execution_arn: str) -> list[dict[str, Any]]:
    pages = emulator.client("stepfunctions").get_paginator("get_execution_history")
    pages = pages.paginate(executionArn=execution_arn, PaginationConfig={"PageSize": 1000})
    return [event for page in pages for event in page["events"]]


def doubling_task(catch: list[str], retry: list[str] | None = None) -> dict[str, Any]:
    """A Task whose Parameters double the input: 140 kB in, 280 kB of effective input."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "never-called", "Payload": {"a.$": "$.v", "b.$": "$.v"}},
        "Catch": [{"ErrorEquals": catch, "Next": "Caught"}],
        "End": True,
    }
    if retry:
        task["Retry"] = [{"ErrorEquals": retry, "MaxAttempts": 3, "IntervalSeconds": 1}]
    return {"StartAt": "Double", "States": {"Double": task, "Caught": {"Type": "Pass", "End": True}}}


def zipped(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def function(emulator) -> str:
    """A function that sleeps ``event["sleep"]`` seconds and echoes the event."""
    name = unique("fn")
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=create_role(emulator, ["logs:*"], service="lambda.amazonaws.com"),
        Handler="app.handler",
        Code={
            "ZipFile": zipped(
                "import time\n\ndef handler(event, context):\n"
                "    time.sleep(event.get('sleep', 0))\n    return event\n"
            )
        },
        Timeout=30,
    )
    return name


def invoke_task(function: str, **task: Any) -> dict[str, Any]:
    return {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
                **task,
            }
        },
    }


# -- terminal errors ----------------------------------------------------------------------------------


def test_states_all_neither_retries_nor_catches_data_limit_exceeded(emulator, machine_role):
    described, events = run(
        emulator, doubling_task(["States.ALL"], retry=["States.ALL"]), machine_role, {"v": "x" * 140_000}
    )

    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"
    assert described["cause"] == (
        "The state/task 'Double' has an input with a size exceeding the maximum number of bytes service limit."
    )
    assert [e["type"] for e in events].count("TaskFailed") == 1  # not retried
    assert "PassStateEntered" not in [e["type"] for e in events]  # not caught


def test_a_catcher_naming_data_limit_exceeded_catches_it(emulator, machine_role):
    described, _ = run(
        emulator, doubling_task(["States.DataLimitExceeded"]), machine_role, {"v": "x" * 140_000}
    )

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["Error"] == "States.DataLimitExceeded"


def test_a_parallel_branchs_data_limit_exceeded_fails_the_parallel_state_with_that_error(
    emulator, machine_role
):
    def parallel(catch: list[str]) -> dict[str, Any]:
        branch = {
            "StartAt": "B",
            "States": {"B": {"Type": "Pass", "Parameters": {"a.$": "$.v", "b.$": "$.v"}, "End": True}},
        }
        fan_out = {
            "Type": "Parallel",
            "Branches": [branch],
            "Catch": [{"ErrorEquals": catch, "Next": "Caught"}],
            "End": True,
        }
        return {"StartAt": "FanOut", "States": {"FanOut": fan_out, "Caught": {"Type": "Pass", "End": True}}}

    uncaught, _ = run(emulator, parallel(["States.ALL"]), machine_role, {"v": "x" * 140_000})
    caught, _ = run(emulator, parallel(["States.DataLimitExceeded"]), machine_role, {"v": "x" * 140_000})

    assert uncaught["status"] == "FAILED"
    assert uncaught["error"] == "States.DataLimitExceeded"
    assert caught["status"] == "SUCCEEDED"
    assert json.loads(caught["output"])["Error"] == "States.DataLimitExceeded"


def test_states_runtime_is_caught_neither_by_states_all_nor_by_its_own_name(emulator, machine_role):
    for catch in (["States.ALL"], ["States.Runtime"]):
        definition = doubling_task(catch)
        definition["States"]["Double"]["Parameters"]["Payload"] = {"a.$": "$.missing"}

        described, events = run(emulator, definition, machine_role, {"v": 1})

        assert described["status"] == "FAILED", catch
        assert described["error"] == "States.Runtime"
        assert "$.missing" in described["cause"]
        assert "PassStateEntered" not in [e["type"] for e in events]


def test_a_task_error_is_still_caught_by_states_all(emulator, machine_role):
    definition = doubling_task(["States.ALL"])
    definition["States"]["Double"]["Parameters"] = {"FunctionName": "no-such-function", "Payload": {}}

    described, _ = run(emulator, definition, machine_role)

    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    assert json.loads(described["output"])["Error"] == "Lambda.ResourceNotFoundException"


# -- payload limits -----------------------------------------------------------------------------------


def test_a_state_output_of_256_kib_passes_and_one_byte_more_fails(emulator, machine_role):
    def pass_state(length: int) -> dict[str, Any]:
        # The output is the JSON string: its quotes and ``length`` ASCII characters.
        return {"StartAt": "Big", "States": {"Big": {"Type": "Pass", "Result": "x" * length, "End": True}}}

    fits, _ = run(emulator, pass_state(LIMIT - 2), machine_role)
    over, _ = run(emulator, pass_state(LIMIT - 1), machine_role)

    assert fits["status"] == "SUCCEEDED"
    assert len(fits["output"].encode()) == LIMIT
    assert over["status"] == "FAILED"
    assert over["error"] == "States.DataLimitExceeded"
    assert over["cause"] == DATA_LIMIT_CAUSE.format("Big")


def test_a_task_result_over_256_kib_fails_the_task(emulator, machine_role, function):
    definition = invoke_task(function, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}])
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}

    described, events = run(emulator, definition, machine_role, {"v": "x" * (LIMIT - 40)})

    assert described["status"] == "FAILED", described.get("output", "")[:300]
    assert described["error"] == "States.DataLimitExceeded"
    failed = [e for e in events if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "States.DataLimitExceeded"


def test_start_execution_refuses_an_input_over_256_kib_counted_in_utf8_bytes(emulator, machine_role):
    sfn = emulator.client("stepfunctions")
    arn = machine(emulator, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, machine_role)
    # 131,078 characters, 262,147 bytes: over the limit only when counted in bytes.
    over = json.dumps({"v": "é" * 131_069}, ensure_ascii=False)
    exactly = json.dumps({"v": "x" * (LIMIT - 9)})

    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, input=over)
    accepted = sfn.start_execution(stateMachineArn=arn, input=exactly)

    assert len(over) < LIMIT < len(over.encode())
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidExecutionInput"
    assert error["Message"] == (
        "The input of the execution is 262147 bytes, over the maximum of 262144 bytes (UTF-8)."
    )
    assert len(exactly.encode()) == LIMIT
    assert finish(emulator, accepted["executionArn"])["status"] == "SUCCEEDED"


def test_start_sync_execution_refuses_an_oversized_input_and_is_otherwise_not_emulated(
    emulator, machine_role
):
    # StartSyncExecution's host prefix (sync-) cannot be put in front of an IP address.
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
    )
    arn = sfn.create_state_machine(
        name=unique("express"),
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=machine_role,
        type="EXPRESS",
    )["stateMachineArn"]

    with pytest.raises(ClientError) as oversized:
        sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"v": "x" * LIMIT}))
    with pytest.raises(ClientError) as fitting:
        sfn.start_sync_execution(stateMachineArn=arn, input="{}")

    assert oversized.value.response["Error"]["Code"] == "InvalidExecutionInput"
    assert fitting.value.response["Error"]["Code"] == "NotImplemented"


def test_an_execution_started_without_a_name_is_named_with_a_uuid(emulator, machine_role):
    sfn = emulator.client("stepfunctions")
    arn = machine(emulator, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, machine_role)

    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    name = first.rsplit(":", 1)[1]
    assert str(uuid.UUID(name)) == name
    assert first != second


# -- history, timeouts, stop --------------------------------------------------------------------------


def test_an_execution_fails_when_its_history_reaches_25000_events(emulator, machine_role):
    loop = {"StartAt": "Spin", "States": {"Spin": {"Type": "Pass", "Next": "Spin"}}}

    described, events = run(emulator, loop, machine_role, timeout=240)

    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert described["cause"] == "The execution reached the maximum number of history events (25000)."
    assert len(events) == 25_000
    assert events[-1]["id"] == 25_000
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["previousEventId"] == 24_999
    assert events[-2]["type"] == "PassStateExited"


def test_the_execution_timeout_ends_it_timed_out_with_a_stop_date(emulator, machine_role):
    definition = {
        "TimeoutSeconds": 1,
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
    }

    described, events = run(emulator, definition, machine_role, timeout=10)

    assert described["status"] == "TIMED_OUT"
    assert timedelta(seconds=0.9) <= described["stopDate"] - described["startDate"] <= timedelta(seconds=5)
    assert events[-1]["type"] == "ExecutionTimedOut"
    listed = emulator.client("stepfunctions").list_executions(stateMachineArn=described["stateMachineArn"])
    assert listed["executions"][0]["stopDate"] == described["stopDate"]


def test_a_task_past_its_own_timeout_fails_with_states_timeout(emulator, machine_role, function):
    definition = invoke_task(function, TimeoutSeconds=1)

    described, events = run(emulator, definition, machine_role, {"sleep": 5}, timeout=20)

    assert described["status"] == "FAILED"
    assert described["error"] == "States.Timeout"
    assert "TaskTimedOut" in [e["type"] for e in events]


def test_stop_execution_aborts_at_once_with_the_error_and_cause_given(emulator, machine_role, function):
    sfn = emulator.client("stepfunctions")
    arn = machine(emulator, invoke_task(function), machine_role)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"sleep": 4}))["executionArn"]
    time.sleep(1)

    stopped = sfn.stop_execution(executionArn=execution, error="Operator.Cancelled", cause="wrong file")
    described = sfn.describe_execution(executionArn=execution)

    assert described["status"] == "ABORTED"  # while the Lambda invocation is still running
    assert described["error"] == "Operator.Cancelled"
    assert described["cause"] == "wrong file"
    assert abs(described["stopDate"] - stopped["stopDate"]) < timedelta(milliseconds=2)
    # The interpreter records the abort once the running invocation returns.
    deadline = time.monotonic() + 30
    while not (aborted := [e for e in history(emulator, execution) if e["type"] == "ExecutionAborted"]):
        assert time.monotonic() < deadline, "no ExecutionAborted event"
        time.sleep(0.5)
    assert aborted[0]["executionAbortedEventDetails"] == {
        "error": "Operator.Cancelled",
        "cause": "wrong file",
    }
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_stopping_an_execution_stops_its_glue_job_run(emulator, machine_role, bucket):
    glue = emulator.client("glue")
    job = unique("job")
    emulator.client("s3").put_object(
        Bucket=bucket, Key=f"jobs/{job}.py", Body=b"import time\ntime.sleep(300)\n"
    )
    glue.create_job(
        Name=job,
        Role=create_role(emulator, ["logs:*", "s3:GetObject"], service="glue.amazonaws.com"),
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/jobs/{job}.py"},
    )
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": job},
                "End": True,
            }
        },
    }
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine(emulator, definition, machine_role))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while not glue.get_job_runs(JobName=job)["JobRuns"] and time.monotonic() < deadline:
        time.sleep(0.2)

    sfn.stop_execution(executionArn=execution)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run_state = glue.get_job_runs(JobName=job)["JobRuns"][0]["JobRunState"]
        if run_state == "STOPPED":
            break
        time.sleep(0.3)
    assert run_state == "STOPPED", glue.get_job_runs(JobName=job)["JobRuns"][0].get("ErrorMessage")
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


# -- service integrations as the state machine's role -------------------------------------------------


def iam_enforced(emulator) -> bool:
    return bool(emulator.control.status().get("iam", {}).get("enforcement"))


def test_a_lambda_task_without_lambda_invoke_function_fails_with_lambdas_access_denied(emulator, function):
    if not iam_enforced(emulator):
        pytest.skip("the emulator under test enforces no IAM policies")
    role = create_role(emulator, ["glue:*"])

    described, events = run(emulator, invoke_task(function), role, {"n": 1})

    assert described["status"] == "FAILED"
    assert described["error"] == "Lambda.AccessDeniedException"
    assert "lambda:InvokeFunction" in described["cause"]
    assert role.split("/")[-1] in described["cause"]
    assert [e for e in events if e["type"] == "TaskFailed"][0]["taskFailedEventDetails"][
        "resourceType"
    ] == "lambda"


def test_a_lambda_task_allowed_by_the_role_runs(emulator, machine_role, function):
    described, _ = run(emulator, invoke_task(function), machine_role, {"n": 1})

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 1}


def test_a_glue_task_without_glue_start_job_run_fails_with_glues_access_denied(emulator):
    if not iam_enforced(emulator):
        pytest.skip("the emulator under test enforces no IAM policies")
    role = create_role(emulator, ["lambda:InvokeFunction"])
    definition = {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": "any-job"},
                "End": True,
            }
        },
    }

    described, _ = run(emulator, definition, role)

    assert described["status"] == "FAILED"
    assert described["error"] == "Glue.AccessDeniedException"
    assert "glue:StartJobRun" in described["cause"]
