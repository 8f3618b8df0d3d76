"""DynamoDB capacity as AWS counts and throttles it: units per item size, token buckets, throttling errors,
ReturnConsumedCapacity and the CloudWatch metrics, through boto3 against the session's emulator."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.dynamodb_capacity import item_size, number_size, read_units, write_units
from tests.conftest import start_emulator

KB = 1024
NO_RETRIES = Config(retries={"total_max_attempts": 1})  # a throttled request is seen, not retried


@pytest.fixture
def capacity(emulator):
    """The emulator's capacity knobs, reset (real clock, defaults) after the test whatever it set."""
    yield emulator.control
    emulator.control.delete("dynamodb")
    emulator.control.clear_faults()


def client(emulator, service: str = "dynamodb"):
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=NO_RETRIES,
    )


def new_table(emulator, wcu: int | None = None, rcu: int = 5, **extra) -> str:
    """A table keyed by "k" (S): provisioned with ``wcu``/``rcu``, or on-demand when ``wcu`` is None."""
    name = f"capacity-{uuid.uuid4().hex[:10]}"
    throughput = (
        {"ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}}
        if wcu is not None
        else {"BillingMode": "PAY_PER_REQUEST"}
    )
    client(emulator).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        **throughput,
        **extra,
    )
    return name


def sized(key: str, size: int) -> dict:
    """An item of exactly ``size`` bytes by AWS's rules: "k" + the key, "p" + padding."""
    if size == 1 + len(key):
        return {"k": {"S": key}}
    padding = size - (1 + len(key)) - 1
    assert padding >= 0, f"{size} bytes cannot hold key {key!r}"
    return {"k": {"S": key}, "p": {"S": "x" * padding}}


def put_units(dynamodb, table: str, item: dict) -> float:
    return dynamodb.put_item(TableName=table, Item=item, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"][
        "CapacityUnits"
    ]


def stored_keys(dynamodb, table: str) -> set[str]:
    return {item["k"]["S"] for item in dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]}


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, list[dict]]:
    response = excinfo.value.response
    # the service model names it ThrottlingReasons in ProvisionedThroughputExceededException and
    # throttlingReasons in ThrottlingException
    return response["Error"]["Code"], response.get("ThrottlingReasons") or response.get(
        "throttlingReasons", []
    )


# --- units ----------------------------------------------------------------------------------------------


def test_write_and_read_units_by_size() -> None:
    assert [write_units(size) for size in (1, 1024, 1025, 5 * KB, 5 * KB + 1)] == [1, 1, 2, 5, 6]
    assert write_units(1025, transactional=True) == 4
    assert [read_units(size, consistent=True) for size in (1, 4096, 4097, 5 * KB)] == [1, 1, 2, 2]
    assert [read_units(size) for size in (1, 4096, 4097)] == [0.5, 0.5, 1.0]
    assert read_units(4097, transactional=True) == 4


