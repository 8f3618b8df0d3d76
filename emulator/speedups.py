"""Faster request handling in moto's server, with the same answers.

Profiling the emulator under the loader's load (``py-spy record --gil`` while 8 threads send 25-item
BatchWriteItem requests) put most of its CPU time in four places that do the same work on every request or
every attribute, none of which this patch changes in outcome:

- ``moto.backends.list_of_moto_modules`` lists moto's package folder on disk for every request to find the
  backend of a host; the folders do not change while the server runs, so the list is read once.
- ``moto.core.utils.method_names_from_class`` runs ``inspect.getmembers`` on the handler class of every
  request; a class's methods do not change either, so the answer is kept per class.
- moto's JSON request parser walks DynamoDB's ``AttributeValue`` shape for every attribute of every item,
  looking at its ten members one by one through ``getattr``. The same conversion (base64 blobs to bytes,
  maps and lists recursively, members in the shape's order, unknown or null members dropped) is done here
  directly, with the members and their kinds read from the shape itself.
- moto's ``LimitedSizeDict`` (an item's attributes, capped at 400 KB) sums the size of every attribute so
  far each time one is set, which is quadratic in the attributes of an item. It keeps a running total instead;
  the limit and the error are moto's own. Beside it, the item's size by AWS's rules (numbers by their
  significant digits, lists and maps with their overhead) is kept too: what ``emulator.dynamodb_capacity``
  charges for an item it has just written, without sizing it again (``aws_item_size``).

And one setting of the process: moto keeps every stored item as Python objects, so a loaded emulator holds
millions of long-lived objects, while each request allocates thousands of short-lived ones. With CPython's
default thresholds (700, 10, 10) the collector runs every 700 allocations and often walks the older
generations too: the same BatchWriteItem load ran at about two thirds of the rate it reaches with the young
generation collected every 100,000 allocations and the older ones rarely (``GC_THRESHOLDS``). Reference
counting still frees almost everything at once; only reference cycles wait longer.

Even so, every 50th collection took the middle generation: every object that had survived a young collection
since the last one, which under a steady load is mostly the items stored since. With a few hundred thousand
items that is a pause of 1.7-1.8 s (measured with ``GcPauses`` below), every ~250,000 items written, in which
no request of any client moves. So what survives a collection is frozen (``gc.freeze()``): moved to the
permanent generation, which no collection walks again. Each collection then sees only what was allocated
since the last one. The cost: a reference cycle that was still alive when a collection ran, and becomes
garbage later, is never reclaimed (objects without cycles are freed by reference counting, frozen or not).
Written 300,000 items in 25-item batches, with S3 requests between, the emulator held 8 MB of such cycles
(56,000 objects, most of them left over from its start); it was the same after 100,000 items.

``install()`` applies them once per process; tests compare each against moto's own code.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_installed = False
_lock = threading.Lock()
GC_THRESHOLDS = (100_000, 50, 1000)

# What the fast AttributeValue parser does with each kind of member of the shape.
_SCALAR, _BLOB, _BLOB_LIST, _LIST, _MAP, _VALUE_LIST = "scalar", "blob", "blob-list", "list", "map", "values"


class GcPauses:
    """The collector's pauses per generation (count, total and longest seconds), for the status route: a
    collection stops every request the server is handling, so its time shows up in every client's latency."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._started: float | None = None
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]

    def callback(self, phase: str, info: dict[str, int]) -> None:
        # Collections never overlap: they run with the GIL held, one at a time.
        if phase == "start":
            self._started = self._clock()
            return
        if self._started is None:
            return
        pause, generation = self._clock() - self._started, info["generation"]
        self._started = None
        self.collections[generation] += 1
        self.seconds[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)

    def snapshot(self) -> dict[str, list[Any]]:
        return {
            "collections": list(self.collections),
            "pause_s": [round(s, 4) for s in self.seconds],
            "longest_pause_s": [round(s, 4) for s in self.longest],
        }


_GC_PAUSES = GcPauses()


def _freeze(phase: str, info: dict[str, int]) -> None:
    if phase == "stop":
        gc.freeze()


