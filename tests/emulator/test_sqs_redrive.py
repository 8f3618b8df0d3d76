"""SQS moves to a dead-letter queue after maxReceiveCount, marked as AWS marks them."""

from __future__ import annotations

import json
import time
import uuid

import pytest


@pytest.fixture
def queues(emulator):
    """A FIFO queue whose messages move to its FIFO dead-letter queue after 2 receives."""
    sqs = emulator.client("sqs")
    name = f"redrive-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn, dlq_url


def _receive(sqs, url, **kwargs):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, **kwargs).get(
        "Messages", []
    )


def test_a_message_received_max_receive_count_times_moves_with_its_source_queue_arn(queues):
    sqs, url, arn, dlq_url = queues
    sent = sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d1")
    sqs.send_message(QueueUrl=dlq_url, MessageBody="ours", MessageGroupId="o", MessageDeduplicationId="o1")
    assert len(_receive(sqs, url)) == 1
    assert len(_receive(sqs, url)) == 1
    assert _receive(sqs, url) == []  # the third receive moves it instead of returning it

    moved = {m["Body"]: m for m in _receive(sqs, dlq_url, MessageSystemAttributeNames=["All"])}
    assert set(moved) == {"m", "ours"}
    assert moved["m"]["MessageId"] == sent["MessageId"]
    assert moved["m"]["Attributes"]["DeadLetterQueueSourceArn"] == arn
    assert "DeadLetterQueueSourceArn" not in moved["ours"]["Attributes"]


def test_the_source_arn_is_returned_only_when_asked_for(queues):
    sqs, url, arn, dlq_url = queues
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d1")
    for _ in range(3):
        _receive(sqs, url)

    [plain] = _receive(sqs, dlq_url)
    assert "Attributes" not in plain
    [named] = _receive(sqs, dlq_url, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"])
    assert named["Attributes"] == {"DeadLetterQueueSourceArn": arn}


def test_a_fifo_move_resets_the_enqueue_time_and_takes_the_message_id_as_deduplication_id(queues):
    sqs, url, _, dlq_url = queues
    sent = sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d1")
    [first] = _receive(sqs, url, MessageSystemAttributeNames=["SentTimestamp"])
    time.sleep(1.1)
    _receive(sqs, url)
    moved_after_ms = int(time.time() * 1000)
    _receive(sqs, url)

    [moved] = _receive(sqs, dlq_url, MessageSystemAttributeNames=["All"])
    assert moved["Attributes"]["MessageDeduplicationId"] == sent["MessageId"]
    assert int(moved["Attributes"]["SentTimestamp"]) >= moved_after_ms - 5
    assert int(moved["Attributes"]["SentTimestamp"]) > int(first["Attributes"]["SentTimestamp"]) + 1000
    # The moved message no longer holds its FIFO group on the source queue.
    sqs.send_message(QueueUrl=url, MessageBody="next", MessageGroupId="g", MessageDeduplicationId="d2")
    assert [m["Body"] for m in _receive(sqs, url)] == ["next"]


def test_a_visibility_timeout_beyond_twelve_hours_is_refused(queues):
    sqs, url, _, _ = queues
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d1")
    with pytest.raises(sqs.exceptions.ClientError) as refused:
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=43_201)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=43_200)["Messages"]
    assert message["Body"] == "m"
