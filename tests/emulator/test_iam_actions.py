"""Request -> IAM actions and resource ARNs, from the very requests boto3 sends (captured before they leave)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from emulator.iam.actions import (
    UnmappedRequest,
    access_key_of,
    authorization_of,
    scope_of,
)

ENDPOINT = "http://127.0.0.1:4590"
A = "123456789012"
R = "us-east-1"


class _Sent(Exception):
    pass


def wire_request(service: str, operation: str, **params: Any) -> Request:
    """The request boto3 would send for ``operation``, as the emulator's WSGI app receives it."""
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=R,
        aws_access_key_id="ASIAEXAMPLE",
        aws_secret_access_key="x",
    )
    captured: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> AWSResponse:
        captured["request"] = request
        raise _Sent

    client.meta.events.register("before-send", capture)
    with pytest.raises(_Sent):
        getattr(client, operation)(**params)
    sent = captured["request"]
    url = urllib.parse.urlsplit(sent.url)
    body = sent.body or b""
    if hasattr(body, "read"):
        body = body.read()
    environ = EnvironBuilder(
        path=urllib.parse.unquote(url.path),
        query_string=url.query,
        method=sent.method,
        headers={k: v.decode() if isinstance(v, bytes) else v for k, v in sent.headers.items()},
        data=body if isinstance(body, bytes) else body.encode(),
    ).get_environ()
    environ["RAW_URI"] = url.path + (f"?{url.query}" if url.query else "")
    return Request(environ)


def checks(service: str, operation: str, **params: Any) -> list[tuple[str, str]]:
    request = wire_request(service, operation, **params)
    scope = scope_of(request.headers, request.args)
    assert scope is not None
    return [(c.action, c.resource) for c in authorization_of(request, scope).checks]


def test_scope_and_access_key_come_from_the_signature():
    request = wire_request("dynamodb", "get_item", TableName="t", Key={"k": {"S": "v"}})
    scope = scope_of(request.headers, request.args)
    assert (scope.access_key, scope.region, scope.service) == ("ASIAEXAMPLE", R, "dynamodb")
    assert access_key_of(request.environ) == "ASIAEXAMPLE"


def test_presigned_url_credential():
    client = boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name=R, aws_access_key_id="ASIAPRESIGN", aws_secret_access_key="x"
    )
    url = urllib.parse.urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    )
    environ = EnvironBuilder(path=url.path, query_string=url.query).get_environ()
    assert access_key_of(environ) == "ASIAPRESIGN"
    request = Request(environ)
    scope = scope_of(request.headers, request.args)
    assert (scope.access_key, scope.service) == ("ASIAPRESIGN", "s3")
    assert [(c.action, c.resource) for c in authorization_of(request, scope).checks] == [
        ("s3:GetObject", "arn:aws:s3:::b/k")
    ]


# --- DynamoDB ------------------------------------------------------------------------------------

TABLE = f"arn:aws:dynamodb:{R}:{A}:table/orders"


def test_dynamodb_batches_are_authorized_per_table():
    items = {
        "orders": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}],
        "runs": [{"DeleteRequest": {"Key": {"k": {"S": "1"}}}}],
    }
    assert checks("dynamodb", "batch_write_item", RequestItems=items) == [
        ("dynamodb:BatchWriteItem", TABLE),
        ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{R}:{A}:table/runs"),
    ]
    assert checks("dynamodb", "batch_get_item", RequestItems={"runs": {"Keys": [{"k": {"S": "1"}}]}}) == [
        ("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{R}:{A}:table/runs")
    ]


def test_dynamodb_transactions_are_authorized_per_item_action_and_table():
    items = [
        {"Put": {"TableName": "orders", "Item": {"k": {"S": "1"}}}},
        {
            "Update": {
                "TableName": "runs",
                "Key": {"k": {"S": "1"}},
                "UpdateExpression": "SET a = :a",
                "ExpressionAttributeValues": {":a": {"S": "x"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": "orders",
                "Key": {"k": {"S": "2"}},
                "ConditionExpression": "attribute_exists(k)",
            }
        },
    ]
    assert checks("dynamodb", "transact_write_items", TransactItems=items) == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", f"arn:aws:dynamodb:{R}:{A}:table/runs"),
        ("dynamodb:ConditionCheckItem", TABLE),
    ]


def test_dynamodb_index_and_table_arn_forms():
    assert checks("dynamodb", "scan", TableName="orders", IndexName="by-day") == [
        ("dynamodb:Scan", f"{TABLE}/index/by-day")
    ]
    assert checks("dynamodb", "get_item", TableName=TABLE, Key={"k": {"S": "1"}}) == [
        ("dynamodb:GetItem", TABLE)
    ]
    assert checks("dynamodb", "list_tables") == [("dynamodb:ListTables", "*")]


# --- S3 ------------------------------------------------------------------------------------------


def test_s3_bucket_and_object_operations():
    assert checks("s3", "list_objects_v2", Bucket="b", Prefix="runs/") == [
        ("s3:ListBucket", "arn:aws:s3:::b")
    ]
    assert checks("s3", "head_bucket", Bucket="b") == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert checks("s3", "get_object", Bucket="b", Key="runs/a b.json") == [
        ("s3:GetObject", "arn:aws:s3:::b/runs/a b.json")
    ]
    assert checks("s3", "head_object", Bucket="b", Key="k") == [("s3:GetObject", "arn:aws:s3:::b/k")]
    assert checks("s3", "get_object", Bucket="b", Key="k", VersionId="v1") == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/k")
    ]
    assert checks("s3", "put_object", Bucket="b", Key="k", Body=b"x") == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    assert checks("s3", "delete_object", Bucket="b", Key="k") == [("s3:DeleteObject", "arn:aws:s3:::b/k")]
    assert checks("s3", "list_buckets") == [("s3:ListAllMyBuckets", "*")]


