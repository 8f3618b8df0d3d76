"""The ``dynamodb_unprocessed`` faults: BatchWriteItem leaves some of its items unprocessed.

DynamoDB under throttling writes part of a batch and returns the rest as ``UnprocessedItems``, in the
request's own shape, for the caller to retry. With the ``dynamodb_unprocessed`` knob at p, each item of a
request is left out with probability p (drawn from the fault registry's ``random``, so a ``seed`` makes
runs repeatable); moto writes the others, and the left-out ones are added to its answer's
``UnprocessedItems``.

With ``dynamodb_unprocessed_sticky`` the share applies to items rather than requests: whether an item is
left out is decided by a hash of its table, its key and the ``seed``, so the same items come back
unprocessed on every attempt while the knob is set, as when a hot partition stays throttled all night. A
client's own retries then cannot get them in: that share of the items fails beyond them.

``dynamodb_unprocessed_keys`` targets records instead of a share: a request whose item (PutRequest) or key
(DeleteRequest) has one of the listed values in its table's partition key is left out every time, so that
record never gets written however often it is retried (a hot key, a poisoned record). The value is
compared as written in the request: an S value, or an N as its digits. The table's partition key comes
from moto's backend.

When every item of a request is left out, real DynamoDB answers ProvisionedThroughputExceededException
instead, which the SDK retries with backoff for many seconds. We answer with all of them as
``UnprocessedItems``, so that a knob of 1 means "no write succeeds" without slowing tests down.

The items left out here consume no capacity: only the others reach moto, where ``emulator.dynamodb_capacity``
counts them and may throttle some of them in turn; its throttled items join these in ``UnprocessedItems``
(and if it throttles all of them, nothing was written and its throttling error is the answer, as on AWS).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import EmulatorApp, target_is
from emulator.faults import FaultRegistry, Faults
from emulator.settings import ACCOUNT_ID

BATCH_WRITE_ITEM = "DynamoDB_20120810.BatchWriteItem"
_REGION_IN_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")


def _never(table: str, request: dict[str, Any]) -> bool:
    return False


def split_batch(
    request_items: dict[str, list[dict[str, Any]]],
    share: float,
    rng: random.Random,
    stuck: Callable[[str, dict[str, Any]], bool] = _never,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Split a BatchWriteItem ``RequestItems`` into (items to write, items left unprocessed).

    ``stuck(table, request)`` requests are always left out; each other one with probability ``share``.
    Tables whose items are all left out are absent from the first; tables with none left out, from the
    second. Each request keeps its shape ({"PutRequest": {...}} or {"DeleteRequest": {...}}).
    """
    kept: dict[str, list[dict[str, Any]]] = {}
    unprocessed: dict[str, list[dict[str, Any]]] = {}
    for table, requests in request_items.items():
        for request in requests:
            chosen = unprocessed if stuck(table, request) or rng.random() < share else kept
            chosen.setdefault(table, []).append(request)
    return kept, unprocessed