def test_item_sizes_follow_aws_rules_not_moto_text_lengths() -> None:
    assert number_size("1000000000000000000000000000000000000") == 2  # one significant digit
    assert number_size("-0.00123") == 3  # three significant digits: two bytes, plus one
    assert number_size("12345678901234567890") == 11
    assert item_size({"k": {"S": "é"}}) == 1 + 2  # UTF-8 bytes
    assert item_size({"m": {"M": {"a": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"S": "ab"}, {"NULL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3


def test_put_item_consumes_a_write_unit_per_started_kilobyte(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)

    units = [
        put_units(dynamodb, table, sized(key, size))
        for key, size in zip("abcd", (2, 1024, 1025, 5 * KB), strict=True)
    ]

    assert units == [1.0, 1.0, 2.0, 5.0]


def test_numbers_are_sized_by_their_significant_digits(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    item = sized("a", 1006 - 3)  # 1003 bytes, and a number of one significant digit (2 bytes)
    item["n"] = {"N": "1" + "0" * 36}  # 38 characters as text: 1,041 bytes, two units, as moto counts

    assert put_units(dynamodb, table, item) == 1.0


def test_a_put_that_replaces_an_item_consumes_the_larger_of_the_two(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    put_units(dynamodb, table, sized("a", 5 * KB))

    replacing = put_units(dynamodb, table, sized("a", 10))
    after = put_units(dynamodb, table, sized("a", 10))
    batch = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized("a", 3 * KB)}}]}, ReturnConsumedCapacity="TOTAL"
    )

    assert (replacing, after) == (5.0, 1.0)
    assert batch["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 3.0}]


def test_update_and_delete_consume_the_item_before_and_after(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    put_units(dynamodb, table, sized("a", 1000))

    grown = dynamodb.update_item(
        TableName=table,
        Key={"k": {"S": "a"}},
        UpdateExpression="SET q = :q",
        ExpressionAttributeValues={":q": {"S": "y" * 2000}},
        ReturnConsumedCapacity="TOTAL",
    )["ConsumedCapacity"]["CapacityUnits"]
    deleted = dynamodb.delete_item(TableName=table, Key={"k": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")

    assert grown == 3.0  # 1000 + 1 + 2000 bytes after the update
    assert deleted["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 3.0}
    assert "ConsumedCapacityUnits" not in deleted  # moto's own extra field is gone


def test_transactional_writes_and_reads_consume_twice(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)

    written = dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": sized("a", 1025)}}],
        ReturnConsumedCapacity="TOTAL",
    )
    read = dynamodb.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": {"k": {"S": "a"}}}}],
        ReturnConsumedCapacity="TOTAL",
    )

    assert written["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 4.0}]
    assert read["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 2.0}]


def test_reads_consume_a_unit_per_started_4_kb_and_half_when_eventually_consistent(
    emulator, capacity
) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    for key, size in (("a", 4096), ("b", 4097), ("c", 5 * KB)):
        dynamodb.put_item(TableName=table, Item=sized(key, size))

    def get(key: str, consistent: bool) -> float:
        answer = dynamodb.get_item(
            TableName=table, Key={"k": {"S": key}}, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL"
        )
        return answer["ConsumedCapacity"]["CapacityUnits"]

    assert [get(key, True) for key in "abc"] == [1.0, 2.0, 2.0]
    assert [get(key, False) for key in "abc"] == [0.5, 1.0, 1.0]
    assert get("missing", True) == 1.0


def test_query_and_scan_sum_the_items_read_before_rounding(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    for key in ("a", "b", "c"):
        dynamodb.put_item(TableName=table, Item=sized(key, 2 * KB))  # 6 KB in all: 2 units, not 3

    scanned = dynamodb.scan(TableName=table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    filtered = dynamodb.scan(
        TableName=table,
        FilterExpression="k = :k",
        ExpressionAttributeValues={":k": {"S": "a"}},
        ReturnConsumedCapacity="INDEXES",
    )
    queried = dynamodb.query(
        TableName=table,
        KeyConditionExpression="k = :k",
        ExpressionAttributeValues={":k": {"S": "b"}},
        ReturnConsumedCapacity="TOTAL",
    )

    assert scanned["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 2.0}
    # a filter does not reduce what is read
    assert filtered["Count"] == 1
    assert filtered["ConsumedCapacity"] == {
        "TableName": table,
        "CapacityUnits": 1.0,
        "Table": {"CapacityUnits": 1.0},
    }
    assert queried["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 0.5}


def test_no_consumed_capacity_unless_asked(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)

    batch = dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": sized("a", 10)}}]})
    put = dynamodb.put_item(TableName=table, Item=sized("b", 10))

    assert "ConsumedCapacity" not in batch  # moto answers a constant 1.0 here whatever was asked
    assert "ConsumedCapacity" not in put


# --- throttling -----------------------------------------------------------------------------------------


def test_a_5_wcu_table_throttles_the_sixth_1_kb_write_in_a_second(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5)
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0})

    written = [put_units(dynamodb, table, sized(f"a{n}", KB)) for n in range(5)]
    with pytest.raises(ClientError) as throttled:
        dynamodb.put_item(TableName=table, Item=sized("a5", KB))

    code, reasons = error_of(throttled)
    assert written == [1.0] * 5
    assert code == "ProvisionedThroughputExceededException"
    assert [reason["reason"] for reason in reasons] == ["TableWriteProvisionedThroughputExceeded"]
    assert reasons[0]["resource"].endswith(f":table/{table}")
    assert stored_keys(dynamodb, table) == {f"a{n}" for n in range(5)}  # the throttled write was not applied
    capacity.post("dynamodb", {"advance_s": 1})
    assert put_units(dynamodb, table, sized("a5", KB)) == 1.0  # the next second's capacity


def test_without_burst_allowance_idle_time_saves_nothing(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5)
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0, "advance_s": 60})

    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"a{n}", KB)}} for n in range(8)]}
    )

    assert len(answer["UnprocessedItems"][table]) == 3


