"""BatchWriteItem at full speed, with DynamoDB's partial answers retried and what never got in reported.

BatchWriteItem takes 25 items a request and may write only part of them, returning the rest as
``UnprocessedItems`` (throttling, a hot partition). Those are sent again with exponential backoff and full
jitter, up to ``max_attempts`` requests per batch. An item still unprocessed after that, or whose request
kept failing with a retryable error, is *failed*: it is handed back with the error, so that the caller can
queue it for the next run. Errors that no retry can fix (a missing table, a malformed item) raise: they would
fail every item alike, and failing the job says so at once.

Several requests are kept in flight from one client (boto3 clients are thread-safe), so one writer per Spark
partition keeps DynamoDB busy while the partition's next items are prepared.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Generic, TypeVar

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

MAX_BATCH = 25
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONCURRENCY = 4
DEFAULT_BASE_DELAY = 0.05
DEFAULT_MAX_DELAY = 2.0
# Error codes DynamoDB answers when a later attempt may succeed; 5xx answers count as well.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)

T = TypeVar("T")
Item = dict[str, Any]  # an item in DynamoDB's attribute-value form: {"order_id": {"S": "A-1"}, ...}


_SERIALIZER = TypeSerializer()


def attribute_value(value: Any) -> dict[str, Any]:
    """``TypeSerializer().serialize(value)``: the same answer and errors, with the types an item is mostly
    made of (str, int, finite Decimal) done directly, without the serializer's type probing (a quarter of
    the time for an order's item)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int or (kind is Decimal and value.is_finite()):
        # As the serializer does: an error where DynamoDB's 38 significant digits cannot hold the number.
        return {"N": str(DYNAMODB_CONTEXT.create_decimal(value))}
    return _SERIALIZER.serialize(value)


class WriteError(Exception):
    """A BatchWriteItem error that retrying cannot fix (missing table, no permission, invalid item)."""


def client_config(concurrency: int = DEFAULT_CONCURRENCY) -> Config:
    """The client configuration a BatchWriter expects: it retries itself, so the SDK must not as well
    (their attempts would multiply), and it needs one connection per request in flight.

    Client-side parameter validation is off: it doubles the SDK's CPU time per request, and the items
    come from TypeSerializer (DynamoDB still validates every request itself).
    """
    return Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=max(10, concurrency),
        parameter_validation=False,
    )


class BatchWriter(Generic[T]):
    """Writes items to one table; ``write`` answers, for each item, None or the error it failed with.

    ``key_attributes`` are the table's key attribute names, by which unprocessed items are matched back to
    what was sent. Items of one ``write`` call must have distinct keys (DynamoDB refuses a batch that
    names a key twice).
    """

    def __init__(
        self,
        client: Any,
        table: str,
        key_attributes: Sequence[str],
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        concurrency: int = DEFAULT_CONCURRENCY,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client = client
        self.table = table
        self.key_attributes = tuple(key_attributes)
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng or random.Random()

    def write(self, entries: Iterable[tuple[T, Item]]) -> Iterator[tuple[T, str | None]]:
        """Write every ``(tag, item)``; yield ``(tag, None)`` once written, ``(tag, error)`` if it failed.

        Results come in the order of ``entries``. ``entries`` is consumed lazily, in the caller's thread,
        with at most ``2 * concurrency`` batches in flight, so memory stays bounded whatever its length.
        """
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="batch-write") as pool:
            in_flight: deque[Future[list[tuple[T, str | None]]]] = deque()
            for batch in _batches(entries, MAX_BATCH):
                in_flight.append(pool.submit(self._write_batch, batch))
                if len(in_flight) >= 2 * self.concurrency:
                    yield from in_flight.popleft().result()
            while in_flight:
                yield from in_flight.popleft().result()

    def backoff(self, retry: int) -> float:
        """Seconds to wait before the ``retry``-th retry (1-based): full jitter under an exponential cap."""
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))

    def _write_batch(self, batch: list[tuple[T, Item]]) -> list[tuple[T, str | None]]:
        results: dict[int, str | None] = {}
        pending = dict(enumerate(batch))
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                self.sleep(self.backoff(attempt - 1))
            try:
                answer = self.client.batch_write_item(
                    RequestItems={
                        self.table: [{"PutRequest": {"Item": item}} for _, item in pending.values()]
                    }
                )
            except ClientError as exc:
                error = _retryable_error(exc, self.table)
                continue
            except (BotocoreConnectionError, HTTPClientError) as exc:
                error = type(exc).__name__
                continue
            unprocessed = {
                self._key(request["PutRequest"]["Item"])
                for request in (answer.get("UnprocessedItems") or {}).get(self.table, ())
            }
            for index, (_, item) in list(pending.items()):
                if self._key(item) not in unprocessed:
                    results[index] = None
                    del pending[index]
            if not pending:
                break
            error = "UnprocessedItems"
        failure = f"{error} after {self.max_attempts} attempt{'s' if self.max_attempts > 1 else ''}"
        for index in pending:
            results[index] = failure
        return [(tag, results[index]) for index, (tag, _) in enumerate(batch)]

    def _key(self, item: Item) -> tuple[tuple[str, Any], ...]:
        return tuple(next(iter(item[name].items())) for name in self.key_attributes)


def _retryable_error(exc: ClientError, table: str) -> str:
    """The error's code if another attempt may succeed; otherwise raise WriteError."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in RETRYABLE_CODES or status >= 500:
        return code or f"HTTP {status}"
    message = exc.response.get("Error", {}).get("Message", "")
    raise WriteError(f"BatchWriteItem to table {table!r} failed: {code}: {message}") from exc


def _batches(entries: Iterable[tuple[T, Item]], size: int) -> Iterator[list[tuple[T, Item]]]:
    batch: list[tuple[T, Item]] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
