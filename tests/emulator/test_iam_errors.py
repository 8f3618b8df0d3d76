"""Denials in each service's wire shape, read back by botocore's own parser of that protocol: the ClientError
code a caller tests is the one AWS's answer gives."""

from __future__ import annotations

import botocore.parsers
import botocore.session
import pytest
from botocore.awsrequest import HeadersDict

from emulator.iam.errors import cbor_text_map, denial_message, denial_response

MESSAGE = denial_message(
    "arn:aws:sts::123456789012:assumed-role/loader/run-1",
    "dynamodb:PutItem",
    "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
    "because no identity-based policy allows the dynamodb:PutItem action",
)


@pytest.mark.parametrize(
    ("model", "signing_name", "protocol", "wire", "operation", "code", "status"),
    [
        ("dynamodb", "dynamodb", "json", "json", "PutItem", "AccessDeniedException", 400),
        ("sqs", "sqs", "json", "json", "SendMessage", "AccessDenied", 403),
        ("stepfunctions", "states", "json", "json", "StartExecution", "AccessDeniedException", 400),
        ("glue", "glue", "json", "json", "StartJobRun", "AccessDeniedException", 400),
        ("logs", "logs", "json", "json", "PutLogEvents", "AccessDeniedException", 400),
        ("ssm", "ssm", "json", "json", "GetParameter", "AccessDeniedException", 400),
        ("kms", "kms", "json", "json", "Decrypt", "AccessDeniedException", 400),
        ("events", "events", "json", "json", "PutEvents", "AccessDeniedException", 400),
        ("cloudwatch", "monitoring", "smithy-rpc-v2-cbor", "cbor", "PutMetricData", "AccessDenied", 403),
        ("cloudwatch", "monitoring", "json", "json", "PutMetricData", "AccessDenied", 403),
        ("cloudwatch", "monitoring", "query", "query", "PutMetricData", "AccessDenied", 403),
        ("sns", "sns", "query", "query", "Publish", "AuthorizationError", 403),
        ("sts", "sts", "query", "query", "AssumeRole", "AccessDenied", 403),
        ("iam", "iam", "query", "query", "GetRole", "AccessDenied", 403),
        ("lambda", "lambda", "rest-json", "rest-json", "Invoke", "AccessDeniedException", 403),
        ("s3", "s3", "rest-xml", "rest-xml", "GetObject", "AccessDenied", 403),
    ],
)
def test_denial_parses_into_the_code_aws_sends(model, signing_name, protocol, wire, operation, code, status):
    response = denial_response(signing_name, wire, MESSAGE)
    operation_model = botocore.session.get_session().get_service_model(model).operation_model(operation)
    parsed = botocore.parsers.create_parser(protocol).parse(
        {
            "status_code": response.status_code,
            "headers": HeadersDict(response.headers.items()),
            "body": response.get_data(),
        },
        operation_model.output_shape,
    )
    assert response.status_code == status
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == MESSAGE


def test_s3_head_denial_has_no_body():
    response = denial_response("s3", "rest-xml", MESSAGE, method="HEAD")
    assert (response.status_code, response.get_data()) == (403, b"")


def test_denial_message_is_aws_wording():
    assert MESSAGE == (
        "User: arn:aws:sts::123456789012:assumed-role/loader/run-1 is not authorized to perform: "
        "dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/orders "
        "because no identity-based policy allows the dynamodb:PutItem action"
    )


def test_cbor_text_map_round_trips_through_botocore():
    long_text = "x" * 300
    encoded = cbor_text_map({"__type": "T", "message": long_text})
    parser = botocore.parsers.RpcV2CBORParser()
    assert parser.parse_data_item(parser.get_peekable_stream_from_bytes(encoded)) == {
        "__type": "T",
        "message": long_text,
    }