def freeze_survivors(enabled: bool = True) -> None:
    """Freeze what survives each collection from now on; or stop, and unfreeze what was frozen (for a
    process that installed the speedups only to test them, whose collector should stay as it was)."""
    if enabled and _freeze not in gc.callbacks:
        gc.callbacks.append(_freeze)
    elif not enabled and _freeze in gc.callbacks:
        gc.callbacks.remove(_freeze)
        gc.unfreeze()


class SpeedupsExtension:
    name = "speedups"

    def install(self, app: Any) -> None:
        install()
        app.status_providers.append(
            lambda: {
                "gc_thresholds": list(gc.get_threshold()),
                "gc": _GC_PAUSES.snapshot() | {"frozen": gc.get_freeze_count()},
            }
        )


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _cache_moto_modules()
        _cache_method_names()
        _fast_attribute_values()
        _running_item_size()
        gc.set_threshold(*GC_THRESHOLDS)
        gc.callbacks.append(_GC_PAUSES.callback)
        freeze_survivors()
        _installed = True


# --- per-request lookups ---------------------------------------------------------------------------


def _cache_moto_modules() -> None:
    from moto import backends

    modules = frozenset(backends.list_of_moto_modules())
    original = backends.list_of_moto_modules

    @functools.wraps(original)
    def list_of_moto_modules() -> frozenset[str]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


def _cache_method_names() -> None:
    from moto.core import responses, utils

    cached = functools.cache(utils.method_names_from_class)
    # responses imported the function by name; both references must see the cached one.
    responses.method_names_from_class = cached  # type: ignore[assignment]
    utils.method_names_from_class = cached  # type: ignore[assignment]


# --- DynamoDB AttributeValue parsing ---------------------------------------------------------------


def attribute_value_plan(shape: Any) -> dict[str, str] | None:
    """Member → kind for each member of an ``AttributeValue``-like structure shape, in the shape's order;
    None when the shape is not one the fast parser reproduces exactly (then moto's parser is used)."""
    if shape.type_name != "structure" or shape.name != "AttributeValue" or shape.is_document_type:
        return None
    plan: dict[str, str] = {}
    for member, member_shape in shape.members.items():
        if member_shape.serialization.get("name", member) != member:
            return None
        kind = _member_kind(shape, member_shape)
        if kind is None:
            return None
        plan[member] = kind
    return plan


def _member_kind(parent: Any, shape: Any) -> str | None:
    if shape.type_name in {"string", "boolean"}:
        return _SCALAR
    if shape.type_name == "blob":
        return _BLOB
    if shape.type_name == "list":
        member = shape.member
        if member.type_name == "string":
            return _LIST
        if member.type_name == "blob":
            return _BLOB_LIST
        if member.name == parent.name:
            return _VALUE_LIST
        return None
    if shape.type_name == "map" and shape.key.type_name == "string" and shape.value.name == parent.name:
        return _MAP
    return None


def parse_attribute_value(
    plan: Mapping[str, str], value: Any, blob: Callable[[Any], Any], map_type: type = dict
) -> Any:
    """What moto's JSON parser makes of ``value`` for the ``AttributeValue`` shape ``plan`` describes."""
    if value is None:
        return None
    parsed = map_type()
    if len(value) == 1:  # the usual case: one member, so the shape's order is the value's own
        members: Iterable[str] = value
    else:
        members = [member for member in plan if member in value]
    for member in members:
        kind = plan.get(member)
        raw = value[member]
        if kind is None or raw is None:
            continue
        if kind is _SCALAR:
            parsed[member] = raw
        elif kind is _BLOB:
            parsed[member] = blob(raw)
        elif kind is _LIST:
            parsed[member] = [item for item in raw]
        elif kind is _BLOB_LIST:
            parsed[member] = [blob(item) for item in raw]
        elif kind is _VALUE_LIST:
            parsed[member] = [parse_attribute_value(plan, item, blob, map_type) for item in raw]
        else:  # _MAP
            entries = map_type()
            for key, item in raw.items():
                entries[key] = parse_attribute_value(plan, item, blob, map_type)
            parsed[member] = entries
    return parsed


