"""The dynamodb_unprocessed faults: BatchWriteItem leaves a share of its items, or the items of given keys,
unprocessed."""

import random
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.dynamodb_faults import _stuck_share, split_batch

ITEMS_PER_BATCH = 25  # BatchWriteItem's limit


@pytest.fixture
def faults(emulator):
    """The emulator's fault knobs, cleared after the test whatever it set."""
    yield emulator.control
    emulator.control.clear_faults()


def orders_table(emulator, key: str = "order_id", key_type: str = "S") -> str:
    name = f"orders-{uuid.uuid4().hex[:10]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": key_type}],
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


def test_sticky_the_same_share_of_items_fails_every_retry_and_the_rest_gets_in(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.3, dynamodb_unprocessed_sticky=True, seed=11)
    dynamodb = emulator.client("dynamodb")
    keys, first_pending = write_in_batches(emulator, table, 1000)
    pending = first_pending

    for _ in range(5):  # a client's own retries: the same items come back each time
        retried = []
        for start in range(0, len(pending), ITEMS_PER_BATCH):
            answer = dynamodb.batch_write_item(RequestItems={table: pending[start : start + ITEMS_PER_BATCH]})
            retried += answer["UnprocessedItems"].get(table, [])
        assert put_keys(retried) == put_keys(pending)
        pending = retried

    failed = set(put_keys(pending))
    assert 0.25 <= len(failed) / 1000 <= 0.35
    assert stored_keys(emulator, table) == keys - failed

    faults.clear_faults()
    answer = dynamodb.batch_write_item(RequestItems={table: pending[:ITEMS_PER_BATCH]})
    assert answer["UnprocessedItems"] == {}


def test_the_sticky_choice_is_fixed_per_table_key_and_seed():
    rule = _stuck_share({"orders": ("order_id",), "lines": ("order_id", "line")}, 0.3, seed=5)
    keys = [f"o-{n}" for n in range(10_000)]

    chosen = {key for key in keys if rule("orders", put(key))}

    assert 2_800 <= len(chosen) <= 3_200
    assert chosen == {key for key in keys if rule("orders", put(key))}
    assert chosen == {
        key for key in keys if rule("orders", {"DeleteRequest": {"Key": {"order_id": {"S": key}}}})
    }
    other_seed = _stuck_share({"orders": ("order_id",)}, 0.3, seed=6)
    assert chosen != {key for key in keys if other_seed("orders", put(key))}
    # The sort key is part of an item's key: two lines of one order are chosen independently.
    lines = [{"PutRequest": {"Item": {"order_id": {"S": "o-1"}, "line": {"N": str(n)}}}} for n in range(200)]
    assert 0 < sum(rule("lines", line) for line in lines) < 200


def test_sticky_must_be_a_boolean(emulator, faults):
    with pytest.raises(Exception, match="dynamodb_unprocessed_sticky must be true or false"):
        faults.set_faults(dynamodb_unprocessed_sticky="yes")


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


def put_keys(requests: list[dict]) -> list[str]:
    return [request["PutRequest"]["Item"]["order_id"]["S"] for request in requests]


def test_writes_of_the_listed_keys_always_come_back_unprocessed_and_only_they(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed_keys=["o-00003", "o-00030", "not-written-here"])
    dynamodb = emulator.client("dynamodb")

    keys, unprocessed = write_in_batches(emulator, table, 50)
    for _ in range(5):  # however often the caller retries them
        answer = dynamodb.batch_write_item(RequestItems={table: unprocessed})
        assert answer["UnprocessedItems"] == {table: unprocessed}

    assert put_keys(unprocessed) == ["o-00003", "o-00030"]
    assert unprocessed[0] == put("o-00003")
    assert stored_keys(emulator, table) == keys - {"o-00003", "o-00030"}


def test_a_batch_of_only_listed_keys_writes_nothing(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed_keys=["o-1", "o-2"])

    answer = emulator.client("dynamodb").batch_write_item(RequestItems={table: [put("o-1"), put("o-2")]})

    assert answer["UnprocessedItems"] == {table: [put("o-1"), put("o-2")]}
    assert stored_keys(emulator, table) == set()


