"""EventBridge rules publishing to SNS topics encrypted with KMS: delivered only when the topic's key lets
EventBridge use it, as on AWS (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html)."""

from __future__ import annotations

import json
import uuid
from typing import Any

ACCOUNT = "123456789012"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def key_policy(service_statement: dict[str, Any] | None) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if service_statement:
        statements.append(service_statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def publish_grant(condition: dict[str, Any] | None = None) -> dict[str, Any]:
    grant: dict[str, Any] = {
        "Sid": "RulesPublish",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
    if condition:
        grant["Condition"] = condition
    return grant


def topic_with_key(emulator, kms_key_id: str) -> tuple[str, str]:
    """An encrypted topic with an SQS subscription to see what reaches it; (topic ARN, queue URL)."""
    sns, sqs = emulator.client("sns"), emulator.client("sqs")
    topic = sns.create_topic(Name=unique("status"), Attributes={"KmsMasterKeyId": kms_key_id})["TopicArn"]
    url = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def fire(emulator, topic_arn: str) -> tuple[str, dict[str, Any]]:
    """Put an event a rule sends to the topic; (the rule's ARN, its one delivery record)."""
    events = emulator.client("events")
    source = unique("etl.tests")
    name = unique("rule")
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "topic", "Arn": topic_arn}])
    events.put_events(Entries=[{"Source": source, "DetailType": "Alarm", "Detail": json.dumps({"n": 1})}])
    answer = emulator.control.get("events?wait=20")
    assert answer["idle"]
    [delivery] = [d for d in answer["deliveries"] if d["rule_arn"] == rule_arn]
    return rule_arn, delivery


def inbox(emulator, url: str) -> list[dict[str, Any]]:
    messages = emulator.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_a_topic_under_the_aws_managed_key_never_gets_the_rules_events(emulator):
    topic, url = topic_with_key(emulator, "alias/aws/sns")

    _, delivery = fire(emulator, topic)

    assert delivery["status"] == "failed"
    assert "KMS.AccessDeniedException" in delivery["error"]
    assert "alias/aws/sns" in delivery["error"]
    assert inbox(emulator, url) == []


def test_a_customer_managed_key_that_grants_eventbridge_lets_the_event_through(emulator):
    key = emulator.client("kms").create_key(Policy=key_policy(publish_grant()))["KeyMetadata"]
    topic, url = topic_with_key(emulator, key["Arn"])

    _, delivery = fire(emulator, topic)

    assert delivery["status"] == "delivered"
    [message] = inbox(emulator, url)
    assert message["detail"] == {"n": 1}


def test_a_key_that_grants_only_the_account_or_only_under_source_conditions_refuses_eventbridge(emulator):
    kms = emulator.client("kms")
    # EventBridge's KMS requests carry neither aws:SourceAccount nor aws:SourceArn: a grant conditioned on
    # them never matches, whatever account it names.
    for policy, why in (
        (key_policy(None), "kms:GenerateDataKey"),
        (key_policy(publish_grant({"StringEquals": {"aws:SourceAccount": ACCOUNT}})), "kms:GenerateDataKey"),
        (
            key_policy(publish_grant({"ArnLike": {"aws:SourceArn": "arn:aws:events:*"}})),
            "kms:GenerateDataKey",
        ),
    ):
        key = kms.create_key(Policy=policy)["KeyMetadata"]
        topic, url = topic_with_key(emulator, key["Arn"])

        _, delivery = fire(emulator, topic)

        assert delivery["status"] == "failed", policy
        assert f"does not let events.amazonaws.com perform {why}" in delivery["error"]
        assert inbox(emulator, url) == []
