"""The emulator's speedups of moto give moto's own answers: each is checked against the code it replaces."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from botocore.model import ServiceModel
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import speedups

speedups.install()
# This process is pytest's: its collector stays as it was, but for the test of the freeze itself.
speedups.freeze_survivors(False)

from moto import backends  # noqa: E402
from moto.core import utils  # noqa: E402
from moto.core.parse import BaseJSONParser, JSONParser  # noqa: E402
from moto.core.utils import get_service_model  # noqa: E402
from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402

ORIGINAL_SET_ITEM = LimitedSizeDict.__setitem__.__wrapped__  # type: ignore[attr-defined]


class ReferenceParser(JSONParser):
    """moto's JSON parser without the speedup."""

    _parse_structure = BaseJSONParser._parse_structure.__wrapped__  # type: ignore[attr-defined]


def _blob() -> st.SearchStrategy[str]:
    return st.binary(max_size=12).map(lambda raw: base64.b64encode(raw).decode())


scalars = st.one_of(
    st.fixed_dictionaries({"S": st.text(max_size=8)}),
    st.fixed_dictionaries({"N": st.integers().map(str)}),
    st.fixed_dictionaries({"B": _blob()}),
    st.fixed_dictionaries({"SS": st.lists(st.text(max_size=4), max_size=3)}),
    st.fixed_dictionaries({"NS": st.lists(st.integers().map(str), max_size=3)}),
    st.fixed_dictionaries({"BS": st.lists(_blob(), max_size=3)}),
    st.fixed_dictionaries({"NULL": st.just(True)}),
    st.fixed_dictionaries({"BOOL": st.booleans()}),
    # What a client should not send but moto still parses in its own way: several members, unknown
    # members, null members.
    st.fixed_dictionaries({"S": st.text(max_size=3), "N": st.just("1")}),
    st.fixed_dictionaries({"N": st.just("1"), "S": st.text(max_size=3)}),
    st.fixed_dictionaries({"Bogus": st.text(max_size=3)}),
    st.fixed_dictionaries({"S": st.none()}),
    st.fixed_dictionaries({"BOOL": st.booleans(), "Extra": st.just(1), "B": _blob()}),
)
attribute_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"L": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"M": st.dictionaries(st.text(max_size=4), inner, max_size=3)}),
    ),
    max_leaves=12,
)
items = st.dictionaries(st.text(min_size=1, max_size=6), attribute_values, min_size=1, max_size=5)


def _parse(parser_class: type[JSONParser], operation: str, body: dict) -> dict:
    model: ServiceModel = get_service_model("dynamodb")
    parser = parser_class(model.operation_model(operation), map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE)
    return parser.parse({"method": "POST", "values": {}, "headers": {}, "body": json.dumps(body).encode()})


def _ordered(value: object) -> object:
    """``value`` with the order of its maps made visible (moto takes a value's type from its first member)."""
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


@settings(max_examples=300, deadline=None)
@given(item=items)
def test_attribute_values_parse_as_moto_parses_them(item: dict) -> None:
    body = {
        "RequestItems": {"orders": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": item}}]},
        "ReturnConsumedCapacity": "TOTAL",
    }

    assert _ordered(_parse(JSONParser, "BatchWriteItem", body)) == _ordered(
        _parse(ReferenceParser, "BatchWriteItem", body)
    )


@settings(max_examples=100, deadline=None)
@given(item=items, values=st.dictionaries(st.text(min_size=1, max_size=4), attribute_values, max_size=3))
def test_other_operations_parse_as_moto_parses_them(item: dict, values: dict) -> None:
    body = {
        "TableName": "orders",
        "Item": item,
        "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
    }

    assert _ordered(_parse(JSONParser, "PutItem", body)) == _ordered(_parse(ReferenceParser, "PutItem", body))


def test_blobs_become_bytes_and_nested_values_keep_their_shape() -> None:
    item = {
        "id": {"S": "o-1"},
        "raw": {"B": base64.b64encode(b"\x00\xff").decode()},
        "nested": {"M": {"parts": {"L": [{"BS": [base64.b64encode(b"a").decode()]}, {"N": "2"}]}}},
    }

    parsed = _parse(JSONParser, "PutItem", {"TableName": "t", "Item": item})

    assert parsed["Item"] == {
        "id": {"S": "o-1"},
        "raw": {"B": b"\x00\xff"},
        "nested": {"M": {"parts": {"L": [{"BS": [b"a"]}, {"N": "2"}]}}},
    }


# --- item size ---------------------------------------------------------------------------------------

sizes = st.integers(min_value=0, max_value=150_000)
operations = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), sizes), min_size=1, max_size=12)


def _apply(setter, operations_: list[tuple[str, int]]) -> tuple[dict, list[int]]:
    """Set each (key, size) in turn; return the final contents and the steps that raised."""
    target = LimitedSizeDict()
    raised = []
    for step, (key, size) in enumerate(operations_):
        try:
            setter(target, key, DynamoType({"S": "x" * size}))
        except ItemSizeTooLarge:
            raised.append(step)
    return {k: v.value for k, v in target.items()}, raised


