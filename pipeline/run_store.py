"""The etl_runs table: one item per run date, and the run lock that keeps two executions off the same date.

An item (attribute → meaning):

- ``run_date`` (key, YYYY-MM-DD), ``run_id``, ``execution_arn`` (the execution the item describes),
  ``status`` (a RunStatus), ``lock`` (the execution holding the date; present only while RUNNING),
  ``force`` (the run was started with --force), ``attempts`` (executions that claimed this date),
  ``started_at`` / ``finished_at`` (ISO 8601 UTC), ``stages`` ({stage: {status, started_at, finished_at}}).
- Written when the run is tracked: ``counts`` (the Counts fields), ``identity_ok``, ``rejection_reasons``
  ({reason: count}), ``examples`` ({reason: [example, ...]}), ``failure_errors`` ({error: count}),
  ``aggregates`` (orders, quantity, revenue per currency, by_category), ``retry_backlog`` (records waiting
  in the retry queue), ``retry_backlog_messages``, ``quarantine_total`` (records quarantined up to this run),
  ``quarantine_key``, ``report_key``.
- Written when the run fails: ``error`` ({state, error, cause, message}).

Every write is conditional: ``claim`` refuses a date another execution is RUNNING (unless forced), and
``finish``/``fail`` only touch the item while it still belongs to the calling execution, so a late or
retried handler of an older execution never overwrites a newer run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from pipeline.runs import RunLockedError, RunStatus

# Outcome attributes of an earlier execution of the same date, cleared when a new execution claims it.
OUTCOME_ATTRIBUTES = (
    "finished_at",
    "counts",
    "identity_ok",
    "rejection_reasons",
    "examples",
    "failure_errors",
    "aggregates",
    "retry_backlog",
    "retry_backlog_messages",
    "quarantine_total",
    "quarantine_key",
    "report_key",
    "error",
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class RunLockLostError(Exception):
    """The run's item now belongs to another execution (a forced re-run): this one's results are not kept."""


@dataclass(frozen=True)
class Run:
    """The run as it travels between the states: small, and enough to find everything else."""

    run_id: str
    run_date: str
    execution_arn: str
    started_at: str
    force: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(
            run_id=str(data["run_id"]),
            run_date=str(data["run_date"]),
            execution_arn=str(data["execution_arn"]),
            started_at=str(data.get("started_at") or ""),
            force=bool(data.get("force", False)),
        )


class RunStore:
    def __init__(self, dynamodb: Any, table: str):
        self._dynamodb = dynamodb
        self._table = table

    def get(self, run_date: str) -> dict[str, Any] | None:
        response = self._dynamodb.get_item(TableName=self._table, Key=_key(run_date), ConsistentRead=True)
        return _from_item(response["Item"]) if "Item" in response else None

    def claim(self, run: Run, stages: dict[str, Any]) -> dict[str, Any]:
        """Take the date's lock for ``run`` and start a fresh RUNNING item; return the item.

        Refused with RunLockedError, changing nothing, while another execution holds the date, unless
        ``run.force``. A retry of the same execution's claim returns its item as it is.
        """
        current = self.get(run.run_date)
        if (
            current
            and current.get("lock") == run.execution_arn
            and current.get("status") == RunStatus.RUNNING
        ):
            return current
        values = {
            "run_id": run.run_id,
            "execution_arn": run.execution_arn,
            "status": RunStatus.RUNNING.value,
            "lock": run.execution_arn,
            "force": run.force,
            "started_at": run.started_at,
            "stages": stages,
        }
        expression = _Expression()
        sets = [f"{expression.name(k)} = {expression.value(v)}" for k, v in values.items()]
        attempts = expression.name("attempts")
        sets.append(f"{attempts} = if_not_exists({attempts}, {expression.value(0)}) + {expression.value(1)}")
        update = f"SET {', '.join(sets)} REMOVE {', '.join(expression.name(a) for a in OUTCOME_ATTRIBUTES)}"
        condition = None
        if not run.force:
            condition = (
                f"attribute_not_exists({expression.name('run_date')}) "
                f"OR {expression.name('status')} <> {expression.value(RunStatus.RUNNING.value)}"
            )
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(run.run_date),
                UpdateExpression=update,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(condition),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            holder = _from_item(error.response.get("Item") or {})
            raise RunLockedError(
                f"run for {run.run_date} is already RUNNING in execution {holder.get('lock', '?')}; "
                f"started at {holder.get('started_at', '?')}; wait for it or re-run with --force once it "
                "has stopped"
            ) from None
        return _from_item(response["Attributes"])

    def finish(self, run: Run, status: RunStatus, values: dict[str, Any], finished_at: str) -> dict[str, Any]:
        """Record the run's outcome and release the lock. A repeat by the same execution writes the same
        item (the first ``finished_at`` is kept); RunLockLostError if another execution took the date."""
        expression = _Expression()
        sets = [f"{expression.name(k)} = {expression.value(v)}" for k, v in values.items()]
        sets.append(f"{expression.name('status')} = {expression.value(status.value)}")
        finished = expression.name("finished_at")
        sets.append(f"{finished} = if_not_exists({finished}, {expression.value(finished_at)})")
        update = f"SET {', '.join(sets)} REMOVE {expression.name('lock')}"
        return self._update_own(run, update, expression, allow_new=False)

    def fail(self, run: Run, values: dict[str, Any], finished_at: str) -> dict[str, Any] | None:
        """Record the run FAILED and release the lock; return the item, or None when the date now belongs
        to another execution. Creates the item when the run failed before it could claim the date."""
        expression = _Expression()
        sets = [f"{expression.name(k)} = {expression.value(v)}" for k, v in values.items()]
        sets.append(f"{expression.name('status')} = {expression.value(RunStatus.FAILED.value)}")
        sets.append(f"{expression.name('finished_at')} = {expression.value(finished_at)}")
        first_seen = {
            "run_id": run.run_id,
            "execution_arn": run.execution_arn,
            "started_at": run.started_at,
            "force": run.force,
            "attempts": 1,
        }
        for name, value in first_seen.items():
            path = expression.name(name)
            sets.append(f"{path} = if_not_exists({path}, {expression.value(value)})")
        update = f"SET {', '.join(sets)} REMOVE {expression.name('lock')}"
        try:
            return self._update_own(run, update, expression, allow_new=True)
        except RunLockLostError:
            return None

    def quarantine_total_before(self, run_date: str) -> int:
        """The quarantine total of the latest earlier run date that recorded one (0 if none did).

        A scan: the table holds one small item per day, and only two attributes are read.
        """
        latest: tuple[str, int] | None = None
        paginator = self._dynamodb.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self._table,
            ProjectionExpression="#d, #q",
            FilterExpression="#d < :d AND attribute_exists(#q)",
            ExpressionAttributeNames={"#d": "run_date", "#q": "quarantine_total"},
            ExpressionAttributeValues={":d": {"S": run_date}},
            ConsistentRead=True,
        )
        for page in pages:
            for raw in page["Items"]:
                item = _from_item(raw)
                if latest is None or item["run_date"] > latest[0]:
                    latest = (item["run_date"], int(item["quarantine_total"]))
        return latest[1] if latest else 0

    def _update_own(
        self, run: Run, update: str, expression: _Expression, *, allow_new: bool
    ) -> dict[str, Any]:
        arn = expression.value(run.execution_arn)
        lock = expression.name("lock")
        condition = (
            f"{lock} = {arn} OR ({expression.name('execution_arn')} = {arn} AND attribute_not_exists({lock}))"
        )
        if allow_new:
            condition = f"attribute_not_exists({expression.name('run_date')}) OR {condition}"
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(run.run_date),
                UpdateExpression=update,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(condition),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            holder = _from_item(error.response.get("Item") or {})
            raise RunLockLostError(
                f"run for {run.run_date} now belongs to execution {holder.get('execution_arn', '?')} "
                f"({holder.get('status', '?')}); the results of execution {run.execution_arn} were not recorded"
            ) from None
        return _from_item(response["Attributes"])


class _Expression:
    """Placeholders for an update: every attribute name and value goes through one, so reserved words
    (status, lock, error) and any value type are safe."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self._names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = _serializer.serialize(_to_dynamo(value))
        return placeholder

    def arguments(self, condition: str | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"ExpressionAttributeNames": self._names}
        if self._values:
            arguments["ExpressionAttributeValues"] = self._values
        if condition:
            arguments["ConditionExpression"] = condition
        return arguments


def _key(run_date: str | date) -> dict[str, Any]:
    return {"run_date": {"S": str(run_date)}}


def _to_dynamo(value: Any) -> Any:
    # DynamoDB has no float type: numbers go through Decimal, and a JSON round trip reaches nested ones.
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: whole ones become int, others float, for JSON and templates."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value