def _fast_attribute_values() -> None:
    from moto.core.parse import BaseJSONParser

    original = BaseJSONParser._parse_structure
    plans: dict[int, dict[str, str] | None] = {}

    @functools.wraps(original)
    def _parse_structure(self: Any, shape: Any, value: Any) -> Any:
        key = id(shape)
        if key not in plans:
            plans[key] = attribute_value_plan(shape)
        plan = plans[key]
        if plan is None or not isinstance(value, dict | type(None)):
            return original(self, shape, value)
        return parse_attribute_value(plan, value, self._blob_parser, self.MAP_TYPE)

    # Shapes live as long as botocore's loaded service models (cached for the process), so ids stay valid.
    BaseJSONParser._parse_structure = _parse_structure  # type: ignore[method-assign]


# --- item size ----------------------------------------------------------------------------------------


def _running_item_size() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    from emulator.dynamodb_capacity import number_size, value_size

    def sizes_of(entry: Any) -> tuple[int, int]:
        """(moto's size, AWS's size) of a value. Strings, what items are mostly made of, are sized
        directly; moto's own ``size()`` otherwise."""
        if type(entry) is not DynamoType:
            size = bytesize(str(entry))
            return size, size
        kind, raw = entry.type, entry.value
        if kind == "S" and type(raw) is str:  # moto: bytesize(value)
            size = len(raw) if raw.isascii() else len(raw.encode("utf-8"))
            return size, size
        if kind == "N" and type(raw) is str:  # moto: the digits as text
            return len(raw), number_size(raw)
        size = entry.size()
        return size, (size if kind in _AWS_SIZED_AS_MOTO else value_size(kind, raw))

    @functools.wraps(LimitedSizeDict.__setitem__)
    def __setitem__(self: Any, key: str, value: Any) -> None:
        known = self.__dict__.get(_SIZE)
        # (length, moto's total, AWS's total) as of the last set; a copy or a change made some other way is
        # summed again.
        if known is not None and known[0] == len(self):
            _, total, aws_total = known
        else:
            total = aws_total = 0
            for k, v in self.items():
                moto_size, aws_size = sizes_of(v)
                key_size = bytesize(k)
                total += key_size + moto_size
                aws_total += key_size + aws_size
        key_size = bytesize(key)
        moto_size, aws_size = sizes_of(value)
        new_size = key_size + moto_size
        # As moto: a replaced value still counts in the total the new one is checked against.
        if total + new_size > LIMIT:
            raise ItemSizeTooLarge
        if key in self:
            old_moto, old_aws = sizes_of(dict.__getitem__(self, key))
            total -= key_size + old_moto
            aws_total -= key_size + old_aws
        dict.__setitem__(self, key, value)
        self.__dict__[_SIZE] = (len(self), total + new_size, aws_total + key_size + aws_size)

    LimitedSizeDict.__setitem__ = __setitem__  # type: ignore[method-assign]
    # Any other way of changing the dict makes the running total unknown; it is summed again on the next set.
    for name in ("__delitem__", "pop", "popitem", "clear", "update", "setdefault", "__ior__"):
        _forget_size_on(LimitedSizeDict, name)
    assert dynamo_type.LimitedSizeDict is LimitedSizeDict


def aws_item_size(attrs: Any) -> int | None:
    """The size of an item's attributes (moto's ``Item.attrs``) by AWS's rules, from the running total;
    None when it is not known (the attributes changed some other way since the last set)."""
    known = attrs.__dict__.get(_SIZE)
    if known is not None and known[0] == len(attrs):
        return known[2]
    return None


# Types whose size moto counts as AWS does: strings, binaries and their sets, booleans and nulls.
_AWS_SIZED_AS_MOTO = frozenset({"S", "B", "SS", "BS", "BOOL", "NULL"})
_SIZE = "_emulator_size"
LIMIT = 405_000  # moto's own cap (see moto.dynamodb.models.dynamo_type.LimitedSizeDict)


def _forget_size_on(cls: type, name: str) -> None:
    original = getattr(dict, name)

    @functools.wraps(original)
    def forgetting(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.__dict__.pop(_SIZE, None)
        return original(self, *args, **kwargs)

    setattr(cls, name, forgetting)