@settings(max_examples=200, deadline=None)
@given(operations_=operations)
def test_item_size_limit_applies_as_moto_applies_it(operations_: list[tuple[str, int]]) -> None:
    assert _apply(LimitedSizeDict.__setitem__, operations_) == _apply(ORIGINAL_SET_ITEM, operations_)


def test_an_item_over_the_limit_is_refused_and_one_at_it_is_kept() -> None:
    at_limit = speedups.LIMIT - len("big")
    Item(DynamoType({"S": "k"}), None, {"big": {"S": "x" * at_limit}})

    with pytest.raises(ItemSizeTooLarge):
        Item(DynamoType({"S": "k"}), None, {"big": {"S": "x" * (at_limit + 1)}})
    with pytest.raises(ItemSizeTooLarge):
        Item(DynamoType({"S": "k"}), None, {"a": {"S": "x" * 200_000}, "b": {"S": "x" * 205_000}})


def test_the_running_size_is_summed_again_after_other_changes() -> None:
    attrs = LimitedSizeDict()
    attrs["a"] = DynamoType({"S": "x" * 300_000})
    attrs.pop("a")
    attrs["b"] = DynamoType({"S": "x" * 300_000})  # would exceed the limit if "a" still counted
    attrs.update({"b": DynamoType({"S": "x"})})
    attrs["c"] = DynamoType({"S": "x" * 400_000})  # and this if the big "b" still counted

    assert sorted(attrs) == ["b", "c"]


# --- per-request lookups -------------------------------------------------------------------------------


def test_moto_modules_are_the_folders_of_moto() -> None:
    original = backends.list_of_moto_modules.__wrapped__  # type: ignore[attr-defined]

    assert set(backends.list_of_moto_modules()) == set(original())
    assert {"dynamodb", "stepfunctions", "s3"} <= set(backends.list_of_moto_modules())


def test_method_names_are_those_of_the_class() -> None:
    uncached = utils.method_names_from_class.__wrapped__  # type: ignore[attr-defined]

    assert utils.method_names_from_class(DynamoHandler) == uncached(DynamoHandler)
    assert "batch_write_item" in utils.method_names_from_class(DynamoHandler)


# --- through the server -------------------------------------------------------------------------------


def test_the_server_stores_and_returns_binary_and_nested_attributes(emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    table = f"speedups-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    item = {
        "id": {"S": "o-1"},
        "raw": {"B": b"\x00\xff"},
        "set": {"BS": [b"a", b"b"]},
        "nested": {"M": {"parts": {"L": [{"N": "2"}, {"BOOL": True}, {"NULL": True}]}}},
    }

    dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
    stored = dynamodb.get_item(TableName=table, Key={"id": {"S": "o-1"}})["Item"]

    assert stored["raw"] == {"B": b"\x00\xff"}
    assert sorted(stored["set"]["BS"]) == [b"a", b"b"]
    assert stored["nested"] == item["nested"]
    with pytest.raises(
        dynamodb.exceptions.ClientError, match="Item size has exceeded the maximum allowed size"
    ):
        dynamodb.put_item(TableName=table, Item={"id": {"S": "o-2"}, "big": {"S": "x" * 410_000}})


def test_the_emulator_process_collects_garbage_with_the_tuned_thresholds(emulator) -> None:
    import gc

    assert gc.get_threshold() == speedups.GC_THRESHOLDS  # this process installed them above
    status = emulator.control.status()
    assert status["gc_thresholds"] == list(speedups.GC_THRESHOLDS)


def test_gc_pauses_are_counted_per_generation_with_their_total_and_longest() -> None:
    ticks = iter([10.0, 10.25, 20.0, 21.5, 30.0, 30.5])
    pauses = speedups.GcPauses(clock=lambda: next(ticks))

    pauses.callback("stop", {"generation": 2})  # a stop without its start (installed mid-collection): ignored
    for generation in (0, 1, 0):
        pauses.callback("start", {"generation": generation})
        pauses.callback("stop", {"generation": generation})

    assert pauses.snapshot() == {
        "collections": [2, 1, 0],
        "pause_s": [0.75, 1.5, 0.0],
        "longest_pause_s": [0.5, 1.5, 0.0],
    }


def test_what_survives_a_collection_is_frozen_and_later_cycles_are_still_collected() -> None:
    import gc
    import weakref

    class Node:
        pass

    speedups.freeze_survivors()
    try:
        survivor = [Node()]
        gc.collect(0)

        assert gc.get_freeze_count() > 0
        assert not any(item is survivor for item in gc.get_objects())  # no collection walks it again

        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        collected = weakref.ref(cycle)
        del cycle
        gc.collect(0)

        assert collected() is None
    finally:
        speedups.freeze_survivors(False)

    assert gc.get_freeze_count() == 0
    assert any(item is survivor for item in gc.get_objects())


def test_the_status_route_reports_the_collectors_pauses(emulator) -> None:
    status = emulator.control.status()

    assert set(status["gc"]) == {"collections", "pause_s", "longest_pause_s", "frozen"}
    assert [len(status["gc"][name]) for name in ("collections", "pause_s", "longest_pause_s")] == [3, 3, 3]
    assert isinstance(status["gc"]["frozen"], int)
