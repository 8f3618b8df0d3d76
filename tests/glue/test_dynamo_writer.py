"""The BatchWriteItem writer against moto: batching, retries of unprocessed items, and what counts as failed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.dynamo_writer import BatchWriter, WriteError, attribute_value, client_config

TABLE = "orders"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", config=client_config())
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


class Throttled:
    """Wraps a real client: ids listed in ``unprocessed`` are left unprocessed by their first N requests
    (N = the value; -1 = always), the others are written. Every request's ids are recorded."""

    def __init__(self, client: Any, unprocessed: dict[str, int]):
        self.client = client
        self.unprocessed = dict(unprocessed)
        self.requests: list[list[str]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        requests = RequestItems[TABLE]
        self.requests.append([r["PutRequest"]["Item"]["order_id"]["S"] for r in requests])
        kept, left = [], []
        for request in requests:
            order_id = request["PutRequest"]["Item"]["order_id"]["S"]
            remaining = self.unprocessed.get(order_id, 0)
            if remaining:
                self.unprocessed[order_id] = remaining - 1
                left.append(request)
            else:
                kept.append(request)
        if kept:
            self.client.batch_write_item(RequestItems={TABLE: kept})
        return {"UnprocessedItems": {TABLE: left} if left else {}}


class Failing:
    """Raises the given AWS error for the first ``times`` requests (-1: always), then writes."""

    def __init__(self, client: Any, code: str, status: int, times: int):
        self.client = client
        self.error = {
            "Error": {"Code": code, "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        self.times = times
        self.calls = 0

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.times < 0 or self.calls <= self.times:
            raise ClientError(self.error, "BatchWriteItem")
        return self.client.batch_write_item(**request)


def items(count: int, start: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"O-{n}", {"order_id": {"S": f"O-{n}"}, "amount": {"N": f"{n}.50"}})
        for n in range(start, start + count)
    ]


def stored(client: Any) -> dict[str, str]:
    pages = client.get_paginator("scan").paginate(TableName=TABLE)
    return {i["order_id"]["S"]: i["amount"]["N"] for page in pages for i in page["Items"]}


def writer(client: Any, sleeps: list[float] | None = None, **options: Any) -> BatchWriter:
    return BatchWriter(
        client,
        TABLE,
        ["order_id"],
        sleep=(sleeps if sleeps is not None else []).append,
        rng=random.Random(7),
        **options,
    )


def test_items_are_written_25_per_request_and_reported_in_order(dynamodb):
    client = Throttled(dynamodb, {})

    results = list(writer(client, concurrency=3).write(items(60)))

    assert results == [(f"O-{n}", None) for n in range(60)]
    assert sorted(len(r) for r in client.requests) == [10, 25, 25]
    assert stored(dynamodb) == {f"O-{n}": f"{n}.50" for n in range(60)}


def test_unprocessed_items_are_sent_again_until_written(dynamodb):
    client = Throttled(dynamodb, {"O-3": 2, "O-7": 1})
    sleeps: list[float] = []

    results = list(writer(client, sleeps, max_attempts=5, concurrency=1).write(items(10)))

    assert results == [(f"O-{n}", None) for n in range(10)]
    assert client.requests == [[f"O-{n}" for n in range(10)], ["O-3", "O-7"], ["O-3"]]
    assert len(sleeps) == 2
    assert set(stored(dynamodb)) == {f"O-{n}" for n in range(10)}


def test_items_still_unprocessed_after_the_last_attempt_are_failed(dynamodb):
    client = Throttled(dynamodb, {"O-1": -1, "O-28": -1, "O-29": 4})
    sleeps: list[float] = []

    results = dict(writer(client, sleeps, max_attempts=3, concurrency=2).write(items(30)))

    assert {k: v for k, v in results.items() if v} == {
        "O-1": "UnprocessedItems after 3 attempts",
        "O-28": "UnprocessedItems after 3 attempts",
        "O-29": "UnprocessedItems after 3 attempts",
    }
    assert len(results) == 30
    assert sorted(map(len, client.requests)) == [1, 1, 2, 2, 5, 25]
    assert set(stored(dynamodb)) == {f"O-{n}" for n in range(30)} - {"O-1", "O-28", "O-29"}
    assert len(sleeps) == 4  # two retries for each of the two batches


def test_backoff_grows_exponentially_under_a_cap_with_full_jitter():
    upper = BatchWriter(None, TABLE, ["order_id"], base_delay=0.05, max_delay=0.3)
    upper.rng.uniform = lambda low, high: high  # type: ignore[method-assign]

    assert [upper.backoff(n) for n in range(1, 6)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    jittered = BatchWriter(None, TABLE, ["order_id"], base_delay=0.05, rng=random.Random(3))
    delays = [jittered.backoff(4) for _ in range(200)]
    assert 0 <= min(delays) < 0.05 and 0.35 < max(delays) <= 0.4


def test_a_throttled_request_is_retried_and_succeeds(dynamodb):
    client = Failing(dynamodb, "ProvisionedThroughputExceededException", 400, times=2)

    results = list(writer(client, max_attempts=3).write(items(5)))

    assert results == [(f"O-{n}", None) for n in range(5)]
    assert client.calls == 3
    assert len(stored(dynamodb)) == 5


def test_items_of_a_request_that_keeps_failing_with_a_retryable_error_are_failed(dynamodb):
    client = Failing(dynamodb, "InternalServerError", 500, times=-1)

    results = list(writer(client, max_attempts=2).write(items(3)))

    assert results == [(f"O-{n}", "InternalServerError after 2 attempts") for n in range(3)]
    assert client.calls == 2
    assert stored(dynamodb) == {}


def test_an_error_no_retry_can_fix_stops_the_write(dynamodb):
    missing = BatchWriter(dynamodb, "no-such-table", ["order_id"], sleep=lambda _: None)

    with pytest.raises(WriteError, match="table 'no-such-table' failed: ResourceNotFoundException"):
        list(missing.write(items(3)))


def test_with_one_attempt_nothing_is_retried(dynamodb):
    client = Throttled(dynamodb, {"O-0": 1})
    sleeps: list[float] = []

    results = list(writer(client, sleeps, max_attempts=1).write(items(2)))

    assert results == [("O-0", "UnprocessedItems after 1 attempt"), ("O-1", None)]
    assert sleeps == []


SERIALIZABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.text()
    | st.binary()
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _serialized(serialize: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", serialize(value)
    except Exception as error:  # the same error type and message, or the same answer
        return type(error).__name__, str(error)


@given(SERIALIZABLE)
def test_attribute_value_answers_what_boto3s_serializer_answers(value: Any) -> None:
    assert _serialized(attribute_value, value) == _serialized(TypeSerializer().serialize, value)


def test_attribute_value_of_an_orders_fields() -> None:
    assert [attribute_value(v) for v in ("A-1", 3, Decimal("59.90"), Decimal("1E+2"), True)] == [
        {"S": "A-1"},
        {"N": "3"},
        {"N": "59.90"},
        {"N": "1E+2"},
        {"BOOL": True},
    ]
    with pytest.raises(TypeError, match="Infinity and NaN not supported"):
        attribute_value(Decimal("NaN"))