def test_s3_multipart_parts_are_put_object():
    assert checks("s3", "create_multipart_upload", Bucket="b", Key="k") == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    assert checks("s3", "upload_part", Bucket="b", Key="k", UploadId="u", PartNumber=1, Body=b"x") == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    assert checks("s3", "abort_multipart_upload", Bucket="b", Key="k", UploadId="u") == [
        ("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")
    ]


def test_s3_copy_checks_the_target_and_the_source():
    assert checks("s3", "copy_object", Bucket="b", Key="new", CopySource={"Bucket": "src", "Key": "old"}) == [
        ("s3:PutObject", "arn:aws:s3:::b/new"),
        ("s3:GetObject", "arn:aws:s3:::src/old"),
    ]
    source = {"Bucket": "src", "Key": "old", "VersionId": "v2"}
    assert checks("s3", "copy_object", Bucket="b", Key="new", CopySource=source)[1] == (
        "s3:GetObjectVersion",
        "arn:aws:s3:::src/old",
    )


def test_s3_delete_objects_checks_every_key():
    delete = {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v1"}]}
    assert checks("s3", "delete_objects", Bucket="b", Delete=delete) == [
        ("s3:DeleteObject", "arn:aws:s3:::b/a"),
        ("s3:DeleteObjectVersion", "arn:aws:s3:::b/b"),
    ]


def test_s3_bucket_configuration_calls():
    assert checks("s3", "get_bucket_policy", Bucket="b") == [("s3:GetBucketPolicy", "arn:aws:s3:::b")]
    assert checks(
        "s3", "put_bucket_versioning", Bucket="b", VersioningConfiguration={"Status": "Enabled"}
    ) == [("s3:PutBucketVersioning", "arn:aws:s3:::b")]
    assert checks("s3", "delete_bucket_lifecycle", Bucket="b") == [
        ("s3:PutLifecycleConfiguration", "arn:aws:s3:::b")
    ]
    assert checks("s3", "get_bucket_location", Bucket="b") == [("s3:GetBucketLocation", "arn:aws:s3:::b")]
    assert checks("s3", "get_object_tagging", Bucket="b", Key="k") == [
        ("s3:GetObjectTagging", "arn:aws:s3:::b/k")
    ]


def test_s3_condition_keys():
    request = wire_request("s3", "list_objects_v2", Bucket="b", Prefix="runs/", Delimiter="/")
    [check] = authorization_of(request, scope_of(request.headers, request.args)).checks
    assert check.keys["s3:prefix"] == ("runs/",)
    assert check.keys["s3:delimiter"] == ("/",)


# --- the others ----------------------------------------------------------------------------------


def test_sqs_queue_arn_from_the_url_and_batches():
    url = f"{ENDPOINT}/{A}/retry.fifo"
    queue = f"arn:aws:sqs:{R}:{A}:retry.fifo"
    assert checks("sqs", "send_message_batch", QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "m"}]) == [
        ("sqs:SendMessage", queue)
    ]
    assert checks(
        "sqs", "delete_message_batch", QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": "h"}]
    ) == [("sqs:DeleteMessage", queue)]
    assert checks("sqs", "get_queue_url", QueueName="retry.fifo") == [("sqs:GetQueueUrl", queue)]


def test_ssm_parameter_arns():
    assert checks("ssm", "get_parameter", Name="/nightly-etl/redash/api-key") == [
        ("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/nightly-etl/redash/api-key")
    ]
    assert checks("ssm", "get_parameter", Name="plain") == [
        ("ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter/plain")
    ]
    assert checks("ssm", "get_parameters", Names=["/a", "b"]) == [
        ("ssm:GetParameters", f"arn:aws:ssm:{R}:{A}:parameter/a"),
        ("ssm:GetParameters", f"arn:aws:ssm:{R}:{A}:parameter/b"),
    ]


