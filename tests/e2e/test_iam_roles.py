"""Every role of the deployed stack, as its service gets it: what it needs is allowed, what it lacks is denied.

The credentials come from the emulator's STS through ``POST /_emulator/iam/credentials``, after the trust-policy
check of the service named; the requests go where the code the emulator runs sends them (its internal
endpoint, with its CA bundle), so the buckets' TLS-only policies see them as they see the functions' calls.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.settings import EmulatorSettings
from etl import operations
from pipeline import layout

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

# The codes AWS's services answer a denied request with, as botocore reads them.
DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError"}
LAMBDA = "lambda.amazonaws.com"
RUN_DATE = date(2026, 11, 9)


class RoleSession:
    """boto3 clients signed with a role's credentials as ``service`` gets them."""

    def __init__(self, stack: E2EStack, role_arn: str, service: str):
        answer = stack.emulator.control.post("iam/credentials", {"role_arn": role_arn, "service": service})
        self.assumed_role_arn = answer["AssumedRoleArn"]
        settings = EmulatorSettings(port=stack.emulator.port, state_dir=stack.emulator.state_dir)
        ca_bundle = settings.ca_bundle
        self._endpoint = settings.internal_endpoint
        self._verify = str(ca_bundle) if ca_bundle is not None else None
        self._session = boto3.session.Session(
            aws_access_key_id=answer["AccessKeyId"],
            aws_secret_access_key=answer["SecretAccessKey"],
            aws_session_token=answer["SessionToken"],
            region_name="us-east-1",
        )

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint, verify=self._verify)


def denied(call: Any, **kwargs: Any) -> dict[str, Any]:
    """The error of a call that must be refused for lack of permission."""
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    error = refused.value.response["Error"]
    assert error["Code"] in DENIED, error
    return error


@pytest.fixture
def roles(stack: E2EStack) -> dict[str, str]:
    """Role ARN by what runs as it: the five functions, the Glue job, the state machine, the daily rule."""
    outputs = stack.outputs
    lambda_client = stack.client("lambda")
    found = {
        role: lambda_client.get_function_configuration(FunctionName=name)["Role"]
        for role, name in outputs.lambda_function_names.items()
    }
    found["glue"] = stack.client("glue").get_job(JobName=outputs.load_job_name)["Job"]["Role"]
    found["states"] = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs.state_machine_arn
    )["roleArn"]
    [target] = stack.client("events").list_targets_by_rule(Rule=outputs.daily_rule_name)["Targets"]
    found["events"] = target["RoleArn"]
    return found


def test_track_begin_claims_runs_but_cannot_read_orders(stack: E2EStack, roles: dict[str, str]) -> None:
    dynamodb = RoleSession(stack, roles["track_begin"], LAMBDA).client("dynamodb")

    answer = dynamodb.get_item(TableName=stack.outputs.runs_table_name, Key={"run_date": {"S": "1999-01-01"}})
    error = denied(
        dynamodb.get_item, TableName=stack.outputs.orders_table_name, Key={"order_id": {"S": "ORD-1001"}}
    )

    assert "Item" not in answer
    assert "dynamodb:GetItem" in error["Message"]


