"""SNS email subscriptions land as .eml files in the emulator's outbox."""

import json
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from emulator.outbox.models import Notification, Outbox


def unique_address() -> str:
    return f"team-{uuid.uuid4().hex[:10]}@example.com"


def topic(emulator, display_name: str | None = None) -> str:
    sns = emulator.client("sns")
    attributes = {"DisplayName": display_name} if display_name else {}
    return sns.create_topic(Name=f"status-{uuid.uuid4().hex[:10]}", Attributes=attributes)["TopicArn"]


def mails_to(emulator, address: str) -> list[tuple[dict, EmailMessage]]:
    listed = [message for message in emulator.control.outbox() if message["to"] == address]
    return [(message, read(Path(message["path"]))) for message in listed]


def read(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle)


def test_a_message_to_an_email_subscription_becomes_an_eml_file(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator)
    address = unique_address()
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=address)
    before = datetime.now(UTC).replace(microsecond=0)

    message_id = sns.publish(
        TopicArn=topic_arn, Subject="ETL 2026-11-22: SUCCEEDED", Message="loaded 98\nrejected 2\n"
    )["MessageId"]

    [(listed, mail)] = mails_to(emulator, address)
    assert mail["To"] == address
    assert mail["Subject"] == "ETL 2026-11-22: SUCCEEDED"
    assert mail["From"] == "AWS Notifications <no-reply@sns.amazonaws.com>"
    assert mail.get_content() == "loaded 98\nrejected 2\n"
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@email.amazonses.com>")
    assert mail["x-amz-sns-message-id"] == message_id
    assert mail["x-amz-sns-topic-arn"] == topic_arn
    assert before <= parsedate_to_datetime(mail["Date"]) <= datetime.now(UTC)
    assert Path(listed["path"]).parent == emulator.state_dir / "outbox"
    assert listed["subject"] == "ETL 2026-11-22: SUCCEEDED"
    assert listed["date"] == parsedate_to_datetime(mail["Date"]).isoformat()


def test_without_a_subject_the_mail_has_sns_default_subject_and_the_topic_display_name(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator, display_name="Nightly ETL")
    address = unique_address()
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=address)

    sns.publish(TopicArn=topic_arn, Message="done")

    [(_, mail)] = mails_to(emulator, address)
    assert mail["Subject"] == "AWS Notification Message"
    assert mail["From"] == "Nightly ETL <no-reply@sns.amazonaws.com>"


def test_an_email_json_subscription_gets_the_json_notification(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator)
    address = unique_address()
    sns.subscribe(TopicArn=topic_arn, Protocol="email-json", Endpoint=address)

    message_id = sns.publish(TopicArn=topic_arn, Subject="run report", Message="3 rows quarantined")[
        "MessageId"
    ]

    [(_, mail)] = mails_to(emulator, address)
    notification = json.loads(mail.get_content())
    assert mail["Subject"] == "run report"
    assert notification["Type"] == "Notification"
    assert notification["MessageId"] == message_id
    assert notification["TopicArn"] == topic_arn
    assert notification["Subject"] == "run report"
    assert notification["Message"] == "3 rows quarantined"


def test_each_subscription_gets_its_own_file_and_the_listing_is_oldest_first(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator)
    first, second = unique_address(), unique_address()
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=first)
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=second)

    sns.publish(TopicArn=topic_arn, Subject="one", Message="1")
    sns.publish(TopicArn=topic_arn, Subject="two", Message="2")

    ours = [m for m in emulator.control.outbox() if m["to"] in (first, second)]
    assert [(m["to"], m["subject"]) for m in ours if m["to"] == first] == [(first, "one"), (first, "two")]
    assert [(m["to"], m["subject"]) for m in ours if m["to"] == second] == [(second, "one"), (second, "two")]
    assert [m["subject"] for m in ours] == ["one", "one", "two", "two"]
    assert len({m["path"] for m in ours}) == 4
    names = [Path(m["path"]).name for m in emulator.control.outbox()]
    assert names == sorted(names)


def test_a_filter_policy_keeps_unmatched_messages_out_of_the_outbox(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator)
    address = unique_address()
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=address)["SubscriptionArn"]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"status": ["FAILED"]}),
    )
    attribute = {"DataType": "String", "StringValue": "SUCCEEDED"}

    sns.publish(TopicArn=topic_arn, Message="fine", MessageAttributes={"status": attribute})
    sns.publish(
        TopicArn=topic_arn,
        Message="broken",
        MessageAttributes={"status": {"DataType": "String", "StringValue": "FAILED"}},
    )

    assert [mail.get_content() for _, mail in mails_to(emulator, address)] == ["broken\n"]


def test_a_json_structured_message_delivers_the_email_variant(emulator):
    sns = emulator.client("sns")
    topic_arn = topic(emulator)
    address = unique_address()
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=address)

    sns.publish(
        TopicArn=topic_arn,
        MessageStructure="json",
        Message=json.dumps({"default": "short", "email": "the long email text"}),
    )

    assert [mail.get_content() for _, mail in mails_to(emulator, address)] == ["the long email text\n"]


def test_other_subscriptions_are_still_delivered_by_moto(emulator):
    sns, sqs = emulator.client("sns"), emulator.client("sqs")
    topic_arn = topic(emulator)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    sns.publish(TopicArn=topic_arn, Message="to the queue")

    body = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert body["Message"] == "to the queue"


def test_status_names_the_outbox(emulator):
    assert emulator.control.status()["outbox"] == str(emulator.state_dir / "outbox")


def notification(to: str, body: str = "hello") -> Notification:
    return Notification(
        to=to,
        protocol="email",
        body=body,
        subject="hi",
        topic_arn="arn:aws:sns:us-east-1:123456789012:status",
        topic_display_name="",
        message_id="m-1",
        subscription_arn="arn:aws:sns:us-east-1:123456789012:status:s-1",
    )


def test_outbox_file_names_sort_by_send_time(tmp_path):
    outbox = Outbox(tmp_path / "outbox")

    late = outbox.deliver(notification("b@example.com"), datetime(2026, 11, 22, 6, 0, 1, tzinfo=UTC))
    early = outbox.deliver(notification("a@example.com"), datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC))

    assert late.name == "20261122T060001000000Z-000001-b@example.com.eml"
    assert early.name == "20261122T060000000000Z-000002-a@example.com.eml"
    assert [m["to"] for m in outbox.messages()] == ["a@example.com", "b@example.com"]
    assert list((tmp_path / "outbox").glob("*.part")) == []


def test_an_outbox_that_was_never_written_is_empty(tmp_path):
    assert Outbox(tmp_path / "never").messages() == []


def test_a_long_unicode_body_stays_readable_in_the_file(tmp_path):
    body = "Zusammenfassung: 98 geladen, 2 abgelehnt – " + "x" * 200 + "\n"
    path = Outbox(tmp_path).deliver(notification("ops@example.com", body))

    assert body.encode() in path.read_bytes()
    assert read(path).get_content() == body
