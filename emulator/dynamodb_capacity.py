"""DynamoDB capacity as AWS counts and throttles it: consumed units, a token bucket per table, throttling.

Moto writes whatever it is sent as fast as it can, and answers ``ConsumedCapacity`` with constants. On AWS a
table has a write rate and a read rate, every request consumes units by the size of the items it touches, and
a request past the rate is throttled. Code that passes locally must meet those throttles here too.

What a table may consume per second:
- a provisioned table: its ProvisionedThroughput (WCU / RCU), as it is now (UpdateTable changes apply at once);
- an on-demand table: its OnDemandThroughput maximum (MaxWriteRequestUnits / MaxReadRequestUnits) when set
  (moto drops that block; it is kept here and described again), else the ``on_demand_write_rate`` /
  ``on_demand_read_rate`` knob, unlimited by default so that local runs stay fast. With the knob at
  AWS's starting rate of a new on-demand table (4,000 write and 12,000 read request units/s) the loader
  meets the throttles a first load into a fresh table would.

Units, as AWS counts them (``write_units``, ``read_units``): a write unit per started 1 KB of item size (for a
put, update or delete the larger of the item before and after; BatchWriteItem rounds each item on its own),
doubled in a transaction; a read unit per started 4 KB, halved for eventually consistent reads, doubled in
a transaction; Query and Scan sum the sizes of the items they read (before any filter) and round once.
Item sizes follow AWS's rules (``item_size``), not moto's (which counts a number's digits as text).

Each table has a token bucket per direction, refilled at its rate. A provisioned table keeps up to
``burst_seconds`` (300, as AWS) of unused capacity; an on-demand table one second's worth. A new bucket
holds one second's worth. A request is admitted when the bucket holds its units (or the bucket is full: a
request larger than the whole bucket goes through and leaves a debt, as AWS's burst allowance lets big
items through a small table); the size of an UpdateItem's result and of what a Query or Scan reads is
known only afterwards, so they are admitted on the size before (the minimum for reads) and the rest is
charged after, which may leave the bucket in debt. A throttled request consumes nothing and writes nothing:
PutItem, UpdateItem, DeleteItem, GetItem, Query and Scan raise ProvisionedThroughputExceededException
(provisioned) or ThrottlingException (on-demand), with ``ThrottlingReasons``; BatchWriteItem returns the
throttled items as UnprocessedItems and raises only when none of its items was written.

The units consumed and the throttle events go to CloudWatch (namespace AWS/DynamoDB) as one-minute
statistic sets, read by moto's CloudWatch backend through its metric-provider hook: nothing is sent per
request, the minute's figures are added up in memory and read when CloudWatch is asked.

The checks patch moto's DynamoDB handler methods, so they apply to every path into moto, including the
BatchWriteItem requests the ``dynamodb_faults`` extension forwards after leaving its own items out (those
consume nothing). A BatchWriteItem to tables without a rate (the loader's, by default) is not sized up front:
each item is counted as moto writes it, its size read from the speedups' running total, so that the check
costs the loader little. ``POST /_emulator/dynamodb`` sets the knobs (see ``CapacitySettings``); ``enabled:
false`` leaves moto's answers as they were.

Not modelled: global secondary indexes (their own capacity, the writes a table write makes to them),
partitions and hot keys, account quotas, PartiQL statements (ExecuteStatement and its batch and
transaction forms consume nothing here).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import ControlError, EmulatorApp, control_body, control_json
from emulator.speedups import aws_item_size

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
BURST_SECONDS = 300.0  # AWS retains up to five minutes of unused capacity
# A new on-demand table's starting throughput (AWS's warm throughput of a new on-demand table).
AWS_ON_DEMAND_WRITE_RATE = 4000.0
AWS_ON_DEMAND_READ_RATE = 12000.0
NAMESPACE = "AWS/DynamoDB"
WRITE, READ = "Write", "Read"
PROVISIONED, ON_DEMAND_MAXIMUM, ON_DEMAND_RATE = "provisioned", "on-demand maximum", "on-demand rate"


# --- item sizes (AWS's rules) ----------------------------------------------------------------------------


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def number_size(text: str) -> int:
    """A number's size: one byte per two significant digits (leading and trailing zeroes trimmed), plus one."""
    if "e" in text or "E" in text:
        text = text.split("e", 1)[0].split("E", 1)[0]
    digits = len(text.replace(".", "").strip("+-0"))
    return (max(digits, 1) + 1) // 2 + 1


def _binary_size(raw: Any) -> int:
    if isinstance(raw, bytes | bytearray):
        return len(raw)
    return len(base64.b64decode(raw))  # still in its wire form


def _member(value: Any) -> tuple[str, Any]:
    """(type, raw value) of an attribute value, in its wire form ({"S": "x"}) or as moto stores it."""
    if type(value) is dict:
        for pair in value.items():
            return pair
        raise ValueError("an attribute value names no type")
    return value.type, value.value


