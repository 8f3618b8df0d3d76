"""IAM enforcement end to end: roles created with the operator's keys, boto3 clients signed with the role
credentials the emulator issues for them, and the answers AWS would give."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], resources: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(actions: str | list[str], resources: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resources, **extra}


class Role:
    """A role of the test's own, and clients signed with a session of it."""

    def __init__(self, emulator: Any, *statements: dict[str, Any], trust: dict[str, Any] = LAMBDA_TRUST):
        self.emulator = emulator
        self.name = f"iam-test-{uuid.uuid4().hex[:10]}"
        iam = emulator.client("iam")
        self.arn = iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        if statements:
            self.put_policy(*statements)
        self.credentials = emulator.control.post(
            "iam/credentials", {"role_arn": self.arn, "service": "lambda.amazonaws.com"}
        )

    def put_policy(self, *statements: dict[str, Any], name: str = "access") -> None:
        self.emulator.client("iam").put_role_policy(
            RoleName=self.name, PolicyName=name, PolicyDocument=_document(*statements)
        )

    @property
    def session_arn(self) -> str:
        return self.credentials["AssumedRoleArn"]

    def client(self, service: str, endpoint: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint or self.emulator.endpoint,
            region_name=REGION,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"],
        )


def denials(emulator: Any) -> list[dict[str, Any]]:
    return emulator.control.status()["iam"]["denials"]


def last_denial(emulator: Any) -> dict[str, Any]:
    return denials(emulator)[-1]


def error_of(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


@pytest.fixture(scope="module")
def table(emulator) -> str:
    name = f"iam-orders-{uuid.uuid4().hex[:6]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "day", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-day",
                "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture(scope="module")
def other_table(emulator) -> str:
    name = f"iam-runs-{uuid.uuid4().hex[:6]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


@pytest.fixture(autouse=True)
def enforcement_on(emulator) -> Iterator[None]:
    emulator.control.post("iam", {"enforcement": True})
    yield
    emulator.control.post("iam", {"enforcement": True})


# --- DynamoDB ------------------------------------------------------------------------------------


def test_identity_policy_allows_what_it_names_and_nothing_else(emulator, table):
    role = Role(emulator, allow(["dynamodb:PutItem", "dynamodb:GetItem"], table_arn(table)))
    client = role.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "A-1"}})
    assert client.get_item(TableName=table, Key={"pk": {"S": "A-1"}})["Item"] == {"pk": {"S": "A-1"}}

    code, status, message = error_of(lambda: client.delete_item(TableName=table, Key={"pk": {"S": "A-1"}}))
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (
        f"User: {role.session_arn} is not authorized to perform: dynamodb:DeleteItem on resource: "
        f"{table_arn(table)} because no identity-based policy allows the dynamodb:DeleteItem action"
    )
    # the item is still there: the denied request never reached DynamoDB
    assert "Item" in emulator.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "A-1"}})


def test_explicit_deny_beats_allow_end_to_end(emulator, table):
    role = Role(
        emulator,
        allow("dynamodb:*", table_arn(table)),
        deny("dynamodb:DeleteItem", table_arn(table)),
    )
    client = role.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "D-1"}})
    code, _, message = error_of(lambda: client.delete_item(TableName=table, Key={"pk": {"S": "D-1"}}))
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in an identity-based policy")
    assert last_denial(emulator)["reason"] == "with an explicit deny in an identity-based policy"


def test_batch_write_is_authorized_per_table(emulator, table, other_table):
    role = Role(emulator, allow("dynamodb:BatchWriteItem", table_arn(table)))
    client = role.client("dynamodb")
    client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "B-1"}}}}]})
    both = {
        table: [{"PutRequest": {"Item": {"pk": {"S": "B-2"}}}}],
        other_table: [{"PutRequest": {"Item": {"pk": {"S": "B-2"}}}}],
    }
    code, _, message = error_of(lambda: client.batch_write_item(RequestItems=both))
    assert code == "AccessDeniedException"
    assert f"dynamodb:BatchWriteItem on resource: {table_arn(other_table)} " in message
    # nothing of the denied batch was written, not even to the allowed table
    assert "Item" not in emulator.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "B-2"}})


