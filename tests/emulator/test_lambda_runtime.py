"""The emulator's Lambda runtime, through real boto3 clients: Invoke runs the deployed zip like AWS would."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from emulator.settings import EmulatorSettings

STATE_HANDLER = """
import os
import sys
import time

INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    time.sleep(event.get("sleep", 0))
    return {
        "invocations": INVOCATIONS,
        "pid": os.getpid(),
        "event": event,
        "environ": dict(os.environ),
        "sys_path": sys.path,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def create_role(emulator, name: str, actions: list[str], trust: str = LAMBDA_TRUST) -> str:
    """A role that ``trust`` lets assume it, allowed ``actions`` on every resource of the test's own."""
    iam = emulator.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    return arn


@pytest.fixture(scope="module")
def role_arn(emulator) -> str:
    """The functions' execution role: the runtime tests' handlers write to S3 and DynamoDB."""
    return create_role(emulator, unique("lambda-runtime-test"), ["s3:*", "dynamodb:*", "logs:*"])


def internal_settings(emulator) -> EmulatorSettings:
    """The settings the emulator under test hands its workers (the endpoint and CA bundle they reach it by)."""
    return EmulatorSettings(port=emulator.port, state_dir=emulator.state_dir)


@pytest.fixture
def deploy(emulator, role_arn):
    """Create a python3.11 function from ``{path: source}`` and return its name."""

    def create(files: dict[str, str], handler: str = "app.handler", **config: Any) -> str:
        name = unique("fn")
        emulator.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": zipped(files)},
            **config,
        )
        return name

    return create


def invoke(emulator, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    answer = emulator.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return answer, json.loads(answer["Payload"].read())


def test_invoke_returns_the_handler_result_with_the_function_environment_and_context(emulator, deploy):
    name = deploy(
        {"app.py": STATE_HANDLER}, Environment={"Variables": {"TABLE_NAME": "orders"}}, MemorySize=256
    )

    answer, result = invoke(emulator, name, {"order_id": "o-1"})

    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert result["event"] == {"order_id": "o-1"}
    environ = result["environ"]
    assert environ["TABLE_NAME"] == "orders"
    settings = internal_settings(emulator)
    assert environ["AWS_ENDPOINT_URL"] == settings.internal_endpoint
    ca_bundle = settings.ca_bundle
    assert environ.get("AWS_CA_BUNDLE") == (None if ca_bundle is None else str(ca_bundle))
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert environ["_HANDLER"] == "app.handler"
    assert environ["TZ"] == "UTC"
    # Temporary credentials of the execution role, issued by the emulator's STS (ASIA: a session's key).
    assert environ["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert environ["AWS_SECRET_ACCESS_KEY"] and environ["AWS_SESSION_TOKEN"]
    assert "VIRTUAL_ENV" not in environ and "PYTHONPATH" not in environ
    context = result["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert context["memory_limit_in_mb"] == "256"
    assert context["aws_request_id"] == answer["ResponseMetadata"]["RequestId"]
    assert context["log_stream_name"] == environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining_ms"] <= 3000


def test_the_import_path_is_the_zip_then_the_runtime_packages_then_the_standard_library(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})

    _, result = invoke(emulator, name)

    task_root, runtime_dir, *stdlib = result["sys_path"]
    assert task_root == result["environ"]["LAMBDA_TASK_ROOT"]
    assert runtime_dir.startswith(str(emulator.state_dir))
    assert runtime_dir == result["environ"]["LAMBDA_RUNTIME_DIR"]
    assert stdlib and not any("site-packages" in entry for entry in stdlib)


def test_the_function_reaches_the_emulator_through_boto3_from_the_runtime(emulator, deploy):
    bucket = unique("lambda-writes")
    emulator.client("s3").create_bucket(Bucket=bucket)
    code = """
import boto3


def handler(event, context):
    boto3.client("s3").put_object(Bucket=event["bucket"], Key="hello.txt", Body=b"written by the function")
    return {"boto3": boto3.__version__, "from": boto3.__file__}
"""
    name = deploy({"app.py": code})

    _, result = invoke(emulator, name, {"bucket": bucket})

    body = emulator.client("s3").get_object(Bucket=bucket, Key="hello.txt")["Body"].read()
    assert body == b"written by the function"
    assert result["from"].startswith(str(emulator.state_dir))


IDENTITY_HANDLER = """
import boto3


def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    return {key: identity[key] for key in ("Account", "Arn", "UserId")}
"""


def test_a_worker_acts_as_the_execution_role_in_a_session_named_after_the_function(
    emulator, deploy, role_arn
):
    name = deploy({"app.py": IDENTITY_HANDLER})
    other_role = create_role(emulator, unique("lambda-other-role"), ["s3:ListAllMyBuckets"])

    _, identity = invoke(emulator, name)
    emulator.client("lambda").update_function_configuration(FunctionName=name, Role=other_role)
    _, after_update = invoke(emulator, name)

    role_name, other_name = role_arn.rsplit("/", 1)[1], other_role.rsplit("/", 1)[1]
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role_name}/{name}"
    assert identity["Account"] == "123456789012"
    assert identity["UserId"].endswith(f":{name}")
    # A new role reaches new execution environments, never one holding the old role's credentials.
    assert after_update["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{other_name}/{name}"


def test_a_role_whose_trust_policy_does_not_name_lambda_is_refused_at_create_and_update(emulator, deploy):
    glue_trust = LAMBDA_TRUST.replace("lambda.amazonaws.com", "glue.amazonaws.com")
    untrusting = create_role(emulator, unique("not-for-lambda"), ["s3:ListAllMyBuckets"], trust=glue_trust)
    client = emulator.client("lambda")
    name = unique("fn")

    with pytest.raises(client.exceptions.InvalidParameterValueException) as created:
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=untrusting,
            Handler="app.handler",
            Code={"ZipFile": zipped({"app.py": IDENTITY_HANDLER})},
        )
    existing = deploy({"app.py": IDENTITY_HANDLER})
    with pytest.raises(client.exceptions.InvalidParameterValueException) as updated:
        client.update_function_configuration(FunctionName=existing, Role=untrusting)

    message = "The role defined for the function cannot be assumed by Lambda."
    assert created.value.response["Error"]["Message"] == message
    assert created.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert updated.value.response["Error"]["Message"] == message
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)
    assert client.get_function_configuration(FunctionName=existing)["Role"] != untrusting


