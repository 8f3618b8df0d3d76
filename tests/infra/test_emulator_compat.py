"""What the emulator adds so that the Terraform AWS provider reads back what it wrote (terraform_compat)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def test_a_dead_letter_queue_returns_its_redrive_allow_policy(emulator):
    sqs = emulator.client("sqs")
    allow = {
        "redrivePermission": "byQueue",
        "sourceQueueArns": ["arn:aws:sqs:us-east-1:123456789012:compat-src"],
    }

    url = sqs.create_queue(QueueName="compat-dlq", Attributes={"RedriveAllowPolicy": json.dumps(allow)})[
        "QueueUrl"
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert json.loads(attributes["RedriveAllowPolicy"]) == allow


def test_a_redrive_policy_reads_back_as_compact_json(emulator):
    sqs = emulator.client("sqs")
    dlq_url = sqs.create_queue(QueueName="compact-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 4}, separators=(",", ":"))

    url = sqs.create_queue(QueueName="compact-src", Attributes={"RedrivePolicy": policy})["QueueUrl"]

    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"]
        == policy
    )


def _bucket_with_policy(emulator, name: str, statement: dict) -> object:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{name}/*",
        **statement,
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return s3


def test_a_tls_only_bucket_policy_lets_requests_through(emulator):
    s3 = _bucket_with_policy(
        emulator, "compat-tls-only", {"Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    )

    s3.put_object(Bucket="compat-tls-only", Key="new", Body=b"written")

    assert s3.get_object(Bucket="compat-tls-only", Key="new")["Body"].read() == b"written"


def _role_s3(emulator, secure: bool) -> object:
    """S3 as a role session sees it (bucket policies bind role sessions, not the operator's keys), over
    https:// (with the emulator's CA) or plain http://."""
    import uuid

    import boto3

    from emulator.settings import EmulatorSettings

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = emulator.client("iam")
    name = f"compat-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="s3",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    issued = emulator.control.post("iam/credentials", {"role_arn": arn, "service": "lambda.amazonaws.com"})
    settings = EmulatorSettings(state_dir=emulator.state_dir, port=emulator.port)
    return boto3.client(
        "s3",
        endpoint_url=settings.internal_endpoint if secure else emulator.endpoint,
        verify=str(settings.ca_bundle) if secure else None,
        region_name="us-east-1",
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
    )


def test_bucket_policy_conditions_see_the_transport(emulator):
    _bucket_with_policy(emulator, "compat-deny-tls", {"Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    _bucket_with_policy(
        emulator, "compat-deny-plain", {"Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    )
    over_tls, over_http = _role_s3(emulator, secure=True), _role_s3(emulator, secure=False)

    with pytest.raises(ClientError) as denied:
        over_tls.get_object(Bucket="compat-deny-tls", Key="k")

    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert over_tls.get_object(Bucket="compat-deny-plain", Key="k")["Body"].read() == b"v"
    assert over_http.get_object(Bucket="compat-deny-tls", Key="k")["Body"].read() == b"v"


def test_an_unconditional_deny_still_denies(emulator):
    _bucket_with_policy(emulator, "compat-deny-all", {})

    with pytest.raises(ClientError) as denied:
        _role_s3(emulator, secure=True).get_object(Bucket="compat-deny-all", Key="k")

    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
