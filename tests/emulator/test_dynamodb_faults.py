"""The dynamodb_unprocessed fault: BatchWriteItem leaves a share of its items unprocessed."""

import random
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.dynamodb_faults import split_batch

ITEMS_PER_BATCH = 25  # BatchWriteItem's limit


@pytest.fixture
def faults(emulator):
    """The emulator's fault knobs, cleared after the test whatever it set."""
    yield emulator.control
    emulator.control.clear_faults()


def orders_table(emulator) -> str:
    name = f"orders-{uuid.uuid4().hex[:10]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def put(order_id: str) -> dict:
    return {"PutRequest": {"Item": {"order_id": {"S": order_id}, "qty": {"N": "1"}}}}


def write_in_batches(emulator, table: str, count: int) -> tuple[set[str], list[dict]]:
    """Write ``count`` orders in batches of 25, once each; return (all keys, the unprocessed requests)."""
    dynamodb = emulator.client("dynamodb")
    keys = [f"o-{n:05d}" for n in range(count)]
    unprocessed: list[dict] = []
    for start in range(0, count, ITEMS_PER_BATCH):
        batch = [put(key) for key in keys[start : start + ITEMS_PER_BATCH]]
        answer = dynamodb.batch_write_item(RequestItems={table: batch})
        unprocessed.extend(answer["UnprocessedItems"].get(table, []))
    return set(keys), unprocessed


def stored_keys(emulator, table: str) -> set[str]:
    paginator = emulator.client("dynamodb").get_paginator("scan")
    return {item["order_id"]["S"] for page in paginator.paginate(TableName=table) for item in page["Items"]}


def test_about_the_set_share_of_items_comes_back_unprocessed_and_only_the_rest_is_written(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.3, seed=42)

    keys, unprocessed = write_in_batches(emulator, table, 1000)

    unprocessed_keys = {request["PutRequest"]["Item"]["order_id"]["S"] for request in unprocessed}
    assert 0.25 <= len(unprocessed) / 1000 <= 0.35
    assert len(unprocessed_keys) == len(unprocessed)
    assert stored_keys(emulator, table) == keys - unprocessed_keys


def test_unprocessed_items_come_back_in_the_shape_they_were_sent(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.3, seed=42)

    _, unprocessed = write_in_batches(emulator, table, 100)

    key = unprocessed[0]["PutRequest"]["Item"]["order_id"]["S"]
    assert unprocessed[0] == put(key)


def test_retrying_the_unprocessed_items_writes_everything(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.3, seed=7)
    dynamodb = emulator.client("dynamodb")
    keys, pending = write_in_batches(emulator, table, 100)

    for _ in range(30):
        if not pending:
            break
        answer = dynamodb.batch_write_item(RequestItems={table: pending[:ITEMS_PER_BATCH]})
        pending = pending[ITEMS_PER_BATCH:] + answer["UnprocessedItems"].get(table, [])

    assert pending == []
    assert stored_keys(emulator, table) == keys


def test_the_same_seed_leaves_the_same_items_unprocessed(emulator, faults):
    first, second = orders_table(emulator), orders_table(emulator)

    faults.set_faults(dynamodb_unprocessed=0.3, seed=2026)
    _, unprocessed_first = write_in_batches(emulator, first, 200)
    faults.set_faults(seed=2026)
    _, unprocessed_second = write_in_batches(emulator, second, 200)

    assert unprocessed_first == unprocessed_second
    assert unprocessed_first


def test_with_the_knob_at_zero_nothing_is_unprocessed(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.0, seed=42)

    keys, unprocessed = write_in_batches(emulator, table, 1000)

    assert unprocessed == []
    assert stored_keys(emulator, table) == keys


def test_with_the_knob_at_one_nothing_is_written(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=1.0)

    keys, unprocessed = write_in_batches(emulator, table, 50)

    assert len(unprocessed) == 50
    assert stored_keys(emulator, table) == set()


def test_deletes_are_left_unprocessed_in_their_own_shape(emulator, faults):
    table = orders_table(emulator)
    keys, _ = write_in_batches(emulator, table, 25)
    faults.set_faults(dynamodb_unprocessed=1.0)

    deletes = [{"DeleteRequest": {"Key": {"order_id": {"S": key}}}} for key in sorted(keys)]
    answer = emulator.client("dynamodb").batch_write_item(RequestItems={table: deletes})

    assert answer["UnprocessedItems"] == {table: deletes}
    assert stored_keys(emulator, table) == keys


def test_a_missing_table_is_still_an_error(emulator, faults):
    faults.set_faults(dynamodb_unprocessed=1.0)
    with pytest.raises(ClientError) as raised:
        emulator.client("dynamodb").batch_write_item(RequestItems={"no-such-table": [put("x")]})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_knob_must_be_a_share(emulator, faults):
    with pytest.raises(RuntimeError, match="dynamodb_unprocessed must be within 0..1"):
        faults.set_faults(dynamodb_unprocessed=1.5)


def test_split_batch_keeps_tables_order_and_shape():
    requests = {"a": [put(f"a{n}") for n in range(6)], "b": [put("b0")]}

    kept, unprocessed = split_batch(requests, 0.5, random.Random(3))

    for table in ("a", "b"):
        together = kept.get(table, []) + unprocessed.get(table, [])
        assert sorted(together, key=str) == sorted(requests[table], key=str)
        for part in (kept, unprocessed):
            positions = [requests[table].index(request) for request in part.get(table, [])]
            assert positions == sorted(positions)
    assert kept and unprocessed


@pytest.mark.parametrize(("share", "kept_count"), [(0.0, 7), (1.0, 0)])
def test_split_batch_at_the_extremes(share, kept_count):
    requests = {"a": [put(f"a{n}") for n in range(7)]}

    kept, unprocessed = split_batch(requests, share, random.Random(1))

    assert sum(len(v) for v in kept.values()) == kept_count
    assert sum(len(v) for v in unprocessed.values()) == 7 - kept_count