def test_query_on_an_index_is_authorized_on_the_index_arn(emulator, table):
    role = Role(emulator, allow("dynamodb:Query", table_arn(table)))
    client = role.client("dynamodb")
    client.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "x"}}
    )
    error_of(
        lambda: client.query(
            TableName=table,
            IndexName="by-day",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "day"},
            ExpressionAttributeValues={":d": {"S": "2026-12-01"}},
        )
    )
    assert last_denial(emulator)["resource"] == f"{table_arn(table)}/index/by-day"
    role.put_policy(allow("dynamodb:Query", [table_arn(table), f"{table_arn(table)}/index/*"]))
    items = client.query(
        TableName=table,
        IndexName="by-day",
        KeyConditionExpression="#d = :d",
        ExpressionAttributeNames={"#d": "day"},
        ExpressionAttributeValues={":d": {"S": "2026-12-01"}},
    )["Items"]
    assert items == []


def test_policy_change_takes_effect_on_the_next_request(emulator, table):
    role = Role(emulator)
    client = role.client("dynamodb")
    assert error_of(lambda: client.describe_table(TableName=table))[0] == "AccessDeniedException"
    role.put_policy(allow("dynamodb:DescribeTable", table_arn(table)))
    assert client.describe_table(TableName=table)["Table"]["TableName"] == table
    emulator.client("iam").delete_role_policy(RoleName=role.name, PolicyName="access")
    assert error_of(lambda: client.describe_table(TableName=table))[0] == "AccessDeniedException"


def test_attached_managed_policy_is_evaluated(emulator, table):
    iam = emulator.client("iam")
    policy_arn = iam.create_policy(
        PolicyName=f"iam-test-{uuid.uuid4().hex[:8]}",
        PolicyDocument=_document(allow("dynamodb:DescribeTable", table_arn(table))),
    )["Policy"]["Arn"]
    role = Role(emulator)
    client = role.client("dynamodb")
    assert error_of(lambda: client.describe_table(TableName=table))[0] == "AccessDeniedException"
    iam.attach_role_policy(RoleName=role.name, PolicyArn=policy_arn)
    assert client.describe_table(TableName=table)["Table"]["TableName"] == table


# --- the operator, the switch, the status ---------------------------------------------------------


def test_operator_keys_are_never_evaluated(emulator, table):
    Role(emulator)  # a role session exists; the operator's "test" key is still nobody's session
    operator = emulator.client("dynamodb")
    operator.put_item(TableName=table, Item={"pk": {"S": "OP-1"}})
    operator.delete_item(TableName=table, Key={"pk": {"S": "OP-1"}})


def test_switch_turns_enforcement_off_and_on(emulator, table):
    role = Role(emulator)
    client = role.client("dynamodb")
    assert error_of(lambda: client.describe_table(TableName=table))[0] == "AccessDeniedException"
    assert emulator.control.post("iam", {"enforcement": False})["enforcement"] is False
    assert emulator.control.status()["iam"]["enforcement"] is False
    assert client.describe_table(TableName=table)["Table"]["TableName"] == table
    emulator.control.post("iam", {"enforcement": True})
    assert error_of(lambda: client.describe_table(TableName=table))[0] == "AccessDeniedException"


def test_switch_rejects_bad_input(emulator):
    with pytest.raises(RuntimeError, match="enforcement"):
        emulator.control.post("iam", {"enforcement": "yes"})


def test_denials_are_listed_newest_last(emulator, table, other_table):
    role = Role(emulator)
    client = role.client("dynamodb")
    evaluated = emulator.control.status()["iam"]["evaluated"]
    error_of(lambda: client.describe_table(TableName=table))
    error_of(lambda: client.describe_table(TableName=other_table))
    first, second = denials(emulator)[-2:]
    assert first["resource"] == table_arn(table)
    assert second == {
        "time": second["time"],
        "principal": role.session_arn,
        "role": role.arn,
        "action": "dynamodb:DescribeTable",
        "resource": table_arn(other_table),
        "reason": "because no identity-based policy allows the dynamodb:DescribeTable action",
        "operation": "dynamodb:DescribeTable",
    }
    assert first["time"] <= second["time"]
    assert emulator.control.status()["iam"]["evaluated"] == evaluated + 2