def test_an_invocation_after_the_role_stopped_trusting_lambda_fails_with_the_same_error(emulator):
    iam, client = emulator.client("iam"), emulator.client("lambda")
    role_name = unique("trust-revoked")
    role = create_role(emulator, role_name, ["logs:*"])
    name = unique("fn")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": zipped({"app.py": IDENTITY_HANDLER})},
    )
    iam.update_assume_role_policy(
        RoleName=role_name, PolicyDocument=LAMBDA_TRUST.replace("lambda.amazonaws.com", "glue.amazonaws.com")
    )

    with pytest.raises(client.exceptions.InvalidParameterValueException) as refused:
        client.invoke(FunctionName=name, Payload=b"{}")

    assert refused.value.response["Error"]["Message"] == (
        "The role defined for the function cannot be assumed by Lambda."
    )


def test_module_state_survives_between_invocations_of_a_warm_environment(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})

    _, first = invoke(emulator, name)
    _, second = invoke(emulator, name)

    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert first["pid"] == second["pid"]
    assert first["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"] == second["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_concurrent_invocations_run_in_separate_environments(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER}, Timeout=10)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: invoke(emulator, name, {"sleep": 1})[1], range(3)))

    assert len({r["pid"] for r in results}) == 3
    assert len({r["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"] for r in results}) == 3
    assert [r["invocations"] for r in results] == [1, 1, 1]


def test_a_code_update_starts_fresh_environments_with_the_new_code(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    _, before = invoke(emulator, name)
    new_code = STATE_HANDLER.replace('"invocations": INVOCATIONS', '"invocations": INVOCATIONS * 100')

    emulator.client("lambda").update_function_code(FunctionName=name, ZipFile=zipped({"app.py": new_code}))
    _, after = invoke(emulator, name)

    assert before["invocations"] == 1
    assert after["invocations"] == 100
    assert after["pid"] != before["pid"]


def test_a_configuration_change_reaches_new_environments(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER}, Environment={"Variables": {"STAGE": "one"}})
    _, before = invoke(emulator, name)

    emulator.client("lambda").update_function_configuration(
        FunctionName=name, Environment={"Variables": {"STAGE": "two"}}
    )
    _, after = invoke(emulator, name)

    assert (before["environ"]["STAGE"], after["environ"]["STAGE"]) == ("one", "two")
    assert after["invocations"] == 1


def test_a_function_is_found_by_arn_partial_arn_and_qualifier(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"

    _, by_arn = invoke(emulator, arn)
    _, by_partial_arn = invoke(emulator, f"123456789012:function:{name}")
    _, by_qualifier = invoke(emulator, name, Qualifier="$LATEST")

    assert by_arn["context"]["invoked_function_arn"] == arn
    assert by_partial_arn["context"]["invoked_function_arn"] == arn
    assert by_qualifier["context"]["invoked_function_arn"] == f"{arn}:$LATEST"
    assert [by_arn["invocations"], by_partial_arn["invocations"], by_qualifier["invocations"]] == [1, 2, 3]


def test_a_published_version_runs_its_own_code_under_its_version_number(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    client = emulator.client("lambda")
    version = client.publish_version(FunctionName=name)["Version"]
    new_code = STATE_HANDLER.replace('"invocations": INVOCATIONS', '"invocations": -INVOCATIONS')
    client.update_function_code(FunctionName=name, ZipFile=zipped({"app.py": new_code}))

    answer, published = invoke(emulator, name, Qualifier=version)
    _, latest = invoke(emulator, name)

    assert version == "1"
    assert answer["ExecutedVersion"] == "1"
    assert published["invocations"] == 1
    assert published["environ"]["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert published["environ"]["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[-1].startswith("[1]")
    assert published["context"]["invoked_function_arn"].endswith(f":function:{name}:1")
    assert latest["invocations"] == -1


def test_reserved_concurrency_of_zero_throttles_every_invocation(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    client = emulator.client("lambda")
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    with pytest.raises(client.exceptions.TooManyRequestsException, match="Rate Exceeded"):
        client.invoke(FunctionName=name, Payload=b"{}")


def test_an_unknown_function_is_a_resource_not_found_error(emulator):
    client = emulator.client("lambda")

    with pytest.raises(
        client.exceptions.ResourceNotFoundException, match="Function not found: arn:aws:lambda"
    ):
        client.invoke(FunctionName="no-such-function", Payload=b"{}")


def test_a_payload_that_is_not_json_is_refused(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    client = emulator.client("lambda")

    with pytest.raises(
        client.exceptions.InvalidRequestContentException, match="Could not parse request body"
    ):
        client.invoke(FunctionName=name, Payload=b"{not json")


def test_an_import_the_zip_does_not_bundle_fails_like_on_aws(emulator, deploy):
    # requests is installed where the emulator runs, but not in AWS's runtime: it must not be importable.
    name = deploy({"app.py": "import requests\n\n\ndef handler(event, context):\n    return 'unreachable'\n"})

    answer, error = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'requests'"


def test_a_missing_handler_function_fails_with_handler_not_found(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER}, handler="app.missing")

    answer, error = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'missing' missing on module 'app'"


def test_a_result_that_is_not_json_serialisable_is_a_marshal_error(emulator, deploy):
    name = deploy({"app.py": "def handler(event, context):\n    return {1, 2}\n"})

    answer, error = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_a_handler_that_exits_the_process_is_a_runtime_exit_error(emulator, deploy):
    name = deploy({"app.py": "import sys\n\n\ndef handler(event, context):\n    sys.exit(3)\n"})

    answer, error = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {answer['ResponseMetadata']['RequestId']} Error: Runtime exited with error: exit status 3",
    }


def test_a_handler_past_its_timeout_is_stopped_with_sandbox_timedout(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER}, Timeout=1)

    answer, error = invoke(emulator, name, {"sleep": 30})
    _, next_result = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert error["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"
    # The timed-out environment is gone: the next invocation starts a new one.
    assert next_result["invocations"] == 1


def test_a_raised_exception_is_returned_under_its_class_name(emulator, deploy):
    code = """
class InvalidOrderError(Exception):
    pass


def handler(event, context):
    raise InvalidOrderError(f"amount must be positive, got {event['amount']}")
"""
    name = deploy({"app.py": code})

    answer, error = invoke(emulator, name, {"amount": -5})

    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "InvalidOrderError"
    assert error["errorMessage"] == "amount must be positive, got -5"
    assert error["requestId"] == answer["ResponseMetadata"]["RequestId"]
    assert len(error["stackTrace"]) == 1
    assert 'app.py", line 7, in handler' in error["stackTrace"][0]


def test_the_fail_lambda_knob_fails_the_function_without_running_it(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})
    before = emulator.control.get("faults")["fail_lambda"]
    emulator.control.post("faults", {"fail_lambda": {**before, name: "injected by the test"}})
    try:
        answer, error = invoke(emulator, name)
    finally:
        emulator.control.post("faults", {"fail_lambda": before})
    _, after = invoke(emulator, name)

    assert answer["FunctionError"] == "Unhandled"
    assert error["errorType"] == "EmulatedFault"
    assert error["errorMessage"] == "injected by the test"
    assert after["invocations"] == 1


def test_function_output_goes_to_cloudwatch_logs_with_lambda_report_lines(emulator, deploy):
    code = """
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("importing app")


def handler(event, context):
    print(f"loading order {event['order_id']}")
    logger.info("stored %s", event["order_id"])
    return "ok"
"""
    name = deploy({"app.py": code}, MemorySize=512)
    logs = emulator.client("logs")

    answer, result = invoke(emulator, name, {"order_id": "o-7"}, LogType="Tail")

    request_id = answer["ResponseMetadata"]["RequestId"]
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"])
    events = logs.get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=streams[0]["logStreamName"]
    )
    messages = [e["message"] for e in events["events"]]
    assert messages[:3] == [
        "importing app",
        f"START RequestId: {request_id} Version: $LATEST",
        "loading order o-7",
    ]
    assert re.fullmatch(rf"\[INFO\]\t\S+Z\t{request_id}\tstored o-7", messages[3])
    assert messages[4] == f"END RequestId: {request_id}"
    assert re.fullmatch(
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 512 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        messages[5],
    )
    assert result == "ok"
    assert base64.b64decode(answer["LogResult"]).decode().splitlines() == messages


def test_an_event_invocation_is_accepted_and_runs_in_the_background(emulator, deploy):
    bucket = unique("lambda-events")
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=bucket)
    code = """
import json

import boto3


def handler(event, context):
    boto3.client("s3").put_object(Bucket=event["bucket"], Key="event.json", Body=json.dumps(event))
"""
    name = deploy({"app.py": code})

    answer = emulator.client("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"bucket": bucket, "n": 3})
    )

    assert answer["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if keys:
            break
        time.sleep(0.2)
    body = json.loads(s3.get_object(Bucket=bucket, Key="event.json")["Body"].read())
    assert body == {"bucket": bucket, "n": 3}


def test_a_dry_run_checks_the_function_without_running_it(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})

    answer = emulator.client("lambda").invoke(FunctionName=name, InvocationType="DryRun")
    _, result = invoke(emulator, name)

    assert answer["StatusCode"] == 204
    assert result["invocations"] == 1


ORDER_HANDLER = """
import os
from decimal import Decimal

import boto3

dynamodb = boto3.resource("dynamodb")


class InvalidOrderError(Exception):
    pass


class TransientStoreError(Exception):
    pass


def first_attempt(order_id):
    answer = dynamodb.Table(os.environ["ATTEMPTS_TABLE"]).update_item(
        Key={"order_id": order_id},
        UpdateExpression="ADD attempts :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    return answer["Attributes"]["attempts"] == 1


def handler(event, context):
    order_id = event["order_id"]
    if not order_id:
        raise InvalidOrderError("order_id is empty")
    if event["amount"] <= 0:
        raise InvalidOrderError(f"amount must be positive, got {event['amount']}")
    if order_id in os.environ["FLAKY_ORDERS"].split(",") and first_attempt(order_id):
        raise TransientStoreError(f"store unavailable for {order_id}")
    dynamodb.Table(os.environ["ORDERS_TABLE"]).put_item(
        Item={"order_id": order_id, "amount": Decimal(str(event["amount"])), "customer": event["customer"]}
    )
    return {"order_id": order_id, "status": "loaded"}
"""


def _create_table(dynamodb, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _order_machine(function_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "LoadOrders",
        "States": {
            "LoadOrders": {
                "Type": "Map",
                "ItemsPath": "$.orders",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "LoadOrder",
                    "States": {
                        "LoadOrder": {
                            "Type": "Task",
                            "Resource": function_arn,
                            "Retry": [
                                {
                                    "ErrorEquals": ["TransientStoreError"],
                                    "IntervalSeconds": 1,
                                    "MaxAttempts": 2,
                                    "BackoffRate": 1.0,
                                }
                            ],
                            "Catch": [
                                {
                                    "ErrorEquals": ["InvalidOrderError"],
                                    "ResultPath": "$.error",
                                    "Next": "Reject",
                                }
                            ],
                            "End": True,
                        },
                        "Reject": {
                            "Type": "Pass",
                            "Parameters": {
                                "order_id.$": "$.order_id",
                                "status": "rejected",
                                "error.$": "$.error.Error",
                                "cause.$": "States.StringToJson($.error.Cause)",
                            },
                            "End": True,
                        },
                    },
                },
                "End": True,
            }
        },
    }


def test_a_state_machine_retries_transient_errors_and_catches_invalid_orders_by_class_name(emulator, deploy):
    dynamodb, sfn = emulator.client("dynamodb"), emulator.client("stepfunctions")
    orders_table, attempts_table = unique("orders"), unique("attempts")
    _create_table(dynamodb, orders_table)
    _create_table(dynamodb, attempts_table)
    name = deploy(
        {"app.py": ORDER_HANDLER},
        Timeout=10,
        Environment={
            "Variables": {
                "ORDERS_TABLE": orders_table,
                "ATTEMPTS_TABLE": attempts_table,
                "FLAKY_ORDERS": "o-3",
            }
        },
    )
    function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    machine_arn = sfn.create_state_machine(
        name=unique("load-orders"),
        definition=json.dumps(_order_machine(function_arn)),
        roleArn=create_role(
            emulator,
            unique("states-invoke"),
            ["lambda:InvokeFunction"],
            trust=LAMBDA_TRUST.replace("lambda.amazonaws.com", "states.amazonaws.com"),
        ),
    )["stateMachineArn"]
    orders = [
        {"order_id": "o-1", "amount": 10.5, "customer": "ann"},
        {"order_id": "", "amount": 5, "customer": "bob"},
        {"order_id": "o-3", "amount": 20, "customer": "cy"},
        {"order_id": "o-4", "amount": -5, "customer": "dee"},
        {"order_id": "o-5", "amount": 7.25, "customer": "eve"},
        {"order_id": "o-6", "amount": 100, "customer": "fay"},
    ]

    execution_arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps({"orders": orders}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish in 60 s"
        time.sleep(0.3)

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert [(item["order_id"], item["status"]) for item in output] == [
        ("o-1", "loaded"),
        ("", "rejected"),
        ("o-3", "loaded"),
        ("o-4", "rejected"),
        ("o-5", "loaded"),
        ("o-6", "loaded"),
    ]
    assert [(output[i]["error"], output[i]["cause"]["errorMessage"]) for i in (1, 3)] == [
        ("InvalidOrderError", "order_id is empty"),
        ("InvalidOrderError", "amount must be positive, got -5"),
    ]
    items = emulator.client("dynamodb").scan(TableName=orders_table)["Items"]
    loaded = {item["order_id"]["S"]: (Decimal(item["amount"]["N"]), item["customer"]["S"]) for item in items}
    assert loaded == {
        "o-1": (Decimal("10.5"), "ann"),
        "o-3": (Decimal("20"), "cy"),
        "o-5": (Decimal("7.25"), "eve"),
        "o-6": (Decimal("100"), "fay"),
    }
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    failures = [e["lambdaFunctionFailedEventDetails"] for e in events if e["type"] == "LambdaFunctionFailed"]
    assert sorted(f["error"] for f in failures) == [
        "InvalidOrderError",
        "InvalidOrderError",
        "TransientStoreError",
    ]
    transient = next(
        i
        for i, e in enumerate(events)
        if e.get("lambdaFunctionFailedEventDetails", {}).get("error") == "TransientStoreError"
    )
    rescheduled = [
        json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])["order_id"]
        for e in events[transient + 1 :]
        if e["type"] == "LambdaFunctionScheduled"
    ]
    assert "o-3" in rescheduled
    assert json.loads(events[transient]["lambdaFunctionFailedEventDetails"]["cause"])["errorMessage"] == (
        "store unavailable for o-3"
    )
    scheduled = [e for e in events if e["type"] == "LambdaFunctionScheduled"]
    assert len(scheduled) == len(orders) + 1
    attempts = dynamodb.get_item(TableName=attempts_table, Key={"order_id": {"S": "o-3"}})["Item"]
    assert attempts["attempts"] == {"N": "2"}