class DynamoDBFaultsExtension:
    name = "dynamodb_faults"

    def __init__(self, registry: FaultRegistry):
        self.registry = registry
        self.app: EmulatorApp | None = None

    def install(self, app: EmulatorApp) -> None:
        self.app = app
        is_batch_write = target_is(BATCH_WRITE_ITEM)
        app.intercept(
            "dynamodb_faults.unprocessed",
            lambda request: is_batch_write(request) and _active(self.registry.current()),
            self._batch_write_item,
        )

    def _batch_write_item(self, request: Request) -> Response:
        assert self.app is not None
        try:
            body = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            return self.app.forward(request)  # moto explains malformed requests in DynamoDB's words
        request_items = body.get("RequestItems")
        if not isinstance(request_items, dict) or not request_items:
            return self.app.forward(request)
        region = self._region(request)
        if self._missing_table(region, list(request_items)):
            return self.app.forward(request)  # moto answers ResourceNotFoundException before writing
        faults = self.registry.current()
        share = faults.dynamodb_unprocessed
        sticky = faults.dynamodb_unprocessed_sticky and share > 0
        rules: list[Callable[[str, dict[str, Any]], bool]] = []
        if faults.dynamodb_unprocessed_keys or sticky:
            keys = self._key_attributes(region, list(request_items))
        if faults.dynamodb_unprocessed_keys:
            rules.append(_stuck_keys(keys, faults.dynamodb_unprocessed_keys))
        if sticky:
            rules.append(_stuck_share(keys, share, faults.seed))
            share = 0.0  # the sticky rule replaces the per-request draw
        stuck = _either(*rules) if rules else _never
        kept, unprocessed = split_batch(request_items, share, self.registry.random, stuck)
        if not unprocessed:
            return self.app.forward(request)
        answer: dict[str, Any] = {"UnprocessedItems": {}}
        mode = body.get("ReturnConsumedCapacity")
        if mode in ("TOTAL", "INDEXES"):
            # Nothing written, nothing consumed (moto's answer replaces this when some items are written).
            nothing: dict[str, Any] = {"CapacityUnits": 0.0} | (
                {"Table": {"CapacityUnits": 0.0}} if mode == "INDEXES" else {}
            )
            answer["ConsumedCapacity"] = [{"TableName": table} | nothing for table in request_items]
        response = None
        if kept:
            response = self.app.forward(request, json.dumps({**body, "RequestItems": kept}).encode())
            if response.status_code != 200:
                return response
            answer = json.loads(response.get_data() or b"{}")
        merged = answer.get("UnprocessedItems") or {}
        for table, requests in unprocessed.items():
            merged.setdefault(table, []).extend(requests)
        answer["UnprocessedItems"] = merged
        return _dynamodb_response(answer, response)

    def _region(self, request: Request) -> str:
        assert self.app is not None
        match = _REGION_IN_CREDENTIAL.search(request.headers.get("Authorization", ""))
        return match.group(1) if match else self.app.settings.region

    def _missing_table(self, region: str, tables: list[str]) -> str | None:
        from moto.dynamodb.models import dynamodb_backends

        existing = dynamodb_backends[ACCOUNT_ID][region].tables
        return next((table for table in tables if table not in existing), None)

    def _key_attributes(self, region: str, tables: list[str]) -> dict[str, tuple[str, ...]]:
        """Each table's key attribute names (partition key, then sort key if any), as moto holds the table."""
        from moto.dynamodb.models import dynamodb_backends

        existing = dynamodb_backends[ACCOUNT_ID][region].tables
        return {
            table: tuple(
                name for name in (existing[table].hash_key_attr, existing[table].range_key_attr) if name
            )
            for table in tables
        }


def _active(faults: Faults) -> bool:
    return faults.dynamodb_unprocessed > 0 or bool(faults.dynamodb_unprocessed_keys)


def _attributes(request: dict[str, Any]) -> dict[str, Any]:
    """The item a PutRequest writes, or the key a DeleteRequest deletes."""
    if "PutRequest" in request:
        return request["PutRequest"].get("Item") or {}
    return (request.get("DeleteRequest") or {}).get("Key") or {}


def _stuck_keys(
    key_attributes: dict[str, tuple[str, ...]], values: list[str]
) -> Callable[[str, dict[str, Any]], bool]:
    """Whether a request writes or deletes an item whose partition-key value is one of ``values``."""
    wanted = set(values)

    def stuck(table: str, request: dict[str, Any]) -> bool:
        value = _attributes(request).get(key_attributes[table][0])
        return isinstance(value, dict) and any(v in wanted for v in value.values() if isinstance(v, str))

    return stuck


def _either(*rules: Callable[[str, dict[str, Any]], bool]) -> Callable[[str, dict[str, Any]], bool]:
    return lambda table, request: any(rule(table, request) for rule in rules)


def _stuck_share(
    key_attributes: dict[str, tuple[str, ...]], share: float, seed: int | None
) -> Callable[[str, dict[str, Any]], bool]:
    """Whether a request's item is among the ``share`` of items that never get written: a fixed choice
    per (table, key, seed), the same on every attempt."""

    def stuck(table: str, request: dict[str, Any]) -> bool:
        attributes = _attributes(request)
        key = [attributes.get(name) for name in key_attributes[table]]
        text = json.dumps([table, key, seed], sort_keys=True).encode()
        draw = int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / 2**64
        return draw < share

    return stuck


def _dynamodb_response(answer: dict[str, Any], template: Response | None) -> Response:
    payload = json.dumps(answer).encode()
    replaced = {"content-length", "content-type", "x-amz-crc32"}
    headers = [(k, v) for k, v in (template.headers.items() if template else []) if k.lower() not in replaced]
    # botocore checks DynamoDB bodies against this checksum and retries on a mismatch.
    headers.append(("x-amz-crc32", str(zlib.crc32(payload))))
    return Response(payload, status=200, headers=headers, content_type="application/x-amz-json-1.0")