# --- S3 ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_bucket(emulator) -> str:
    name = f"iam-bucket-{uuid.uuid4().hex[:8]}"
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="runs/a.json", Body=b"{}")
    s3.put_object(Bucket=name, Key="other/b.json", Body=b"{}")
    return name


def test_s3_object_actions_on_object_arns_and_listing_on_the_bucket(emulator, s3_bucket):
    role = Role(emulator, allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{s3_bucket}/runs/*"))
    s3 = role.client("s3")
    assert s3.get_object(Bucket=s3_bucket, Key="runs/a.json")["Body"].read() == b"{}"
    s3.put_object(Bucket=s3_bucket, Key="runs/c.json", Body=b"1")
    code, status, message = error_of(lambda: s3.get_object(Bucket=s3_bucket, Key="other/b.json"))
    assert (code, status) == ("AccessDenied", 403)
    assert f"s3:GetObject on resource: arn:aws:s3:::{s3_bucket}/other/b.json" in message
    error_of(lambda: s3.list_objects_v2(Bucket=s3_bucket, Prefix="runs/"))
    assert last_denial(emulator)["action"] == "s3:ListBucket"
    assert last_denial(emulator)["resource"] == f"arn:aws:s3:::{s3_bucket}"


def test_s3_missing_key_is_403_without_list_bucket_and_404_with_it(emulator, s3_bucket):
    role = Role(emulator, allow("s3:GetObject", f"arn:aws:s3:::{s3_bucket}/*"))
    s3 = role.client("s3")
    assert error_of(lambda: s3.get_object(Bucket=s3_bucket, Key="runs/missing.json"))[:2] == (
        "AccessDenied",
        403,
    )
    assert error_of(lambda: s3.head_object(Bucket=s3_bucket, Key="runs/missing.json"))[:2] == ("403", 403)
    role.put_policy(
        allow("s3:GetObject", f"arn:aws:s3:::{s3_bucket}/*"),
        allow("s3:ListBucket", f"arn:aws:s3:::{s3_bucket}"),
    )
    assert error_of(lambda: s3.get_object(Bucket=s3_bucket, Key="runs/missing.json"))[:2] == (
        "NoSuchKey",
        404,
    )
    assert error_of(lambda: s3.head_object(Bucket=s3_bucket, Key="runs/missing.json"))[:2] == ("404", 404)


def test_s3_copy_needs_get_on_the_source_and_put_on_the_target(emulator, s3_bucket):
    role = Role(emulator, allow("s3:PutObject", f"arn:aws:s3:::{s3_bucket}/runs/*"))
    s3 = role.client("s3")
    source = {"Bucket": s3_bucket, "Key": "other/b.json"}
    error_of(lambda: s3.copy_object(Bucket=s3_bucket, Key="runs/copy.json", CopySource=source))
    assert last_denial(emulator)["action"] == "s3:GetObject"
    assert last_denial(emulator)["resource"] == f"arn:aws:s3:::{s3_bucket}/other/b.json"
    role.put_policy(
        allow("s3:PutObject", f"arn:aws:s3:::{s3_bucket}/runs/*"),
        allow("s3:GetObject", f"arn:aws:s3:::{s3_bucket}/other/*"),
    )
    s3.copy_object(Bucket=s3_bucket, Key="runs/copy.json", CopySource=source)


def test_s3_bucket_policy_deny_applies_to_role_sessions(emulator, s3_bucket):
    role = Role(emulator, allow("s3:GetObject", f"arn:aws:s3:::{s3_bucket}/*"))
    operator = emulator.client("s3")
    operator.put_bucket_policy(
        Bucket=s3_bucket,
        Policy=_document(
            {
                "Sid": "NoOtherForThisRole",
                "Effect": "Deny",
                "Principal": {"AWS": role.arn},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_bucket}/other/*",
            }
        ),
    )
    try:
        s3 = role.client("s3")
        assert s3.get_object(Bucket=s3_bucket, Key="runs/a.json")["Body"].read() == b"{}"
        code, _, message = error_of(lambda: s3.get_object(Bucket=s3_bucket, Key="other/b.json"))
        assert code == "AccessDenied"
        assert message.endswith("with an explicit deny in a resource-based policy")
        # the operator is not evaluated, bucket policy or not
        assert operator.get_object(Bucket=s3_bucket, Key="other/b.json")["Body"].read() == b"{}"
    finally:
        operator.delete_bucket_policy(Bucket=s3_bucket)


def test_s3_bucket_policy_allow_grants_without_an_identity_policy(emulator, s3_bucket):
    role = Role(emulator)
    operator = emulator.client("s3")
    operator.put_bucket_policy(
        Bucket=s3_bucket,
        Policy=_document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": role.arn},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_bucket}/runs/*",
            }
        ),
    )
    try:
        s3 = role.client("s3")
        assert s3.get_object(Bucket=s3_bucket, Key="runs/a.json")["Body"].read() == b"{}"
        assert error_of(lambda: s3.get_object(Bucket=s3_bucket, Key="other/b.json"))[0] == "AccessDenied"
    finally:
        operator.delete_bucket_policy(Bucket=s3_bucket)


# --- SQS, SNS, SSM -------------------------------------------------------------------------------


def test_sqs_queue_arn_from_the_queue_url_and_denial_code(emulator):
    sqs = emulator.client("sqs")
    name = f"iam-queue-{uuid.uuid4().hex[:6]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
    role = Role(emulator, allow("sqs:SendMessage", arn))
    client = role.client("sqs")
    client.send_message(QueueUrl=url, MessageBody="x")
    client.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "y"}])
    code, status, message = error_of(lambda: client.receive_message(QueueUrl=url))
    assert (code, status) == ("AccessDenied", 403)
    assert f"sqs:ReceiveMessage on resource: {arn} " in message


def test_sns_publish_on_the_topic_arn_and_authorization_error(emulator):
    topic = emulator.client("sns").create_topic(Name=f"iam-topic-{uuid.uuid4().hex[:6]}")["TopicArn"]
    role = Role(emulator)
    client = role.client("sns")
    code, status, message = error_of(lambda: client.publish(TopicArn=topic, Message="hi"))
    assert (code, status) == ("AuthorizationError", 403)
    assert f"sns:Publish on resource: {topic} " in message
    role.put_policy(allow("sns:Publish", topic))
    assert client.publish(TopicArn=topic, Message="hi")["MessageId"]


def test_ssm_parameter_arn_drops_the_leading_slash(emulator):
    name = f"/nightly-etl/iam-{uuid.uuid4().hex[:6]}/key"
    emulator.client("ssm").put_parameter(Name=name, Value="s3cret", Type="SecureString")
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"
    role = Role(emulator)
    client = role.client("ssm")
    code, _, _ = error_of(lambda: client.get_parameter(Name=name, WithDecryption=True))
    assert code == "AccessDeniedException"
    assert last_denial(emulator)["resource"] == arn
    role.put_policy(allow("ssm:GetParameter", arn))
    assert client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cret"


# --- Lambda, Glue, Step Functions, Logs ----------------------------------------------------------


@pytest.fixture(scope="module")
def function(emulator) -> str:
    iam = emulator.client("iam")
    role_arn = iam.create_role(
        RoleName=f"iam-fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {'ok': event}\n")
    name = f"iam-fn-{uuid.uuid4().hex[:6]}"
    client = emulator.client("lambda")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn,
        Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_lambda_invoke_on_the_function_arn_with_its_qualifier(emulator, function):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    role = Role(emulator, allow("lambda:InvokeFunction", arn))
    client = role.client("lambda")
    result = client.invoke(FunctionName=function, Payload=b'{"a": 1}')
    assert json.loads(result["Payload"].read()) == {"ok": {"a": 1}}
    code, status, message = error_of(lambda: client.invoke(FunctionName=function, Qualifier="$LATEST"))
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"lambda:InvokeFunction on resource: {arn}:$LATEST " in message
    role.put_policy(allow("lambda:InvokeFunction", [arn, f"{arn}:*"]))
    client.invoke(FunctionName=function, Qualifier="$LATEST", Payload=b"{}")


def test_glue_job_arn(emulator):
    role = Role(emulator)
    client = role.client("glue")
    code, status, _ = error_of(lambda: client.start_job_run(JobName="load-orders"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert last_denial(emulator)["resource"] == f"arn:aws:glue:{REGION}:{ACCOUNT}:job/load-orders"
    role.put_policy(allow("glue:GetJobRuns", f"arn:aws:glue:{REGION}:{ACCOUNT}:job/*"))
    # allowed: Glue itself answers, and there is no such job
    assert error_of(lambda: client.get_job_runs(JobName="load-orders"))[0] == "EntityNotFoundException"


def test_step_functions_state_machine_arn(emulator):
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:iam-missing"
    role = Role(emulator)
    client = role.client("stepfunctions")
    assert error_of(lambda: client.start_execution(stateMachineArn=arn))[0] == "AccessDeniedException"
    assert last_denial(emulator)["resource"] == arn
    role.put_policy(allow("states:StartExecution", arn))
    assert error_of(lambda: client.start_execution(stateMachineArn=arn))[0] == "StateMachineDoesNotExist"


def test_logs_stream_actions_on_the_log_stream_arn(emulator):
    group = f"/aws-glue/iam-{uuid.uuid4().hex[:6]}"
    logs = emulator.client("logs")
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    role = Role(emulator, allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"{group_arn}:*"))
    client = role.client("logs")
    client.create_log_stream(logGroupName=group, logStreamName="run-1")
    client.put_log_events(
        logGroupName=group,
        logStreamName="run-1",
        logEvents=[{"timestamp": 1_700_000_000_000, "message": "m"}],
    )
    assert error_of(lambda: client.delete_log_group(logGroupName=group))[0] == "AccessDeniedException"
    assert last_denial(emulator)["resource"] == f"{group_arn}:*"
    role.put_policy(allow("logs:PutLogEvents", group_arn))  # without ":*" the stream is not covered
    error_of(
        lambda: client.put_log_events(
            logGroupName=group,
            logStreamName="run-1",
            logEvents=[{"timestamp": 1_700_000_000_001, "message": "m"}],
        )
    )
    assert last_denial(emulator)["resource"] == f"{group_arn}:log-stream:run-1"


# --- credentials and trust -----------------------------------------------------------------------


def test_credentials_need_a_trust_policy_that_names_the_service(emulator):
    role = Role(emulator)
    with pytest.raises(RuntimeError, match="glue.amazonaws.com is not authorized to perform: sts:AssumeRole"):
        emulator.control.post("iam/credentials", {"role_arn": role.arn, "service": "glue.amazonaws.com"})
    with pytest.raises(RuntimeError, match="does not exist"):
        emulator.control.post(
            "iam/credentials",
            {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/no-such-role", "service": "lambda.amazonaws.com"},
        )


def test_unmapped_request_of_a_role_session_is_denied(emulator):
    role = Role(emulator)
    code, _, message = error_of(lambda: role.client("ec2").describe_instances())
    assert code in ("AccessDenied", "UnauthorizedOperation", "AccessDeniedException")
    assert "cannot authorize" in message
    assert last_denial(emulator)["action"] == "ec2:unknown"


# --- TLS-only bucket policies --------------------------------------------------------------------


def test_tls_only_bucket_policy_denies_plain_http_and_lets_https_in(emulator):
    """The stack's buckets Deny s3:* when aws:SecureTransport is false; the server speaks TLS on its port,
    so the same role's request is denied over http:// and served over https://."""
    from emulator.settings import EmulatorSettings

    settings = EmulatorSettings(state_dir=emulator.state_dir, port=emulator.port)
    name = f"iam-tls-{uuid.uuid4().hex[:8]}"
    operator = emulator.client("s3")
    operator.create_bucket(Bucket=name)
    operator.put_object(Bucket=name, Key="runs/a.json", Body=b"{}")
    operator.put_bucket_policy(
        Bucket=name,
        Policy=_document(
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
    )
    role = Role(emulator, allow("s3:GetObject", f"arn:aws:s3:::{name}/*"))
    code, status, message = error_of(lambda: role.client("s3").get_object(Bucket=name, Key="runs/a.json"))
    assert (code, status) == ("AccessDenied", 403)
    assert message.endswith("with an explicit deny in a resource-based policy")
    secure = boto3.client(
        "s3",
        endpoint_url=settings.internal_endpoint,
        region_name=REGION,
        verify=str(settings.ca_bundle),
        aws_access_key_id=role.credentials["AccessKeyId"],
        aws_secret_access_key=role.credentials["SecretAccessKey"],
        aws_session_token=role.credentials["SessionToken"],
    )
    assert settings.internal_endpoint.startswith("https://")
    assert secure.get_object(Bucket=name, Key="runs/a.json")["Body"].read() == b"{}"
    # the operator's plain-HTTP tools are not evaluated
    assert operator.get_object(Bucket=name, Key="runs/a.json")["Body"].read() == b"{}"


# --- more services: ARNs and denial shapes as boto3 reads them -----------------------------------


def test_kms_key_arn_from_an_alias_and_denial(emulator):
    kms = emulator.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/iam-{uuid.uuid4().hex[:6]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    role = Role(emulator, allow("kms:GenerateDataKey", key_arn))
    client = role.client("kms")
    assert len(client.generate_data_key(KeyId=alias, KeySpec="AES_256")["Plaintext"]) == 32
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    code, status, _ = error_of(lambda: client.decrypt(CiphertextBlob=blob))
    assert (code, status) == ("AccessDeniedException", 400)
    assert last_denial(emulator)["resource"] == key_arn  # the key the ciphertext names
    role.put_policy(allow(["kms:GenerateDataKey", "kms:Decrypt"], key_arn))
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_eventbridge_rule_arn_and_denial(emulator):
    role = Role(emulator)
    client = role.client("events")
    code, status, _ = error_of(lambda: client.describe_rule(Name="nightly-etl-daily"))
    assert (code, status) == ("AccessDeniedException", 400)
    assert last_denial(emulator)["resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly-etl-daily"
    error_of(lambda: client.put_events(Entries=[{"Source": "etl", "DetailType": "t", "Detail": "{}"}]))
    assert last_denial(emulator)["resource"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"


def test_cloudwatch_put_metric_data_is_narrowed_by_its_namespace(emulator):
    condition = {"StringEquals": {"cloudwatch:namespace": "Glue"}}
    role = Role(emulator, allow("cloudwatch:PutMetricData", "*", Condition=condition))
    client = role.client("cloudwatch")
    metric = [{"MetricName": "rows", "Value": 1.0}]
    code, status, message = error_of(lambda: client.put_metric_data(Namespace="Other", MetricData=metric))
    assert (code, status) == ("AccessDenied", 403)
    assert "cloudwatch:PutMetricData on resource: * " in message
    # allowed: the request reaches the emulator's CloudWatch, whatever protocol boto3 speaks to it
    try:
        client.put_metric_data(Namespace="Glue", MetricData=metric)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] not in ("AccessDenied", "AccessDeniedException")


def test_sts_get_caller_identity_needs_no_permission_and_assume_role_does(emulator):
    role = Role(emulator)
    sts = role.client("sts")
    assert sts.get_caller_identity()["Arn"] == role.session_arn
    code, status, _ = error_of(lambda: sts.assume_role(RoleArn=role.arn, RoleSessionName="again"))
    assert (code, status) == ("AccessDenied", 403)
    assert last_denial(emulator)["resource"] == role.arn


def test_iam_calls_of_a_role_session_are_authorized_too(emulator):
    role = Role(emulator)
    code, status, _ = error_of(lambda: role.client("iam").get_role(RoleName=role.name))
    assert (code, status) == ("AccessDenied", 403)
    assert last_denial(emulator)["resource"] == role.arn


# --- the command line ----------------------------------------------------------------------------


def test_cli_switches_enforcement_and_issues_credentials(emulator, table):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "emulator", "iam", *args, "--port", str(emulator.port)],
            cwd=ROOT,
            env={**os.environ, "EMULATOR_STATE_DIR": str(emulator.state_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    role = Role(emulator)
    assert cli("--off")["enforcement"] is False
    assert role.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table
    assert cli("--on")["enforcement"] is True
    assert cli()["enforcement"] is True
    issued = cli("--credentials", role.arn, "--service", "lambda.amazonaws.com")
    assert issued["RoleArn"] == role.arn and issued["AccessKeyId"]