def test_batch_write_returns_exactly_the_throttled_items_and_raises_only_when_none_was_written(
    emulator, capacity
) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5)
    capacity.post("dynamodb", {"clock": "frozen"})
    requests = [{"PutRequest": {"Item": sized(f"a{n}", KB)}} for n in range(8)]

    answer = dynamodb.batch_write_item(RequestItems={table: requests}, ReturnConsumedCapacity="TOTAL")
    with pytest.raises(ClientError) as none_written:
        dynamodb.batch_write_item(RequestItems={table: answer["UnprocessedItems"][table]})

    assert answer["UnprocessedItems"] == {table: requests[5:]}
    assert answer["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 5.0}]
    assert error_of(none_written)[0] == "ProvisionedThroughputExceededException"
    assert stored_keys(dynamodb, table) == {f"a{n}" for n in range(5)}
    capacity.post("dynamodb", {"advance_s": 1})
    retried = dynamodb.batch_write_item(RequestItems={table: requests[5:]})
    assert retried["UnprocessedItems"] == {}
    assert stored_keys(dynamodb, table) == {f"a{n}" for n in range(8)}


def test_unused_capacity_is_kept_up_to_300_seconds(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5)
    capacity.post("dynamodb", {"clock": "frozen"})
    dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"a{n}", KB)}} for n in range(5)]}
    )

    capacity.post("dynamodb", {"advance_s": 4})  # 20 units saved
    after_idle = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"b{n:02}", KB)}} for n in range(25)]}
    )

    assert len(after_idle["UnprocessedItems"][table]) == 5
    small = new_table(emulator, wcu=1)
    put_units(dynamodb, small, sized("first", 10))  # its one unit of the first second
    capacity.post("dynamodb", {"advance_s": 1000})  # 1,000 s idle: only 300 units kept
    assert put_units(dynamodb, small, sized("big", 300 * KB)) == 300.0
    with pytest.raises(ClientError) as throttled:
        dynamodb.put_item(TableName=small, Item=sized("next", 10))
    assert error_of(throttled)[0] == "ProvisionedThroughputExceededException"


def test_update_table_changes_the_rate(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=1)
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0})
    put_units(dynamodb, table, sized("first", 10))  # the one unit of the first second
    dynamodb.update_table(
        TableName=table, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 10}
    )

    capacity.post("dynamodb", {"advance_s": 1})
    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"a{n:02}", KB)}} for n in range(12)]}
    )

    assert len(answer["UnprocessedItems"][table]) == 2


def test_reads_past_the_rate_are_throttled(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5, rcu=1)
    dynamodb.put_item(TableName=table, Item=sized("a", 10))
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0, "advance_s": 1})

    reads = [dynamodb.get_item(TableName=table, Key={"k": {"S": "a"}})["Item"]["k"]["S"] for _ in range(2)]
    with pytest.raises(ClientError) as get:
        dynamodb.get_item(TableName=table, Key={"k": {"S": "a"}})
    with pytest.raises(ClientError) as query:
        dynamodb.query(
            TableName=table, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}}
        )
    with pytest.raises(ClientError) as scan:
        dynamodb.scan(TableName=table)

    assert reads == ["a", "a"]  # two eventually consistent reads of half a unit each
    assert {error_of(e)[0] for e in (get, query, scan)} == {"ProvisionedThroughputExceededException"}
    assert error_of(get)[1][0]["reason"] == "TableReadProvisionedThroughputExceeded"