def test_listed_keys_are_matched_on_each_tables_own_partition_key(emulator, faults):
    by_customer = orders_table(emulator, key="customer")
    by_number = orders_table(emulator, key="number", key_type="N")
    faults.set_faults(dynamodb_unprocessed_keys=["Ada", "42"])

    def item(key: str, value: dict, other: str) -> dict:
        return {"PutRequest": {"Item": {key: value, "order_id": {"S": other}}}}

    answer = emulator.client("dynamodb").batch_write_item(
        RequestItems={
            by_customer: [item("customer", {"S": "Ada"}, "o-1"), item("customer", {"S": "Grace"}, "Ada")],
            by_number: [item("number", {"N": "42"}, "o-2"), item("number", {"N": "7"}, "42")],
        }
    )

    assert answer["UnprocessedItems"] == {
        by_customer: [item("customer", {"S": "Ada"}, "o-1")],
        by_number: [item("number", {"N": "42"}, "o-2")],
    }
    scanned = emulator.client("dynamodb").scan(TableName=by_number)["Items"]
    assert [entry["number"] for entry in scanned] == [{"N": "7"}]


def test_deletes_of_listed_keys_come_back_unprocessed(emulator, faults):
    table = orders_table(emulator)
    keys, _ = write_in_batches(emulator, table, 3)
    faults.set_faults(dynamodb_unprocessed_keys=["o-00001"])

    deletes = [{"DeleteRequest": {"Key": {"order_id": {"S": key}}}} for key in sorted(keys)]
    answer = emulator.client("dynamodb").batch_write_item(RequestItems={table: deletes})

    assert answer["UnprocessedItems"] == {table: [deletes[1]]}
    assert stored_keys(emulator, table) == {"o-00001"}


def test_with_a_share_as_well_the_others_get_in_on_a_retry_and_the_listed_key_never(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed=0.3, dynamodb_unprocessed_keys=["o-00007"], seed=42)
    dynamodb = emulator.client("dynamodb")

    keys, pending = write_in_batches(emulator, table, 1000)
    first_pass = len(pending)
    for _ in range(60):
        if pending == [put("o-00007")]:
            break
        answer = dynamodb.batch_write_item(RequestItems={table: pending[:ITEMS_PER_BATCH]})
        pending = pending[ITEMS_PER_BATCH:] + answer["UnprocessedItems"].get(table, [])

    assert 0.25 <= first_pass / 1000 <= 0.35
    assert pending == [put("o-00007")]
    assert stored_keys(emulator, table) == keys - {"o-00007"}


def test_clearing_the_faults_lets_the_listed_keys_be_written(emulator, faults):
    table = orders_table(emulator)
    faults.set_faults(dynamodb_unprocessed_keys=["o-00002"])
    keys, unprocessed = write_in_batches(emulator, table, 5)
    faults.clear_faults()

    answer = emulator.client("dynamodb").batch_write_item(RequestItems={table: unprocessed})

    assert put_keys(unprocessed) == ["o-00002"]
    assert answer["UnprocessedItems"] == {}
    assert stored_keys(emulator, table) == keys


@pytest.mark.parametrize("keys", ["o-1", [1, 2], {"o-1": True}])
def test_the_listed_keys_must_be_a_list_of_strings(emulator, faults, keys):
    with pytest.raises(RuntimeError, match="dynamodb_unprocessed_keys must be a list of strings"):
        faults.set_faults(dynamodb_unprocessed_keys=keys)
    assert faults.faults()["dynamodb_unprocessed_keys"] == []


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


def test_split_batch_leaves_out_every_stuck_request_whatever_the_share():
    requests = {"a": [put(f"a{n}") for n in range(6)], "b": [put("b0"), put("a3")]}

    def stuck(table: str, request: dict) -> bool:
        return request["PutRequest"]["Item"]["order_id"]["S"] == "a3"

    kept, unprocessed = split_batch(requests, 0.0, random.Random(3), stuck)

    assert unprocessed == {"a": [put("a3")], "b": [put("a3")]}
    assert kept == {"a": [put(f"a{n}") for n in (0, 1, 2, 4, 5)], "b": [put("b0")]}