class FakeWorker:
    """Stands in for a worker process in pool bookkeeping tests."""

    def __init__(self, _config: Any) -> None:
        self.stopped = False
        self.expiring = False
        self.last_used = time.monotonic()

    def alive(self) -> bool:
        return not self.stopped

    def needs_new_credentials(self) -> bool:
        return self.expiring

    def stop(self) -> None:
        self.stopped = True

    kill = stop


def _pool() -> Any:
    from emulator.lambda_runtime.models import FunctionConfig, Pool

    config = FunctionConfig(
        account="123456789012",
        region="us-east-1",
        name="fn",
        version="$LATEST",
        runtime="python3.11",
        handler="app.handler",
        timeout=3,
        memory_size=128,
        environment=(),
        code_digest="0" * 64,
        layer_digests=(),
        package_type="Zip",
        code=b"zip",
        layer_code=(),
        reserved_concurrency=None,
    )
    return Pool(config)


def test_a_pool_reuses_an_idle_worker_and_stops_it_once_idle_past_the_timeout():
    pool = _pool()
    first, cold = pool.acquire(None, FakeWorker)
    pool.release(first, reusable=True)
    pool.reap(idle_timeout=60)
    again, warm_cold = pool.acquire(None, FakeWorker)
    pool.release(again, reusable=True)

    first.last_used -= 120
    pool.reap(idle_timeout=60)
    fresh, fresh_cold = pool.acquire(None, FakeWorker)

    assert (cold, warm_cold, fresh_cold) == (True, False, True)
    assert again is first
    assert first.stopped and fresh is not first


