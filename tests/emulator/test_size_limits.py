"""DynamoDB's 400 KB items and SNS's 256 KB messages, refused as AWS refuses them (emulator.size_limits)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.dynamodb_capacity import item_size

TOO_LARGE = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"


@pytest.fixture(scope="module")
def table(emulator) -> str:
    name = f"size-limits-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture(scope="module")
def topic(emulator) -> str:
    return emulator.client("sns").create_topic(Name=f"size-limits-{uuid.uuid4().hex[:8]}")["TopicArn"]


def refusal(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def stored(emulator, table: str, key: str) -> dict | None:
    answer = emulator.client("dynamodb").get_item(TableName=table, Key={"k": {"S": key}}, ConsistentRead=True)
    return answer.get("Item")


def map_heavy(entries: int) -> dict:
    """A map whose overhead DynamoDB counts and moto does not: 7 bytes an entry by AWS's rules, 6 by moto's."""
    return {"M": {f"{n:05d}": {"NULL": True} for n in range(entries)}}


def test_a_string_item_passes_up_to_400_kib_and_is_refused_above(emulator, table):
    dynamodb = emulator.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"k": {"S": "fits"}, "v": {"S": "x" * 404_000}})

    item = {"k": {"S": "over"}, "v": {"S": "x" * 409_600}}
    assert item_size(item) == 409_606
    assert refusal(dynamodb.put_item, TableName=table, Item=item) == ("ValidationException", TOO_LARGE)
    assert stored(emulator, table, "over") is None
    assert len(stored(emulator, table, "fits")["v"]["S"]) == 404_000


def test_an_item_over_400_kib_by_aws_rules_is_refused_though_moto_counts_less(emulator, table):
    dynamodb = emulator.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"k": {"S": "maps"}, "v": {"S": "before"}})
    item = {"k": {"S": "maps"}, "m": map_heavy(16_000), "s": {"S": "x" * 300_000}}
    # moto's count: 16,000 × 6 + 300,000 + names = 396,007 (under its 405,000); AWS's: 412,010.
    assert item_size(item) == 3 + 16_000 * 7 + 300_000 + len("kmapsms") == 412_010

    assert refusal(dynamodb.put_item, TableName=table, Item=item) == ("ValidationException", TOO_LARGE)
    assert stored(emulator, table, "maps") == {"k": {"S": "maps"}, "v": {"S": "before"}}


def test_a_refused_update_changes_nothing(emulator, table):
    dynamodb = emulator.client("dynamodb")
    before = {"k": {"S": "run"}, "lock": {"S": "execution-1"}, "a": {"S": "x"}}
    dynamodb.put_item(TableName=table, Item=before)

    code_message = refusal(
        dynamodb.update_item,
        TableName=table,
        Key={"k": {"S": "run"}},
        UpdateExpression="SET a = :a, b = :b REMOVE #lock",
        ExpressionAttributeNames={"#lock": "lock"},
        ExpressionAttributeValues={":a": {"S": "y" * 300_000}, ":b": {"S": "z" * 300_000}},
    )

    assert code_message == ("ValidationException", UPDATE_TOO_LARGE)
    # moto had kept a = "y" * 300,000: the first action applied before the second went over.
    assert stored(emulator, table, "run") == before


def test_an_update_whose_result_is_over_400_kib_by_aws_rules_is_refused(emulator, table):
    dynamodb = emulator.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"k": {"S": "grow"}, "s": {"S": "x" * 300_000}})

    code_message = refusal(
        dynamodb.update_item,
        TableName=table,
        Key={"k": {"S": "grow"}},
        UpdateExpression="SET m = :m",
        ExpressionAttributeValues={":m": map_heavy(16_000)},
    )

    assert code_message == ("ValidationException", UPDATE_TOO_LARGE)
    assert stored(emulator, table, "grow") == {"k": {"S": "grow"}, "s": {"S": "x" * 300_000}}
    dynamodb.update_item(
        TableName=table,
        Key={"k": {"S": "grow"}},
        UpdateExpression="SET m = :m",
        ExpressionAttributeValues={":m": map_heavy(10_000)},  # 300,000 + 70,003 + names: it fits
    )
    assert len(stored(emulator, table, "grow")["m"]["M"]) == 10_000


def test_an_update_that_would_create_an_oversized_item_creates_none(emulator, table):
    dynamodb = emulator.client("dynamodb")
    code_message = refusal(
        dynamodb.update_item,
        TableName=table,
        Key={"k": {"S": "new"}},
        UpdateExpression="SET m = :m, s = :s",
        ExpressionAttributeValues={":m": map_heavy(16_000), ":s": {"S": "x" * 300_000}},
    )
    assert code_message == ("ValidationException", UPDATE_TOO_LARGE)
    assert stored(emulator, table, "new") is None


def test_sns_counts_a_messages_256_kb_in_utf8_bytes(emulator, topic):
    sns = emulator.client("sns")
    too_long = ("InvalidParameter", "Invalid parameter: Message too long")

    sns.publish(TopicArn=topic, Message="a" * 262_144, Subject="ascii")
    sns.publish(TopicArn=topic, Message="é" * 131_072, Subject="two bytes a character")  # 262,144 bytes

    for body in ("é" * 131_073, "a" * 262_145):  # 262,146 and 262,145 bytes
        code, message = refusal(sns.publish, TopicArn=topic, Message=body, Subject="over")
        assert (code, message.endswith(too_long[1])) == (too_long[0], True)