def test_on_demand_maximum_throughput_is_kept_and_enforced(emulator, capacity) -> None:
    dynamodb = client(emulator)
    table = new_table(emulator, OnDemandThroughput={"MaxWriteRequestUnits": 2, "MaxReadRequestUnits": 1})
    capacity.post("dynamodb", {"clock": "frozen"})

    described = dynamodb.describe_table(TableName=table)["Table"]["OnDemandThroughput"]
    written = [put_units(dynamodb, table, sized(f"a{n}", 100)) for n in range(2)]
    with pytest.raises(ClientError) as throttled:
        dynamodb.put_item(TableName=table, Item=sized("a2", 100))

    assert described == {"MaxWriteRequestUnits": 2, "MaxReadRequestUnits": 1}
    assert written == [1.0, 1.0]
    code, reasons = error_of(throttled)
    assert code == "ThrottlingException"
    assert [reason["reason"] for reason in reasons] == ["TableWriteMaxOnDemandThroughputExceeded"]
    dynamodb.update_table(TableName=table, OnDemandThroughput={"MaxWriteRequestUnits": -1})
    assert dynamodb.describe_table(TableName=table)["Table"]["OnDemandThroughput"] == {
        "MaxReadRequestUnits": 1
    }
    assert put_units(dynamodb, table, sized("a2", 100)) == 1.0  # no maximum, no knob: unlimited


def test_the_on_demand_knob_gives_on_demand_tables_a_rate(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    capacity.post("dynamodb", {"clock": "frozen", "on_demand_write_rate": 10, "on_demand_read_rate": 10})

    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"a{n:02}", KB)}} for n in range(12)]}
    )
    with pytest.raises(ClientError) as throttled:
        dynamodb.put_item(TableName=table, Item=sized("b", 10))

    assert len(answer["UnprocessedItems"][table]) == 2
    assert error_of(throttled)[0] == "ThrottlingException"
    capacity.post("dynamodb", {"on_demand_write_rate": None})
    assert put_units(dynamodb, table, sized("b", 10)) == 1.0


def test_on_demand_rate_at_aws_starting_throughput_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMULATOR_DYNAMODB_ON_DEMAND_RATE", "aws")
    process, other = start_emulator(tmp_path)
    try:
        knobs = other.control.get("dynamodb")
        other.control.post("dynamodb", {"clock": "frozen"})
        dynamodb, table = client(other), new_table(other)
        batches = [
            [{"PutRequest": {"Item": {"k": {"S": f"{b}-{n}"}}}} for n in range(25)] for b in range(161)
        ]
        unprocessed = [
            len(dynamodb.batch_write_item(RequestItems={table: batch})["UnprocessedItems"].get(table, []))
            for batch in batches[:160]
        ]
        with pytest.raises(ClientError) as throttled:
            dynamodb.batch_write_item(RequestItems={table: batches[160]})
    finally:
        process.terminate()
        process.wait(timeout=15)

    assert (knobs["on_demand_write_rate"], knobs["on_demand_read_rate"]) == (4000, 12000)
    assert sum(unprocessed) == 0  # 4,000 one-unit writes in the first second
    assert error_of(throttled)[0] == "ThrottlingException"


def test_unlimited_by_default(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)

    unprocessed = 0
    for start in range(0, 2000, 25):
        batch = [{"PutRequest": {"Item": sized(f"a{n:04}", 2 * KB)}} for n in range(start, start + 25)]
        unprocessed += len(dynamodb.batch_write_item(RequestItems={table: batch})["UnprocessedItems"])

    assert capacity.get("dynamodb")["on_demand_write_rate"] is None
    assert unprocessed == 0