@pytest.mark.parametrize(
    ("name", "qualifier", "arn"),
    [
        ("extract", None, f"arn:aws:lambda:{R}:{A}:function:extract"),
        ("extract", "live", f"arn:aws:lambda:{R}:{A}:function:extract:live"),
        ("extract:7", None, f"arn:aws:lambda:{R}:{A}:function:extract:7"),
        (f"{A}:function:extract", None, f"arn:aws:lambda:{R}:{A}:function:extract"),
        (
            f"arn:aws:lambda:{R}:{A}:function:extract:$LATEST",
            None,
            f"arn:aws:lambda:{R}:{A}:function:extract:$LATEST",
        ),
    ],
)
def test_lambda_invoke_on_the_function_arn_with_its_qualifier(name, qualifier, arn):
    params = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
    assert checks("lambda", "invoke", **params) == [("lambda:InvokeFunction", arn)]


def test_lambda_other_routes():
    assert checks("lambda", "get_function_configuration", FunctionName="extract") == [
        ("lambda:GetFunctionConfiguration", f"arn:aws:lambda:{R}:{A}:function:extract")
    ]
    assert checks("lambda", "list_functions") == [("lambda:ListFunctions", "*")]


def test_logs_arn_forms():
    group = f"arn:aws:logs:{R}:{A}:log-group:/aws-glue/jobs/output"
    assert checks("logs", "create_log_group", logGroupName="/aws-glue/jobs/output") == [
        ("logs:CreateLogGroup", f"{group}:*")
    ]
    assert checks(
        "logs",
        "put_log_events",
        logGroupName="/aws-glue/jobs/output",
        logStreamName="jr_1",
        logEvents=[{"timestamp": 1, "message": "m"}],
    ) == [("logs:PutLogEvents", f"{group}:log-stream:jr_1")]
    assert checks("logs", "describe_log_groups") == [
        ("logs:DescribeLogGroups", f"arn:aws:logs:{R}:{A}:log-group:*")
    ]


def test_glue_step_functions_and_sns():
    assert checks("glue", "get_job_run", JobName="load", RunId="jr_1") == [
        ("glue:GetJobRun", f"arn:aws:glue:{R}:{A}:job/load")
    ]
    execution = f"arn:aws:states:{R}:{A}:execution:etl:run-1"
    assert checks("stepfunctions", "describe_execution", executionArn=execution) == [
        ("states:DescribeExecution", execution)
    ]
    topic = f"arn:aws:sns:{R}:{A}:status"
    assert checks("sns", "publish", TopicArn=topic, Message="m") == [("sns:Publish", topic)]


def test_cloudwatch_put_metric_data_carries_its_namespace():
    request = wire_request(
        "cloudwatch", "put_metric_data", Namespace="Glue", MetricData=[{"MetricName": "m", "Value": 1}]
    )
    authorization = authorization_of(request, scope_of(request.headers, request.args))
    [check] = authorization.checks
    assert (check.action, check.resource, check.keys) == (
        "cloudwatch:PutMetricData",
        "*",
        {"cloudwatch:namespace": ("Glue",)},
    )
    assert (
        authorization.protocol == "json"
    )  # what boto3 1.44 speaks to CloudWatch (CBOR and query are mapped too)


def test_unknown_service_is_unmapped():
    request = wire_request("ec2", "describe_instances")
    with pytest.raises(UnmappedRequest, match="ec2"):
        authorization_of(request, scope_of(request.headers, request.args))


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "query", "json"])
def test_cloudwatch_namespace_in_each_protocol_cloudwatch_takes(protocol):
    import botocore.serialize
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricData")
    params = {"Namespace": "Glue", "MetricData": [{"MetricName": "m", "Value": 1.0}]}
    serialized = botocore.serialize.create_serializer(protocol).serialize_to_request(params, model)
    body = serialized["body"]
    headers = {
        **{k: v for k, v in serialized["headers"].items()},
        "Authorization": "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261201/us-east-1/monitoring/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    if protocol == "query":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode(body)
    environ = EnvironBuilder(
        path=serialized["url_path"],
        method="POST",
        headers=headers,
        data=body if isinstance(body, bytes) else body.encode(),
    ).get_environ()
    request = Request(environ)
    authorization = authorization_of(request, scope_of(request.headers, request.args))
    assert (
        authorization.protocol == {"smithy-rpc-v2-cbor": "cbor", "query": "query", "json": "json"}[protocol]
    )
    [check] = authorization.checks
    assert (check.action, check.keys) == ("cloudwatch:PutMetricData", {"cloudwatch:namespace": ("Glue",)})
