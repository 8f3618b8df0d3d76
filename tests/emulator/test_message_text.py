"""SQS and SNS refuse the characters AWS refuses: the emulator answers as they do (moto stored anything)."""

import uuid
from urllib.parse import quote

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulator.message_text import invalid_message_contents, sns_publish_problem

ALLOWED = "tab\t line\n cr\r é 👩‍💻 \ud7ff \ue000 \ufffd \U0010ffff"


def fifo_queue(emulator) -> str:
    sqs = emulator.client("sqs")
    return sqs.create_queue(QueueName=f"text-{uuid.uuid4().hex[:10]}.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]


def entry(index: int, body: str) -> dict:
    return {
        "Id": str(index),
        "MessageBody": body,
        "MessageGroupId": f"g{index}",
        "MessageDeduplicationId": uuid.uuid4().hex,
    }


def visible(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def signed_post(emulator, service: str, fields: bytes) -> requests.Response:
    """A query-protocol request with a body boto3 would never send (bytes that are not UTF-8)."""
    request = AWSRequest(
        method="POST",
        url=emulator.endpoint + "/",
        data=fields,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(request)
    return requests.post(request.url, data=fields, headers=dict(request.headers.items()), timeout=10)


@pytest.mark.parametrize(
    ("char", "shown"),
    [("\x00", "#x0"), ("\x1f", "#x1F"), ("\x0b", "#xB"), ("\ufffe", "#xFFFE"), ("\uffff", "#xFFFF")],
)
def test_send_message_with_a_character_outside_the_xml_set_is_invalid_message_contents(emulator, char, shown):
    sqs = emulator.client("sqs")
    queue_url = fifo_queue(emulator)
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=queue_url, **{k: v for k, v in entry(0, f"a{char}b").items() if k != "Id"})
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidMessageContents"
    assert error["Message"].startswith(f"Invalid binary character '{shown}' was found in the message body")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert visible(sqs, queue_url) == 0


def test_a_batch_with_one_refused_body_is_refused_whole_and_sends_nothing(emulator):
    sqs = emulator.client("sqs")
    queue_url = fifo_queue(emulator)
    with pytest.raises(ClientError) as raised:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[entry(0, "fine"), entry(1, "bad\ufffe")])
    assert raised.value.response["Error"]["Code"] == "InvalidMessageContents"
    assert visible(sqs, queue_url) == 0


def test_every_allowed_character_is_sent_and_received_unchanged(emulator):
    sqs = emulator.client("sqs")
    queue_url = fifo_queue(emulator)
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[entry(0, ALLOWED), entry(1, "plain")])
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == sorted([ALLOWED, "plain"])


def test_the_query_protocol_is_checked_too(emulator):
    queue_url = fifo_queue(emulator)
    body = quote("x\uffff")
    fields = (
        f"Action=SendMessage&Version=2012-11-05&QueueUrl={quote(queue_url, safe='')}"
        f"&MessageBody={body}&MessageGroupId=g&MessageDeduplicationId=d"
    ).encode()
    answer = signed_post(emulator, "sqs", fields)
    assert answer.status_code == 400
    assert "<Code>InvalidMessageContents</Code>" in answer.text and "#xFFFF" in answer.text


def test_an_unpaired_surrogate_reaches_sqs_and_dynamodb_as_an_escape_and_is_refused(emulator):
    with pytest.raises(ClientError) as raised:
        emulator.client("sqs").send_message(
            QueueUrl=fifo_queue(emulator),
            MessageBody="\udc80",
            MessageGroupId="g",
            MessageDeduplicationId="d",
        )
    assert raised.value.response["Error"]["Message"].startswith("Invalid binary character '#xDC80'")

    dynamodb = emulator.client("dynamodb")
    table = f"text-{uuid.uuid4().hex[:10]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName=table, Item={"k": {"S": "a"}, "v": {"S": "Zo\udceb"}})
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    # Characters beyond U+FFFF travel as surrogate pairs and are text like any other.
    dynamodb.put_item(TableName=table, Item={"k": {"S": "b"}, "v": {"S": "👩‍💻 \ufffe"}})
    assert dynamodb.get_item(TableName=table, Key={"k": {"S": "b"}})["Item"]["v"] == {"S": "👩‍💻 \ufffe"}


def test_boto3_cannot_send_an_unpaired_surrogate_to_sns_at_all(emulator):
    with pytest.raises(UnicodeEncodeError):
        emulator.client("sns").publish(TopicArn="arn:aws:sns:us-east-1:000000000000:x", Message="\udc80")


def test_sns_publish_refuses_bytes_that_are_not_utf8_and_accepts_any_utf8_text(emulator):
    sns = emulator.client("sns")
    topic_arn = sns.create_topic(Name=f"text-{uuid.uuid4().hex[:10]}")["TopicArn"]
    fields = f"Action=Publish&Version=2010-03-31&TopicArn={quote(topic_arn, safe='')}&Message=Zo%EB".encode()
    answer = signed_post(emulator, "sns", fields)
    assert answer.status_code == 400
    assert "<Code>InvalidParameter</Code>" in answer.text and "not a valid UTF-8" in answer.text
    # U+FFFE is UTF-8 text: SNS documents no other limit on a message's characters.
    assert sns.publish(TopicArn=topic_arn, Message="Zoë \ufffe")["MessageId"]


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        ("line\nbreak", "line breaks or control characters"),
        ("bell\x07", "control"),
        ("x" * 100, "100 characters"),
    ],
)
def test_sns_publish_refuses_a_subject_with_control_characters_or_100_characters(emulator, subject, reason):
    sns = emulator.client("sns")
    topic_arn = sns.create_topic(Name=f"text-{uuid.uuid4().hex[:10]}")["TopicArn"]
    with pytest.raises(ClientError) as raised:
        sns.publish(TopicArn=topic_arn, Message="m", Subject=subject)
    assert raised.value.response["Error"]["Code"] == "InvalidParameter"
    assert reason in raised.value.response["Error"]["Message"]
    assert sns.publish(TopicArn=topic_arn, Message="m", Subject="x" * 99)["MessageId"]


def test_the_rules_as_pure_functions():
    assert invalid_message_contents(ALLOWED) is None
    assert invalid_message_contents("a\ud800").startswith("Invalid binary character '#xD800'")
    assert sns_publish_problem(None).endswith("not a valid UTF-8 encoded string")
    assert sns_publish_problem([("Message", "\ufffe"), ("Subject", "[etl] OK")]) is None