def test_extract_lists_the_landing_bucket_but_cannot_write_to_it(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    s3 = RoleSession(stack, roles["extract"], LAMBDA).client("s3")
    bucket = stack.outputs.landing_bucket_name

    listing = s3.list_objects_v2(Bucket=bucket, Prefix="landing/")
    error = denied(s3.put_object, Bucket=bucket, Key="landing/forged.csv", Body=b"order_id\n")

    assert listing["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert error["Code"] == "AccessDenied"


def test_track_result_queues_retries_but_cannot_publish_the_status(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    session = RoleSession(stack, roles["track_result"], LAMBDA)

    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs.retry_queue_url, AttributeNames=["QueueArn"]
    )
    error = denied(
        session.client("sns").publish, TopicArn=stack.outputs.status_topic_arn, Subject="forged", Message="x"
    )

    queue_name = stack.outputs.retry_queue_url.rsplit("/", 1)[1]
    assert attributes["Attributes"]["QueueArn"] == f"arn:aws:sqs:us-east-1:123456789012:{queue_name}"
    assert error["Code"] == "AuthorizationError"


def test_notify_reads_a_missing_report_as_missing_but_cannot_write_runs(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    session = RoleSession(stack, roles["notify"], LAMBDA)
    s3 = session.client("s3")

    # With s3:ListBucket on staging, a report that is not there is NoSuchKey (the email goes out without
    # it), not AccessDenied.
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=stack.outputs.staging_bucket_name, Key=layout.report_key("no-such-run"))
    error = denied(
        session.client("dynamodb").put_item,
        TableName=stack.outputs.runs_table_name,
        Item={"run_date": {"S": "1999-01-02"}},
    )

    assert "dynamodb:PutItem" in error["Message"]


def test_track_failure_reads_a_missing_manifest_as_missing_but_cannot_drain_the_queue(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    session = RoleSession(stack, roles["track_failure"], LAMBDA)
    s3 = session.client("s3")

    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=stack.outputs.staging_bucket_name, Key=layout.manifest_key("no-such-run"))
    error = denied(session.client("sqs").receive_message, QueueUrl=stack.outputs.retry_queue_url)

    assert error["Code"] == "AccessDenied"
    assert "sqs:ReceiveMessage" in error["Message"]


def test_the_glue_role_reads_the_job_code_but_not_the_functions_code(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    session = RoleSession(stack, roles["glue"], "glue.amazonaws.com")
    s3 = session.client("s3")
    bucket = stack.outputs.artifacts_bucket_name

    script = s3.get_object(Bucket=bucket, Key="glue/load_orders.py")["Body"].read()
    error = denied(s3.get_object, Bucket=bucket, Key="lambdas/extract.zip")

    assert b"getResolvedOptions" in script
    role_name = roles["glue"].rsplit("/", 1)[1]
    assert session.assumed_role_arn.startswith(f"arn:aws:sts::123456789012:assumed-role/{role_name}/")
    assert error["Code"] == "AccessDenied"


def test_the_state_machine_role_follows_load_runs_but_cannot_read_the_job(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    glue = RoleSession(stack, roles["states"], "states.amazonaws.com").client("glue")

    runs = glue.get_job_runs(JobName=stack.outputs.load_job_name)
    error = denied(glue.get_job, JobName=stack.outputs.load_job_name)

    assert isinstance(runs["JobRuns"], list)
    assert error["Code"] == "AccessDeniedException"
    assert "glue:GetJob" in error["Message"]


def test_the_daily_rule_role_may_start_the_etl_but_not_describe_it(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    sfn = RoleSession(stack, roles["events"], "events.amazonaws.com").client("stepfunctions")
    run_date = date(2026, 10, 3)  # no partner file: the run ends NO_DATA

    started = sfn.start_execution(
        stateMachineArn=stack.outputs.state_machine_arn, input=json.dumps({"run_date": run_date.isoformat()})
    )
    error = denied(sfn.describe_state_machine, stateMachineArn=stack.outputs.state_machine_arn)

    assert operations.wait(stack, started["executionArn"], timeout_seconds=600)["status"] == "SUCCEEDED"
    assert stack.run_item(run_date)["status"] == "NO_DATA"
    assert error["Code"] == "AccessDeniedException"
    assert "states:DescribeStateMachine" in error["Message"]


def test_a_role_is_only_handed_to_the_service_its_trust_policy_names(
    stack: E2EStack, roles: dict[str, str]
) -> None:
    with pytest.raises(Exception, match="sts:AssumeRole"):
        stack.emulator.control.post("iam/credentials", {"role_arn": roles["glue"], "service": LAMBDA})


def test_a_failed_extract_is_recorded_and_emailed(stack: E2EStack, roles: dict[str, str]) -> None:
    """RecordFailure looks for the failed run's manifest, which a failed Extract never wrote: the missing key
    must read as missing (track_failure may s3:ListBucket the staging bucket), or no email goes out."""
    extract = stack.outputs.lambda_function_names["extract"]
    stack.emulator.control.set_faults(fail_lambda={extract: "the partner's server is down"})

    _, execution = stack.run_direct(RUN_DATE)

    assert execution["status"] == "FAILED"
    item = stack.run_item(RUN_DATE)
    assert item["status"] == "FAILED"
    assert item["error"]["state"] == "Extract"
    assert "lock" not in item
    [message] = stack.emails(RUN_DATE)
    assert message["Subject"].startswith(f"[nightly-etl] FAILED {RUN_DATE.isoformat()} at Extract")
    assert "the partner's server is down" in email_text(message)
    # Nothing the function did was refused (its workers' sessions are named after it).
    function = f"/{stack.outputs.lambda_function_names['track_failure']}"
    denials = stack.emulator.control.status()["iam"]["denials"]
    assert [d for d in denials if d["principal"].endswith(function)] == []