def value_size(kind: str, raw: Any) -> int:
    """The size of one attribute value (without its name), by AWS's rules for its type."""
    if kind == "S":
        return _text_size(raw)
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_text_size(text) for text in raw)
    if kind == "NS":
        return sum(number_size(text) for text in raw)
    if kind == "BS":
        return sum(_binary_size(blob) for blob in raw)
    if kind == "L":  # 3 bytes of overhead, and one per element
        return 3 + sum(1 + value_size(*_member(element)) for element in raw)
    if kind == "M":
        return 3 + sum(1 + _text_size(name) + value_size(*_member(v)) for name, v in raw.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(attributes: Mapping[str, Any]) -> int:
    """An item's size: the sum of its attribute names' and values' sizes (wire form or moto's).

    Strings and numbers, what items are mostly made of, are sized inline: this runs for every item written.
    """
    total = 0
    for name, value in attributes.items():
        total += len(name) if name.isascii() else len(name.encode("utf-8"))
        if type(value) is dict:
            ((kind, raw),) = value.items()
        else:
            kind, raw = value.type, value.value
        if kind == "S":
            total += len(raw) if raw.isascii() else len(raw.encode("utf-8"))
        elif kind == "N":
            total += number_size(raw)
        else:
            total += value_size(kind, raw)
    return total


def write_units(size: int, transactional: bool = False) -> float:
    """Write units for an item of ``size`` bytes: one per started 1 KB (at least one), doubled in a transaction."""
    units = max(1, -(-size // WRITE_UNIT_BYTES))
    return float(units * 2 if transactional else units)


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Read units for ``size`` bytes read: one per started 4 KB (at least one); half for an eventually consistent
    read, double for a transactional one."""
    units = float(max(1, -(-size // READ_UNIT_BYTES)))
    if transactional:
        return units * 2
    return units if consistent else units / 2


# --- the knobs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacitySettings:
    # False: moto's own behaviour (no units counted, nothing throttled, moto's ConsumedCapacity answers).
    enabled: bool = True
    # Request units per second an on-demand table without an OnDemandThroughput maximum may use (None:
    # unlimited). AWS's starting rate of a new on-demand table is 4000 / 12000.
    on_demand_write_rate: float | None = None
    on_demand_read_rate: float | None = None
    # Seconds of unused capacity a provisioned table keeps (0: only the current second's).
    burst_seconds: float = BURST_SECONDS

    def validate(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ControlError(f"enabled must be true or false, got {self.enabled!r}")
        for name in ("on_demand_write_rate", "on_demand_read_rate"):
            rate = getattr(self, name)
            if rate is not None and (
                isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0
            ):
                raise ControlError(
                    f"{name} must be a positive number of units per second or null, got {rate!r}"
                )
        burst = self.burst_seconds
        if isinstance(burst, bool) or not isinstance(burst, int | float) or not 0 <= burst <= 3600:
            raise ControlError(f"burst_seconds must be within 0..3600, got {burst!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CapacitySettings:
        """``EMULATOR_DYNAMODB_CAPACITY=0`` switches the model off; ``EMULATOR_DYNAMODB_ON_DEMAND_RATE`` is
        ``aws`` (AWS's starting rate, 4000 write / 12000 read) or ``WRITE,READ`` units per second."""
        values: dict[str, Any] = {}
        if environ.get("EMULATOR_DYNAMODB_CAPACITY", "").lower() in {"0", "false", "no", "off"}:
            values["enabled"] = False
        rate = environ.get("EMULATOR_DYNAMODB_ON_DEMAND_RATE", "").strip().lower()
        if rate == "aws":
            values.update(
                on_demand_write_rate=AWS_ON_DEMAND_WRITE_RATE, on_demand_read_rate=AWS_ON_DEMAND_READ_RATE
            )
        elif rate:
            try:
                write, read = (float(part) for part in rate.split(","))
            except ValueError:
                raise ValueError(
                    f"EMULATOR_DYNAMODB_ON_DEMAND_RATE must be 'aws' or 'WRITE,READ', got {rate!r}"
                ) from None
            values.update(on_demand_write_rate=write, on_demand_read_rate=read)
        settings = cls(**values)
        try:
            settings.validate()
        except ControlError as exc:
            raise ValueError(f"EMULATOR_DYNAMODB_ON_DEMAND_RATE: {exc}") from None
        return settings


class Clock:
    """Monotonic seconds for the buckets; can be frozen and moved by hand, so that tests of rates and
    burst allowances do not depend on how fast a shared machine answers."""

    def __init__(self) -> None:
        self._frozen: float | None = None

    def __call__(self) -> float:
        return time.monotonic() if self._frozen is None else self._frozen

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self) -> None:
        if self._frozen is None:
            self._frozen = time.monotonic()

    def thaw(self) -> None:
        self._frozen = None

    def advance(self, seconds: float) -> None:
        if self._frozen is None:
            raise ControlError('advance_s needs the frozen clock: send {"clock": "frozen"} first')
        self._frozen += seconds


# --- the token buckets ------------------------------------------------------------------------------------


class TokenBucket:
    """Units available to one table in one direction: refilled at ``rate`` per second up to ``capacity``."""

    __slots__ = ("rate", "capacity", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = capacity
        self.tokens = min(rate, capacity)  # a new table has one second's capacity, nothing saved yet
        self.updated = now

    def refill(self, now: float, rate: float, capacity: float) -> None:
        """Add what ``rate`` (the table's rate now: a change applies at once) gave since the last refill."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(capacity, self.tokens + elapsed * rate)
        self.rate, self.capacity, self.updated = rate, capacity, now

    def take(self, units: float) -> bool:
        """Take ``units`` if the bucket holds them, or if it is full (a request larger than the bucket)."""
        if self.tokens >= units or (self.tokens >= self.capacity > 0):
            self.tokens -= units
            return True
        return False


@dataclass(frozen=True)
class Limit:
    """A table's rate in one direction and where it comes from (which decides the throttling error)."""

    rate: float
    source: str  # PROVISIONED, ON_DEMAND_MAXIMUM or ON_DEMAND_RATE


def table_limit(table: Any, direction: str, settings: CapacitySettings) -> Limit | None:
    """The rate ``table`` may consume in ``direction`` (None: unlimited)."""
    if table.billing_mode != "PAY_PER_REQUEST":
        provisioned = (table.throughput or {}).get(
            "WriteCapacityUnits" if direction == WRITE else "ReadCapacityUnits"
        )
        # AWS provisions at least one unit; moto's 0 (a table restored without a billing mode) is on-demand's
        if provisioned:
            return Limit(float(provisioned), PROVISIONED)
    maximum = (getattr(table, "on_demand_throughput", None) or {}).get(
        "MaxWriteRequestUnits" if direction == WRITE else "MaxReadRequestUnits"
    )
    knob = settings.on_demand_write_rate if direction == WRITE else settings.on_demand_read_rate
    if maximum is not None and maximum > 0 and (knob is None or maximum <= knob):
        return Limit(float(maximum), ON_DEMAND_MAXIMUM)
    return Limit(float(knob), ON_DEMAND_RATE) if knob is not None else None


class Throttled(Exception):
    """A request the table's capacity does not admit; ``error()`` is the answer AWS gives."""

    def __init__(self, table: Any, direction: str, source: str):
        super().__init__(f"{table.name}: {direction.lower()} capacity exceeded ({source})")
        self.table, self.direction, self.source = table, direction, source

    def error(self) -> Exception:
        return throttling_error(self.table, self.direction, self.source)


def throttling_error(table: Any, direction: str, source: str) -> Exception:
    """The DynamoDB error for a request throttled by ``table``'s capacity, with its ThrottlingReasons."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    if source == PROVISIONED:
        code = "ProvisionedThroughputExceededException"
        message = (
            "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API."
        )
        reason = f"Table{direction}ProvisionedThroughputExceeded"
    elif source == ON_DEMAND_MAXIMUM:
        code = "ThrottlingException"
        message = "Throughput exceeds the maximum OnDemandThroughput configured on table or index"
        reason = f"Table{direction}MaxOnDemandThroughputExceeded"
    else:
        code = "ThrottlingException"
        message = (
            "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
            "scaling your table or index so please try again shortly."
        )
        reason = f"Table{direction}KeyRangeThroughputExceeded"
    reasons_member = (
        "ThrottlingReasons" if code == "ProvisionedThroughputExceededException" else "throttlingReasons"
    )
    error = DynamodbException(ERROR_TYPE_PREFIX + code, message)
    error.description = json.dumps(
        {
            "__type": ERROR_TYPE_PREFIX + code,
            "message": message,
            # as the service model spells each: ThrottlingException's member is throttlingReasons
            reasons_member: [{"reason": reason, "resource": table.table_arn}],
        }
    )
    return error


# --- CloudWatch metrics -----------------------------------------------------------------------------------


class Metrics:
    """One-minute statistic sets (count, sum, min, max) per (account, region, metric, dimensions, minute)."""

    KEPT_S = 15 * 24 * 3600  # CloudWatch keeps one-minute data points for 15 days

    def __init__(self, wall_clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._clock = wall_clock
        self._sets: dict[tuple[str, str, str, tuple[tuple[str, str], ...], int], list[float]] = {}
        self._minute = 0

    def add(
        self, account: str, region: str, metric: str, dimensions: tuple[tuple[str, str], ...], value: float
    ):
        minute = int(self._clock() // 60) * 60
        key = (account, region, metric, dimensions, minute)
        with self._lock:
            if minute != self._minute:  # once a minute: forget what CloudWatch would no longer answer
                self._minute = minute
                expired = [old for old in self._sets if old[4] < minute - self.KEPT_S]
                for old in expired:
                    del self._sets[old]
            entry = self._sets.get(key)
            if entry is None:
                self._sets[key] = [1, value, value, value]
            else:
                entry[0] += 1
                entry[1] += value
                entry[2] = min(entry[2], value)
                entry[3] = max(entry[3], value)

    def data(self, account: str, region: str) -> list[Any]:
        """The statistic sets of one account and region, as moto's CloudWatch backend stores them."""
        from moto.cloudwatch.models import MetricAggregatedDatum

        with self._lock:
            entries = [
                (key, list(entry)) for key, entry in self._sets.items() if key[:2] == (account, region)
            ]
        return [
            MetricAggregatedDatum(
                namespace=NAMESPACE,
                name=metric,
                min_stat=low,
                max_stat=high,
                sample_count=count,
                sum_stat=total,
                dimensions=[{"Name": name, "Value": value} for name, value in dimensions],
                # moto compares naive UTC datetimes
                timestamp=datetime.fromtimestamp(minute, UTC).replace(tzinfo=None),
                unit="Count",
            )
            for (_, _, metric, dimensions, minute), (count, total, low, high) in entries
        ]


# --- the model ------------------------------------------------------------------------------------------


class CapacityModel:
    """The knobs, the clock, the buckets (kept on moto's table objects) and the metrics."""

    def __init__(self, settings: CapacitySettings | None = None):
        self.defaults = settings or CapacitySettings()
        self.settings = self.defaults
        self.clock = Clock()
        self.metrics = Metrics()
        self._lock = threading.Lock()

    def limit(self, table: Any, direction: str) -> Limit | None:
        return table_limit(table, direction, self.settings)

    def _bucket(self, table: Any, direction: str, limit: Limit, now: float) -> TokenBucket:
        burst = self.settings.burst_seconds if limit.source == PROVISIONED else 1.0
        capacity = limit.rate * max(1.0, burst)
        buckets = table.__dict__.setdefault("_emulator_capacity", {})
        bucket = buckets.get(direction)
        if bucket is None:
            bucket = buckets[direction] = TokenBucket(limit.rate, capacity, now)
        else:
            bucket.refill(now, limit.rate, capacity)
        return bucket

    def admit(self, table: Any, direction: str, units: Iterable[float]) -> list[bool]:
        """Which of ``units`` (in order) the table's bucket admits now; the admitted ones are taken."""
        limit = self.limit(table, direction)
        if limit is None:
            return [True for _ in units]
        with self._lock:
            bucket = self._bucket(table, direction, limit, self.clock())
            return [bucket.take(amount) for amount in units]

    def require(self, table: Any, direction: str, units: float) -> None:
        """Take ``units`` or raise ``Throttled``."""
        if not self.admit(table, direction, [units])[0]:
            limit = self.limit(table, direction)
            raise Throttled(table, direction, limit.source if limit else PROVISIONED)

    def charge(self, table: Any, direction: str, units: float) -> None:
        """Take ``units`` (or give them back, when negative) whatever the bucket holds."""
        if not units:
            return
        limit = self.limit(table, direction)
        if limit is None:
            return
        with self._lock:
            self._bucket(table, direction, limit, self.clock()).tokens -= units

    # -- metrics --
    def consumed(self, account: str, region: str, table: Any, direction: str, units: float) -> None:
        self.metrics.add(
            account, region, f"Consumed{direction}CapacityUnits", (("TableName", table.name),), units
        )

    def throttled(
        self, account: str, region: str, table: Any, direction: str, events: int, operation: str | None
    ) -> None:
        """``events`` throttle events; ``operation``: the request itself was throttled (ThrottledRequests)."""
        dimensions = (("TableName", table.name),)
        for _ in range(events):
            self.metrics.add(account, region, f"{direction}ThrottleEvents", dimensions, 1.0)
        if operation:
            self.metrics.add(
                account,
                region,
                "ThrottledRequests",
                (("Operation", operation), ("TableName", table.name)),
                1.0,
            )

    # -- knobs --
    def update(self, changes: Mapping[str, Any]) -> CapacitySettings:
        changes = dict(changes)
        clock, advance = changes.pop("clock", None), changes.pop("advance_s", None)
        unknown = set(changes) - set(CapacitySettings.__dataclass_fields__)
        if unknown:
            raise ControlError(f"unknown DynamoDB capacity knob(s): {', '.join(sorted(unknown))}")
        if clock not in (None, "real", "frozen"):
            raise ControlError(f"clock must be 'real' or 'frozen', got {clock!r}")
        if advance is not None and (
            isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0
        ):
            raise ControlError(f"advance_s must be a number of seconds >= 0, got {advance!r}")
        if advance and clock != "frozen" and not self.clock.frozen:
            raise ControlError('advance_s needs the frozen clock: send {"clock": "frozen"} first')
        settings = replace(self.settings, **changes)
        settings.validate()
        with self._lock:
            self.settings = settings
            if clock == "frozen":
                self.clock.freeze()
            elif clock == "real":
                self.clock.thaw()
            if advance:
                self.clock.advance(float(advance))
        return settings

    def reset(self) -> CapacitySettings:
        with self._lock:
            self.settings = self.defaults
            self.clock.thaw()
        return self.settings

    def describe(self) -> dict[str, Any]:
        return asdict(self.settings) | {"clock": "frozen" if self.clock.frozen else "real"}


_MODEL: CapacityModel | None = None


def active_model() -> CapacityModel | None:
    """The model the patched handlers use (None before the extension is installed, or switched off)."""
    model = _MODEL
    return model if model is not None and model.settings.enabled else None


class CapacityExtension:
    name = "dynamodb_capacity"

    def __init__(self, model: CapacityModel | None = None):
        self.model = model or CapacityModel(CapacitySettings.from_env())

    def install(self, app: EmulatorApp) -> None:
        global _MODEL
        _MODEL = self.model
        install_patches()
        app.route("GET", "dynamodb", lambda _r: control_json(self.model.describe()))
        app.route("POST", "dynamodb", self._set)
        app.route("DELETE", "dynamodb", self._reset)
        app.status_providers.append(lambda: {"dynamodb_capacity": self.model.describe()})

    def _set(self, request: Request) -> Response:
        changes = control_body(request, "DynamoDB capacity knobs")
        self.model.update(changes)
        return control_json(self.model.describe())

    def _reset(self, _request: Request) -> Response:
        self.model.reset()
        return control_json(self.model.describe())


# --- moto's handlers, patched ----------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()
_METER = threading.local()  # bytes read by the Query or Scan this thread is serving
_WRITES = threading.local()  # (table, bytes) of each item written by the BatchWriteItem this thread serves
_DynamoType: Any = None  # moto's, imported with the patches
# What sizing a malformed request raises; moto then answers it with its own validation error.
_MALFORMED = (AttributeError, KeyError, TypeError, ValueError, IndexError, StopIteration)


def install_patches() -> None:
    """Wrap moto's DynamoDB handler methods once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table
        from moto.dynamodb.responses import DynamoHandler

        global _DynamoType
        from moto.dynamodb.models.dynamo_type import DynamoType

        _DynamoType = DynamoType
        for name, wrapper in _WRAPPERS.items():
            original = getattr(DynamoHandler, name)
            setattr(DynamoHandler, name, functools.wraps(original)(_bind(wrapper, original)))
        _patch_backend_writes(models.DynamoDBBackend)
        _patch_filter_expression(models)
        _patch_describe(Table)
        _metrics_provider()
        _installed = True


def _bind(wrapper: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    keeps_tables = wrapper in (_create_table, _update_table)  # OnDemandThroughput is kept even when off

    def method(handler: Any) -> Any:
        model = _MODEL if keeps_tables else active_model()
        if model is None:
            return original(handler)
        return wrapper(model, handler, original)

    return method


class _MeasuringFilter:
    """A Query's or Scan's filter that adds up the size of every item read, before filtering it."""

    def __init__(self, inner: Any, meter: list[int]):
        self.inner, self.meter = inner, meter

    def expr(self, item: Any) -> bool:
        self.meter[0] += item_size(item.attrs)
        return self.inner.expr(item)


def _patch_backend_writes(backend_class: type) -> None:
    """Note the size of each item a BatchWriteItem writes to an unlimited table, as moto writes it: the
    larger of the stored item before and the new one (whose size the running total already knows)."""
    original_put, original_delete = backend_class.put_item, backend_class.delete_item

    @functools.wraps(original_put)
    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        sink = getattr(_WRITES, "sink", None)
        if sink is None:
            return original_put(self, table_name, item_attrs, *args, **kwargs)
        try:
            before = _stored_size(self.get_table(table_name), item_attrs)
        except _MALFORMED:
            before = 0  # moto refuses the item below
        item = original_put(self, table_name, item_attrs, *args, **kwargs)
        sink.append((table_name, max(before, _fresh_size(item))))
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = original_delete(self, table_name, key, *args, **kwargs)
        sink = getattr(_WRITES, "sink", None)
        if sink is not None:
            sink.append((table_name, item_size(item.attrs) if item is not None else 0))
        return item

    backend_class.put_item = put_item
    backend_class.delete_item = delete_item


def _fresh_size(item: Any) -> int:
    """The size of an item moto has just built from a request: from the running total when it is known."""
    size = aws_item_size(item.attrs)
    return item_size(item.attrs) if size is None else size


def _patch_filter_expression(models: Any) -> None:
    original = models.get_filter_expression

    @functools.wraps(original)
    def get_filter_expression(*args: Any, **kwargs: Any) -> Any:
        op = original(*args, **kwargs)
        meter = getattr(_METER, "bytes", None)
        return op if meter is None else _MeasuringFilter(op, meter)

    models.get_filter_expression = get_filter_expression


def _patch_describe(table_class: type) -> None:
    original = table_class.describe

    @functools.wraps(original)
    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key)
        maximum = getattr(self, "on_demand_throughput", None)
        if maximum and self.billing_mode == "PAY_PER_REQUEST":
            result[base_key]["OnDemandThroughput"] = dict(maximum)
        return result

    table_class.describe = describe


# --- request helpers ---


def _table(handler: Any, name: Any) -> Any:
    """moto's table of that name or ARN, or None (moto then answers the request with its own error)."""
    if not isinstance(name, str):
        return None
    tables = handler.dynamodb_backend.tables
    if name.startswith("arn:"):
        name = name.rsplit("/", 1)[-1]
    return tables.get(name)


def _stored(table: Any, attributes: Mapping[str, Any]) -> Any:
    """The stored item with the key in ``attributes`` (an item or a key, wire form), or None."""
    hash_value = attributes.get(table.hash_key_attr)
    if hash_value is None:
        return None
    entry = table.items.get(_DynamoType(hash_value))
    if table.range_key_attr is None or entry is None:
        return entry
    range_value = attributes.get(table.range_key_attr)
    return entry.get(_DynamoType(range_value)) if range_value is not None else None


def _stored_size(table: Any, attributes: Mapping[str, Any]) -> int:
    item = _stored(table, attributes)
    return item_size(item.attrs) if item is not None else 0


def _capacity_answer(table_name: str, units: float, mode: str) -> dict[str, Any] | None:
    if mode == "TOTAL":
        return {"TableName": table_name, "CapacityUnits": units}
    if mode == "INDEXES":
        return {"TableName": table_name, "CapacityUnits": units, "Table": {"CapacityUnits": units}}
    return None


def _answer(result: Any, table: Any, units: float, mode: str) -> Any:
    """``result`` (moto's ActionResult) with ConsumedCapacity as this model counted it, or none if not asked."""
    body = result.result
    if isinstance(body, dict):
        body.pop("ConsumedCapacity", None)
        body.pop("ConsumedCapacityUnits", None)  # moto's DeleteItem adds this field, which AWS never answers
        capacity = _capacity_answer(table.name, units, mode)
        if capacity is not None:
            body["ConsumedCapacity"] = capacity
    return result


def _mode(body: Mapping[str, Any]) -> str:
    return body.get("ReturnConsumedCapacity") or "NONE"


def _conditional_failure(exc: BaseException) -> bool:
    return getattr(exc, "error_type", "").endswith("#ConditionalCheckFailedException")


# --- single-item writes ---


def _write_one(
    model: CapacityModel,
    handler: Any,
    original: Callable[[Any], Any],
    operation: str,
    size_before_after: Callable[[Any], tuple[int, int | None]],
) -> Any:
    """A PutItem, UpdateItem or DeleteItem: ``size_before_after(table)`` gives the stored item's size and
    the new item's (None: known only after the write, as for UpdateItem)."""
    body = handler.body
    table = _table(handler, body.get("TableName"))
    if table is None:
        return original(handler)
    try:
        before, after = size_before_after(table)
    except _MALFORMED:
        return original(handler)  # a malformed request: moto explains it in DynamoDB's words
    units = write_units(max(before, after or 0))
    account, region = handler.current_account, handler.region
    try:
        model.require(table, WRITE, units)
    except Throttled as throttled:
        model.throttled(account, region, table, WRITE, 1, operation)
        raise throttled.error() from None
    try:
        result = original(handler)
    except Exception as exc:
        if _conditional_failure(exc):
            # A failed condition still consumes the existing item's size (at least one unit).
            spent = write_units(before)
            model.charge(table, WRITE, spent - units)
            model.consumed(account, region, table, WRITE, spent)
        else:
            model.charge(table, WRITE, -units)
        raise
    if after is None:  # UpdateItem: charge what the update added
        actual = write_units(max(before, _stored_size(table, body.get("Key") or {})))
        model.charge(table, WRITE, actual - units)
        units = actual
    model.consumed(account, region, table, WRITE, units)
    return _answer(result, table, units, _mode(body))


def _put_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    item = handler.body.get("Item")
    return _write_one(
        model, handler, original, "PutItem", lambda table: (_stored_size(table, item), item_size(item))
    )


def _update_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    key = handler.body.get("Key")
    return _write_one(model, handler, original, "UpdateItem", lambda table: (_stored_size(table, key), None))


def _delete_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    key = handler.body.get("Key")
    return _write_one(model, handler, original, "DeleteItem", lambda table: (_stored_size(table, key), 0))


# --- reads ---


def _get_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    body = handler.body
    table = _table(handler, body.get("TableName"))
    if table is None:
        return original(handler)
    try:
        size = _stored_size(table, body.get("Key") or {})
    except _MALFORMED:
        return original(handler)
    units = read_units(size, consistent=bool(body.get("ConsistentRead")))
    account, region = handler.current_account, handler.region
    try:
        model.require(table, READ, units)
    except Throttled as throttled:
        model.throttled(account, region, table, READ, 1, "GetItem")
        raise throttled.error() from None
    try:
        result = original(handler)
    except Exception:
        model.charge(table, READ, -units)
        raise
    model.consumed(account, region, table, READ, units)
    return _answer(result, table, units, _mode(body))


def _read_many(operation: str) -> Callable[[CapacityModel, Any, Callable[[Any], Any]], Any]:
    """Query or Scan: admitted on the minimum, charged the summed size of the items read, rounded once."""

    def read(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
        body = handler.body
        table = _table(handler, body.get("TableName"))
        if table is None:
            return original(handler)
        consistent = bool(body.get("ConsistentRead"))
        minimum = read_units(0, consistent=consistent)
        account, region = handler.current_account, handler.region
        try:
            model.require(table, READ, minimum)
        except Throttled as throttled:
            model.throttled(account, region, table, READ, 1, operation)
            raise throttled.error() from None
        meter = [0]
        _METER.bytes = meter
        try:
            result = original(handler)
        except Exception:
            model.charge(table, READ, -minimum)
            raise
        finally:
            _METER.bytes = None
        units = read_units(meter[0], consistent=consistent)
        model.charge(table, READ, units - minimum)
        model.consumed(account, region, table, READ, units)
        return _answer(result, table, units, _mode(body))

    return read


# --- batches ---


def _batch_write_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    """Each item on its own: the ones the table's bucket does not admit come back as UnprocessedItems; if
    none of the request's items is admitted, the request is throttled as a whole."""
    body = handler.body
    request_items = body.get("RequestItems")
    if not isinstance(request_items, dict) or not request_items:
        return original(handler)
    tables = {name: _table(handler, name) for name in request_items}
    if any(table is None for table in tables.values()):
        return original(handler)  # moto answers ResourceNotFoundException
    if all(model.limit(table, WRITE) is None for table in tables.values()):
        return _batch_write_unlimited(model, handler, original, tables)
    try:
        units = {
            name: [_request_write_units(tables[name], request) for request in requests]
            for name, requests in request_items.items()
        }
    except _MALFORMED:
        return original(handler)  # moto explains a missing table or a malformed request
    kept: dict[str, list[Any]] = {}
    throttled: dict[str, list[Any]] = {}
    spent: dict[str, float] = {}
    for name, requests in request_items.items():
        admitted = model.admit(tables[name], WRITE, units[name])
        for request, amount, ok in zip(requests, units[name], admitted, strict=True):
            if ok:
                kept.setdefault(name, []).append(request)
                spent[name] = spent.get(name, 0.0) + amount
            else:
                throttled.setdefault(name, []).append(request)
    account, region = handler.current_account, handler.region
    for name, requests in throttled.items():
        model.throttled(
            account, region, tables[name], WRITE, len(requests), None if kept else "BatchWriteItem"
        )
    if not kept:
        name = next(iter(throttled))
        limit = model.limit(tables[name], WRITE)
        raise throttling_error(tables[name], WRITE, limit.source if limit else PROVISIONED)
    if throttled:
        body["RequestItems"] = kept
    try:
        result = original(handler)
    except Exception:
        for name, amount in spent.items():
            model.charge(tables[name], WRITE, -amount)
        raise
    if throttled:
        unprocessed = result.result.setdefault("UnprocessedItems", {})
        for name, requests in throttled.items():
            unprocessed.setdefault(name, []).extend(requests)
    return _batch_write_answer(model, handler, result, tables, spent)


def _batch_write_unlimited(
    model: CapacityModel, handler: Any, original: Callable[[Any], Any], tables: Mapping[str, Any]
) -> Any:
    """The loader's path: nothing to throttle, so each item's units are counted as moto writes it."""
    sink: list[tuple[str, int]] = []
    _WRITES.sink = sink
    try:
        result = original(handler)
    finally:
        _WRITES.sink = None
    spent = dict.fromkeys(tables, 0.0)
    for name, size in sink:
        spent[name] += write_units(size)
    return _batch_write_answer(model, handler, result, tables, spent)


def _batch_write_answer(
    model: CapacityModel, handler: Any, result: Any, tables: Mapping[str, Any], spent: Mapping[str, float]
) -> Any:
    account, region = handler.current_account, handler.region
    for name, amount in spent.items():
        if amount:
            model.consumed(account, region, tables[name], WRITE, amount)
    answer = result.result
    answer.pop("ConsumedCapacity", None)
    mode = _mode(handler.body)
    if mode != "NONE":
        answer["ConsumedCapacity"] = [
            _capacity_answer(tables[name].name, spent.get(name, 0.0), mode) for name in tables
        ]
    return result


def _request_write_units(table: Any, request: Mapping[str, Any]) -> float:
    put = request.get("PutRequest")
    if put is not None:
        item = put["Item"]
        return write_units(max(item_size(item), _stored_size(table, item)))
    return write_units(_stored_size(table, request["DeleteRequest"]["Key"]))


def _batch_get_item(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    """Each key as its own GetItem: keys past the rate come back as UnprocessedKeys."""
    body = handler.body
    request_items = body.get("RequestItems")
    if not isinstance(request_items, dict) or not request_items:
        return original(handler)
    tables = {name: _table(handler, name) for name in request_items}
    try:
        if any(table is None for table in tables.values()):
            raise KeyError("table")
        units = {
            name: [
                read_units(_stored_size(tables[name], key), consistent=bool(request.get("ConsistentRead")))
                for key in request["Keys"]
            ]
            for name, request in request_items.items()
        }
    except _MALFORMED:
        return original(handler)
    kept: dict[str, Any] = {}
    throttled: dict[str, Any] = {}
    spent: dict[str, float] = {}
    for name, request in request_items.items():
        admitted = model.admit(tables[name], READ, units[name])
        for key, amount, ok in zip(request["Keys"], units[name], admitted, strict=True):
            target = kept if ok else throttled
            target.setdefault(name, {**request, "Keys": []})["Keys"].append(key)
            if ok:
                spent[name] = spent.get(name, 0.0) + amount
    account, region = handler.current_account, handler.region
    for name, request in throttled.items():
        model.throttled(
            account, region, tables[name], READ, len(request["Keys"]), None if kept else "BatchGetItem"
        )
    if not kept:
        name = next(iter(throttled))
        limit = model.limit(tables[name], READ)
        raise throttling_error(tables[name], READ, limit.source if limit else PROVISIONED)
    body["RequestItems"] = kept
    try:
        result = original(handler)
    except Exception:
        for name, amount in spent.items():
            model.charge(tables[name], READ, -amount)
        raise
    for name, amount in spent.items():
        model.consumed(account, region, tables[name], READ, amount)
    answer = result.result
    unprocessed = answer.setdefault("UnprocessedKeys", {})
    for name, request in throttled.items():
        unprocessed.setdefault(name, {**request, "Keys": []})["Keys"].extend(request["Keys"])
    for name in request_items:
        answer.setdefault("Responses", {}).setdefault(name, [])
    mode = _mode(body)
    answer.pop("ConsumedCapacity", None)
    if mode != "NONE":
        answer["ConsumedCapacity"] = [
            _capacity_answer(tables[name].name, spent.get(name, 0.0), mode) for name in request_items
        ]
    return result


# --- transactions ---


def _transaction(direction: str) -> Callable[[CapacityModel, Any, Callable[[Any], Any]], Any]:
    """TransactWriteItems / TransactGetItems: every action at twice its units, admitted all together or the
    transaction is cancelled with a throttling reason for each action whose table is out of capacity."""

    def transact(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
        body = handler.body
        actions = body.get("TransactItems")
        if not isinstance(actions, list) or not actions:
            return original(handler)
        try:
            costs = [_action_cost(handler, action, direction) for action in actions]
        except _MALFORMED:
            return original(handler)
        if any(table is None for table, _ in costs):
            return original(handler)
        per_table: dict[str, tuple[Any, float]] = {}
        for table, units in costs:
            per_table[table.name] = (table, per_table.get(table.name, (table, 0.0))[1] + units)
        taken: list[tuple[Any, float]] = []
        short: set[str] = set()
        for name, (table, units) in per_table.items():
            if model.admit(table, direction, [units])[0]:
                taken.append((table, units))
            else:
                short.add(name)
        account, region = handler.current_account, handler.region
        operation = "TransactWriteItems" if direction == WRITE else "TransactGetItems"
        if short:
            for table, units in taken:
                model.charge(table, direction, -units)
            for name in short:
                model.throttled(account, region, per_table[name][0], direction, 1, operation)
            raise _cancelled([table.name in short for table, _ in costs])
        try:
            result = original(handler)
        except Exception:
            for table, units in taken:
                model.charge(table, direction, -units)
            raise
        for table, units in taken:
            model.consumed(account, region, table, direction, units)
        mode = _mode(body)
        answer = result.result
        answer.pop("ConsumedCapacity", None)
        if mode != "NONE":
            answer["ConsumedCapacity"] = [_capacity_answer(table.name, units, mode) for table, units in taken]
        return result

    return transact


def _action_cost(handler: Any, action: Mapping[str, Any], direction: str) -> tuple[Any, float]:
    kind, request = next(iter(action.items()))
    table = _table(handler, request["TableName"])
    if table is None:
        return None, 0.0
    if direction == READ:
        return table, read_units(_stored_size(table, request["Key"]), transactional=True)
    if kind == "Put":
        size = max(item_size(request["Item"]), _stored_size(table, request["Item"]))
    else:  # Update (the size after is not known before), Delete, ConditionCheck
        size = _stored_size(table, request["Key"])
    return table, write_units(size, transactional=True)


def _cancelled(throttled: list[bool]) -> Exception:
    from moto.dynamodb.exceptions import TransactionCanceledException

    reason = ("ThrottlingError", "Throughput exceeds the current capacity for one or more resources.", None)
    return TransactionCanceledException([reason if hit else (None, None, None) for hit in throttled])


# --- tables: OnDemandThroughput, which moto drops ---


def _create_table(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    result = original(handler)
    maximum = _on_demand_throughput(handler.body.get("OnDemandThroughput"), {})
    table = _table(handler, handler.body.get("TableName"))
    if table is not None and maximum:
        table.on_demand_throughput = maximum
        result.result["TableDescription"]["OnDemandThroughput"] = dict(maximum)
    return result


def _update_table(model: CapacityModel, handler: Any, original: Callable[[Any], Any]) -> Any:
    result = original(handler)
    table = _table(handler, handler.body.get("TableName"))
    requested = handler.body.get("OnDemandThroughput")
    if table is not None and requested:
        maximum = _on_demand_throughput(requested, getattr(table, "on_demand_throughput", None) or {})
        table.on_demand_throughput = maximum
        description = result.result["TableDescription"]
        description.pop("OnDemandThroughput", None)
        if maximum and table.billing_mode == "PAY_PER_REQUEST":
            description["OnDemandThroughput"] = dict(maximum)
    return result


def _on_demand_throughput(requested: Any, current: Mapping[str, Any]) -> dict[str, int]:
    """The OnDemandThroughput after a request: -1 removes a maximum, a value ≥ 1 sets it."""
    merged = dict(current)
    for key in ("MaxReadRequestUnits", "MaxWriteRequestUnits"):
        value = (requested or {}).get(key)
        if value is None:
            continue
        if value == -1:
            merged.pop(key, None)
        else:
            merged[key] = int(value)
    return merged


_WRAPPERS: dict[str, Callable[[CapacityModel, Any, Callable[[Any], Any]], Any]] = {
    "put_item": _put_item,
    "update_item": _update_item,
    "delete_item": _delete_item,
    "get_item": _get_item,
    "query": _read_many("Query"),
    "scan": _read_many("Scan"),
    "batch_write_item": _batch_write_item,
    "batch_get_item": _batch_get_item,
    "transact_write_items": _transaction(WRITE),
    "transact_get_items": _transaction(READ),
    "create_table": _create_table,
    "update_table": _update_table,
}


def _metrics_provider() -> None:
    """Register the model's metrics with moto's CloudWatch backend (read on GetMetricStatistics & co)."""
    from moto.core.common_models import CloudWatchMetricProvider

    class DynamoDBCapacityMetrics(CloudWatchMetricProvider):
        @staticmethod
        def get_cloudwatch_metrics(account_id: str, region: str) -> list[Any]:
            model = _MODEL
            return model.metrics.data(account_id, region) if model is not None else []

    globals()["DynamoDBCapacityMetrics"] = DynamoDBCapacityMetrics  # __subclasses__ holds it weakly