def test_a_retired_pool_stops_idle_workers_now_and_busy_ones_when_they_finish():
    pool = _pool()
    idle, _ = pool.acquire(None, FakeWorker)
    busy, _ = pool.acquire(None, FakeWorker)
    pool.release(idle, reusable=True)

    pool.retire()
    busy_stopped_while_running = busy.stopped
    pool.release(busy, reusable=True)

    assert idle.stopped
    assert not busy_stopped_while_running
    assert busy.stopped
    assert pool.empty


def test_a_worker_whose_role_credentials_are_about_to_expire_is_replaced_by_a_new_one():
    pool = _pool()
    worker, _ = pool.acquire(None, FakeWorker)
    pool.release(worker, reusable=True)

    worker.expiring = True
    next_worker, cold = pool.acquire(None, FakeWorker)

    assert worker.stopped
    assert cold and next_worker is not worker


def test_credentials_need_renewal_once_less_than_an_hour_of_them_is_left():
    from emulator.iam.credentials import RoleCredentials
    from emulator.runtime_identity import needs_renewal

    def expiring_in(delta: timedelta) -> RoleCredentials:
        expiration = datetime.now(UTC).replace(tzinfo=None) + delta  # moto's naive UTC
        role = "arn:aws:iam::123456789012:role/r"
        return RoleCredentials(
            "ASIA1", "s", "t", expiration, role, "arn:aws:sts::123456789012:assumed-role/r/s"
        )

    assert not needs_renewal(expiring_in(timedelta(hours=12)))
    assert not needs_renewal(expiring_in(timedelta(minutes=61)))
    assert needs_renewal(expiring_in(timedelta(minutes=59)))
    assert needs_renewal(expiring_in(timedelta(minutes=-1)))


def test_a_worker_that_failed_is_not_reused():
    pool = _pool()
    worker, _ = pool.acquire(None, FakeWorker)

    pool.release(worker, reusable=False)
    next_worker, cold = pool.acquire(None, FakeWorker)

    assert worker.stopped
    assert cold and next_worker is not worker


def test_the_control_api_lists_the_warm_environments(emulator, deploy):
    name = deploy({"app.py": STATE_HANDLER})

    _, result = invoke(emulator, name)

    pools = [pool for pool in emulator.control.get("lambda")["pools"] if pool["function"] == name]
    assert [(w["pid"], w["invocations"]) for w in pools[0]["idle"]] == [(result["pid"], 1)]
    assert pools[0]["busy"] == []
    assert emulator.control.status()["lambda_workers"] >= 1