def test_fault_knob_and_capacity_items_both_end_in_unprocessed_items(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5)
    capacity.post("dynamodb", {"clock": "frozen"})
    capacity.set_faults(dynamodb_unprocessed_keys=["a0"])
    requests = [{"PutRequest": {"Item": sized(f"a{n}", KB)}} for n in range(8)]

    answer = dynamodb.batch_write_item(RequestItems={table: requests}, ReturnConsumedCapacity="TOTAL")

    # a0 left out by the fault (consuming nothing), a1..a5 written, a6 and a7 past the rate
    assert answer["UnprocessedItems"][table] == requests[6:] + requests[:1]
    assert answer["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 5.0}]
    assert stored_keys(dynamodb, table) == {f"a{n}" for n in range(1, 6)}


def test_switched_off_nothing_is_throttled(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=1)
    capacity.post("dynamodb", {"enabled": False})

    for n in range(10):
        dynamodb.put_item(TableName=table, Item=sized(f"a{n}", KB))

    assert len(stored_keys(dynamodb, table)) == 10


def test_bad_knobs_get_a_clear_error(emulator, capacity) -> None:
    for knobs, message in (
        ({"on_demand_write_rate": -1}, "on_demand_write_rate must be a positive number"),
        ({"burst": 3}, "unknown DynamoDB capacity knob(s): burst"),
        ({"advance_s": 1}, "advance_s needs the frozen clock"),
        ({"clock": "fast"}, "clock must be 'real' or 'frozen'"),
    ):
        with pytest.raises(RuntimeError, match=re.escape(message)):
            capacity.post("dynamodb", knobs)


# --- CloudWatch -----------------------------------------------------------------------------------------


def metric_sum(emulator, name: str, dimensions: dict[str, str]) -> float:
    now = datetime.now(UTC)
    datapoints = client(emulator, "cloudwatch").get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName=name,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=2),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(point["Sum"] for point in datapoints)


def test_consumed_units_and_throttles_are_cloudwatch_metrics(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5, rcu=1)
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0})
    dynamodb.put_item(TableName=table, Item=sized("a", 2 * KB))  # 2 units
    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized(f"b{n}", KB)}} for n in range(5)]}
    )  # 3 written, 2 throttled
    with pytest.raises(ClientError):
        dynamodb.batch_write_item(RequestItems={table: answer["UnprocessedItems"][table]})  # 2 throttled
    with pytest.raises(ClientError):
        dynamodb.put_item(TableName=table, Item=sized("c", 10))  # 1 throttled
    dynamodb.get_item(TableName=table, Key={"k": {"S": "a"}}, ConsistentRead=True)  # 1 unit
    with pytest.raises(ClientError):
        dynamodb.get_item(TableName=table, Key={"k": {"S": "a"}})

    table_only = {"TableName": table}
    assert metric_sum(emulator, "ConsumedWriteCapacityUnits", table_only) == 5.0
    assert metric_sum(emulator, "WriteThrottleEvents", table_only) == 5.0
    assert metric_sum(emulator, "ConsumedReadCapacityUnits", table_only) == 1.0
    assert metric_sum(emulator, "ReadThrottleEvents", table_only) == 1.0
    assert metric_sum(emulator, "ThrottledRequests", {**table_only, "Operation": "BatchWriteItem"}) == 1.0
    assert metric_sum(emulator, "ThrottledRequests", {**table_only, "Operation": "PutItem"}) == 1.0
    assert metric_sum(emulator, "ThrottledRequests", {**table_only, "Operation": "GetItem"}) == 1.0


def test_the_running_total_keeps_the_aws_size_of_stored_items() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from emulator import speedups

    speedups.install()
    speedups.freeze_survivors(False)
    attributes = {
        "k": {"S": "é-1"},
        "n": {"N": "-0.00120"},
        "ns": {"NS": ["1", "22"]},
        "m": {"M": {"a": {"L": [{"S": "x"}, {"BOOL": False}]}}},
        "b": {"B": b"\x00\x01"},
        "z": {"NULL": True},
    }
    item = Item(DynamoType(attributes["k"]), None, attributes)

    assert speedups.aws_item_size(item.attrs) == item_size(attributes) == item_size(item.attrs) == 32
    item.attrs["n"] = DynamoType({"N": "12345"})  # a replaced value no longer counts
    assert speedups.aws_item_size(item.attrs) == item_size({**attributes, "n": {"N": "12345"}})
    item.attrs.pop("z")  # changed some other way: unknown until summed again
    assert speedups.aws_item_size(item.attrs) is None


def test_a_failed_condition_consumes_the_existing_item(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    dynamodb.put_item(TableName=table, Item=sized("a", 3 * KB))  # 3 units

    with pytest.raises(ClientError) as failed:
        dynamodb.put_item(TableName=table, Item=sized("a", 10), ConditionExpression="attribute_not_exists(k)")

    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert metric_sum(emulator, "ConsumedWriteCapacityUnits", {"TableName": table}) == 6.0


def test_items_the_fault_knob_leaves_out_consume_nothing(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator)
    capacity.set_faults(dynamodb_unprocessed=1.0)

    answer = dynamodb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": sized("a", KB)}}]}, ReturnConsumedCapacity="TOTAL"
    )

    assert answer["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 0.0}]
    assert metric_sum(emulator, "ConsumedWriteCapacityUnits", {"TableName": table}) == 0.0


def test_metrics_older_than_cloudwatch_keeps_are_forgotten() -> None:
    from emulator.dynamodb_capacity import Metrics

    now = [1_000_000.0]
    metrics = Metrics(wall_clock=lambda: now[0])
    metrics.add("a", "r", "ConsumedWriteCapacityUnits", (("TableName", "t"),), 2.0)
    metrics.add("a", "r", "ConsumedWriteCapacityUnits", (("TableName", "t"),), 3.0)
    now[0] += Metrics.KEPT_S + 60
    metrics.add("a", "r", "ConsumedWriteCapacityUnits", (("TableName", "t"),), 5.0)

    [point] = metrics.data("a", "r")
    assert (point.sum, point.sample_count, point.min, point.max) == (5.0, 1, 5.0, 5.0)
    assert metrics.data("a", "other") == []


def test_bad_requests_keep_moto_errors_and_consume_nothing(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=1)
    capacity.post("dynamodb", {"clock": "frozen"})

    with pytest.raises(ClientError) as missing_key:
        dynamodb.put_item(TableName=table, Item={"p": {"S": "no key"}})
    with pytest.raises(ClientError) as missing_table:
        dynamodb.batch_write_item(RequestItems={"no-such-table": [{"PutRequest": {"Item": sized("a", 10)}}]})

    assert missing_key.value.response["Error"]["Code"] == "ValidationException"
    assert missing_table.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert put_units(dynamodb, table, sized("a", 10)) == 1.0  # the refused put gave its unit back


def test_batch_get_item_returns_the_keys_past_the_rate_as_unprocessed_keys(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=5, rcu=1)
    for key in "abc":
        dynamodb.put_item(TableName=table, Item=sized(key, 10))
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0})
    keys = [{"k": {"S": key}} for key in "abc"]

    answer = dynamodb.batch_get_item(RequestItems={table: {"Keys": keys}}, ReturnConsumedCapacity="TOTAL")
    with pytest.raises(ClientError) as none_read:
        dynamodb.batch_get_item(RequestItems={table: {"Keys": keys[2:]}})

    assert sorted(item["k"]["S"] for item in answer["Responses"][table]) == ["a", "b"]  # half a unit each
    assert answer["UnprocessedKeys"] == {table: {"Keys": keys[2:]}}
    assert answer["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 1.0}]
    assert error_of(none_read)[0] == "ProvisionedThroughputExceededException"


def test_a_transaction_past_the_rate_is_cancelled_and_writes_nothing(emulator, capacity) -> None:
    dynamodb, table = client(emulator), new_table(emulator, wcu=3)
    capacity.post("dynamodb", {"clock": "frozen", "burst_seconds": 0})
    put_units(dynamodb, table, sized("first", 10))  # 2 of the second's 3 units left

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(  # two 1 KB puts at twice their units: 4
            TransactItems=[{"Put": {"TableName": table, "Item": sized(key, KB)}} for key in "ab"]
        )

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]] == [
        "ThrottlingError",
        "ThrottlingError",
    ]
    assert stored_keys(dynamodb, table) == {"first"}
    assert put_units(dynamodb, table, sized("c", KB)) == 1.0  # the cancelled transaction took nothing
