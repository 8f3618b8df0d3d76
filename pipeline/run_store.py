"""The etl_runs table: one item per run date, and the run lock that keeps two executions off the same date.

An item (attribute → meaning):

- ``run_date`` (key, YYYY-MM-DD), ``run_id``, ``execution_arn`` (the execution the item describes),
  ``status`` (a RunStatus), ``lock`` (the execution holding the date; present only while RUNNING),
  ``force`` (the run was started with --force), ``attempts`` (executions that claimed this date),
  ``started_at`` / ``finished_at`` (ISO 8601 UTC), ``stages`` ({stage: {status, started_at, finished_at}}).
- Written when the run is tracked: ``counts`` (the Counts fields), ``identity_ok``, ``rejection_reasons``
  ({reason: count}), ``examples`` ({reason: [example, ...]}), ``failure_errors`` ({error: count}),
  ``other_reasons`` (only when some were counted together beyond the REASONS_KEPT kept by name:
  {"rejection_reasons" | "failure_errors": {reasons, records}}),
  ``aggregates`` (orders, quantity, revenue per currency, by_category), ``retry_backlog`` (records waiting
  in the retry queue), ``retry_backlog_messages``, ``quarantine_total`` (records quarantined up to this run),
  ``quarantine_key`` (the run's quarantined records, under ``tracking/quarantine/``), ``quarantine_reasons``
  ({max_attempts|dlq|unreadable: records}), ``quarantine_prefix`` (when messages were set aside raw or
  from the DLQ), ``report_key``.
- Written when the run fails: ``error`` ({state, error, cause, message}).
- Written when a claim takes the date from an execution that ended without releasing it (stopped, timed
  out): ``took_over`` ({execution_arn, status}).
- Written after the outcome, which they never change: ``notified`` (the outcomes whose status email was
  sent, a string set; see ``mark_notified``), ``notify_error`` (why the email could not be sent, as
  ``error``), ``dashboard_refresh`` ({status, message, finished_at}: what the dashboard refresh did).

Every write is conditional: ``claim`` refuses a date while the execution holding it still runs (``--force``
too; it only takes a date whose holder Step Functions cannot describe), and
``finish``/``fail`` only touch the item while it still belongs to the calling execution, so a late or
retried handler of an older execution never overwrites a newer run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
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
    "other_reasons",
    "aggregates",
    "retry_backlog",
    "retry_backlog_messages",
    "quarantine_total",
    "quarantine_key",
    "quarantine_reasons",
    "quarantine_prefix",
    "report_key",
    "error",
    "notified",
    "notify_error",
    "dashboard_refresh",
)
# What is recorded beside a finished run's outcome, never changing it: why its status email could not be
# sent, and what the dashboard refresh did.
FOLLOW_UP_ATTRIBUTES = ("notify_error", "dashboard_refresh")
# The statuses TrackResult records: such a run was accounted for, and a later failure only goes beside it.
TRACKED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED_WITH_ERRORS, RunStatus.NO_DATA)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class RunLockLostError(Exception):
    """The run's item now belongs to another execution (a forced re-run): this one's results are not kept."""

    def __init__(self, message: str, item: dict[str, Any] | None = None):
        super().__init__(message)
        self.item = item or {}


class HolderState(StrEnum):
    """What Step Functions says of the execution holding a date's lock."""

    RUNNING = "RUNNING"  # it still runs (or waits to be redriven): the date stays its own
    ENDED = "ENDED"  # it ended, or Step Functions no longer knows it: the lock is stale
    UNKNOWN = "UNKNOWN"  # it could not be described (no permission, another account, an outage)


@dataclass(frozen=True)
class Holder:
    state: HolderState
    detail: str  # the execution's status, "does not exist", or why it could not be described


# Tells what became of the execution holding a lock, by its ARN.
HolderCheck = Callable[[str], Holder]


@dataclass(frozen=True)
class Failure:
    """What ``fail`` did: ``item`` is the run's item afterwards (None when another execution holds the
    date), ``recorded`` whether this call set it FAILED, ``tracked`` whether TrackResult had already
    recorded its outcome (the failure then only went beside it, as ``notify_error``)."""

    item: dict[str, Any] | None
    recorded: bool
    tracked: bool = False


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

    def claim(
        self, run: Run, stages: dict[str, Any], holder_check: HolderCheck | None = None
    ) -> dict[str, Any]:
        """Take the date's lock for ``run`` and start a fresh RUNNING item; return the item.

        A date RUNNING in another execution is taken over when ``holder_check`` says that execution has
        ended (stopped, timed out, failed before it could release the lock, or gone); refused with
        RunLockedError, changing nothing, while it still runs, ``run.force`` or not; and taken over only
        with ``run.force`` when its status cannot be told. A retry of the same execution's claim returns
        its item as it is.
        """
        current = self.get(run.run_date)
        took_over: dict[str, str] | None = None
        expression = _Expression()
        if current and current.get("status") == RunStatus.RUNNING:
            holder_arn = str(current.get("lock") or current.get("execution_arn") or "")
            if holder_arn == run.execution_arn:
                return current
            holder = holder_check(holder_arn) if holder_check else Holder(HolderState.UNKNOWN, "not checked")
            _refuse_unless_free(run, current, holder_arn, holder)
            took_over = {"execution_arn": holder_arn, "status": holder.detail}
            # Take it from exactly that holder: another claimer may have been quicker.
            condition = (
                f"{expression.name('lock')} = {expression.value(holder_arn)} "
                f"AND {expression.name('status')} = {expression.value(RunStatus.RUNNING.value)}"
            )
        else:
            condition = (
                f"attribute_not_exists({expression.name('run_date')}) "
                f"OR {expression.name('status')} <> {expression.value(RunStatus.RUNNING.value)}"
            )
        values = {
            "run_id": run.run_id,
            "execution_arn": run.execution_arn,
            "status": RunStatus.RUNNING.value,
            "lock": run.execution_arn,
            "force": run.force,
            "started_at": run.started_at,
            "stages": stages,
        }
        removed = list(OUTCOME_ATTRIBUTES)
        if took_over:
            values["took_over"] = took_over
        else:
            removed.append("took_over")
        sets = [f"{expression.name(k)} = {expression.value(v)}" for k, v in values.items()]
        attempts = expression.name("attempts")
        sets.append(f"{attempts} = if_not_exists({attempts}, {expression.value(0)}) + {expression.value(1)}")
        update = f"SET {', '.join(sets)} REMOVE {', '.join(expression.name(a) for a in removed)}"
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
            holder_item = _from_item(error.response.get("Item") or {})
            raise RunLockedError(
                f"run for {run.run_date} was claimed by execution {holder_item.get('lock', '?')} while "
                f"execution {run.execution_arn} was claiming it (started at "
                f"{holder_item.get('started_at', '?')}); nothing was changed"
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

    def fail(
        self, run: Run, values: dict[str, Any], finished_at: str, *, keep_failed: bool = False
    ) -> Failure:
        """Record the run FAILED and release the lock. Creates the item when the run failed before it could
        claim the date; leaves alone a date that now belongs to another execution (``item`` None).

        An outcome TrackResult already recorded for this execution is never turned FAILED: the failure is
        kept beside it as ``notify_error`` (the first one wins). With ``keep_failed`` (an execution's end,
        reported after RecordFailure may have recorded a better-placed cause) a FAILED item stays as it is
        too; without it a repeated RecordFailure writes its cause again.
        """
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
        open_statuses = [RunStatus.RUNNING] if keep_failed else [RunStatus.RUNNING, RunStatus.FAILED]
        status_open = " OR ".join(
            f"{expression.name('status')} = {expression.value(status.value)}" for status in open_statuses
        )
        try:
            item = self._update_own(run, update, expression, allow_new=True, also=status_open)
        except RunLockLostError as lost:
            current = lost.item
            if current.get("execution_arn") != run.execution_arn:
                return Failure(None, recorded=False)
            if current.get("status") in TRACKED_STATUSES and "error" in values:
                return Failure(self._note_beside(run, values["error"]), recorded=False, tracked=True)
            return Failure(current, recorded=False, tracked=current.get("status") in TRACKED_STATUSES)
        return Failure(item, recorded=True)

    def _note_beside(self, run: Run, error: dict[str, Any]) -> dict[str, Any]:
        """Keep a failure that came after the outcome was recorded next to it, leaving the outcome as it is."""
        expression = _Expression()
        noted = expression.name("notify_error")
        update = f"SET {noted} = if_not_exists({noted}, {expression.value(error)})"
        condition = f"{expression.name('execution_arn')} = {expression.value(run.execution_arn)}"
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=_key(run.run_date),
            UpdateExpression=update,
            ReturnValues="ALL_NEW",
            **expression.arguments(condition),
        )
        return _from_item(response["Attributes"])

    def mark_notified(self, run: Run, outcome: str) -> bool:
        """Record that the status email for ``outcome`` of ``run``'s execution is being sent.

        True when this call recorded it (send the email now); False when it was already recorded (a retried
        Notify, or the failure tracker after NotifyFailure: the email went out already). One conditional
        write: the item must be this execution's and must not hold the marker. RunLockLostError when the
        date has no item of this execution (none yet, or a newer execution's): no marker is possible.
        """
        expression = _Expression()
        notified = expression.name("notified")
        outcome_value = expression.value(outcome)
        condition = (
            f"{expression.name('execution_arn')} = {expression.value(run.execution_arn)} AND "
            f"(attribute_not_exists({notified}) OR NOT contains({notified}, {outcome_value}))"
        )
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(run.run_date),
                UpdateExpression=f"ADD {notified} {expression.string_set(outcome)}",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expression.arguments(condition),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            holder = _from_item(error.response.get("Item") or {})
            if holder.get("execution_arn") == run.execution_arn:
                return False
            raise RunLockLostError(
                f"run for {run.run_date} has no item of execution {run.execution_arn} "
                f"(it belongs to {holder.get('execution_arn', 'no execution')}): no notification marker",
                holder,
            ) from None
        return True

    def unmark_notified(self, run: Run, outcome: str) -> None:
        """Take back ``mark_notified`` after the email could not be published, so that a retry sends it."""
        expression = _Expression()
        # A failed condition: the date now belongs to another execution, whose item holds no marker of this one.
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(run.run_date),
                UpdateExpression=f"DELETE {expression.name('notified')} {expression.string_set(outcome)}",
                **expression.arguments(
                    f"{expression.name('execution_arn')} = {expression.value(run.execution_arn)}"
                ),
            )

    def record_follow_up(self, run: Run, attribute: str, value: dict[str, Any]) -> bool:
        """Record ``value`` as ``attribute`` (one of FOLLOW_UP_ATTRIBUTES) beside the run's outcome, leaving
        status, counts and lock as they are; False when the date has no item of this execution."""
        if attribute not in FOLLOW_UP_ATTRIBUTES:
            raise ValueError(f"{attribute!r} is not recorded beside a run's outcome: {FOLLOW_UP_ATTRIBUTES}")
        expression = _Expression()
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(run.run_date),
                UpdateExpression=f"SET {expression.name(attribute)} = {expression.value(value)}",
                **expression.arguments(
                    f"{expression.name('execution_arn')} = {expression.value(run.execution_arn)}"
                ),
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

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
        self, run: Run, update: str, expression: _Expression, *, allow_new: bool, also: str | None = None
    ) -> dict[str, Any]:
        arn = expression.value(run.execution_arn)
        lock = expression.name("lock")
        condition = (
            f"{lock} = {arn} OR ({expression.name('execution_arn')} = {arn} AND attribute_not_exists({lock}))"
        )
        if also:
            condition = f"({condition}) AND ({also})"
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
                f"({holder.get('status', '?')}); the results of execution {run.execution_arn} were not recorded",
                holder,
            ) from None
        return _from_item(response["Attributes"])


def _refuse_unless_free(run: Run, current: dict[str, Any], holder_arn: str, holder: Holder) -> None:
    """Raise RunLockedError unless the holder of the date has ended (or cannot be told and ``run.force``)."""
    started = current.get("started_at", "?")
    if holder.state is HolderState.RUNNING:
        raise RunLockedError(
            f"run for {run.run_date} is RUNNING in execution {holder_arn} (started at {started}, Step "
            f"Functions says {holder.detail}); --force does not take a date from an execution that still "
            "runs: wait for it to end, or stop it first with "
            f"`aws stepfunctions stop-execution --execution-arn {holder_arn}`, then run the date again"
        )
    if holder.state is HolderState.UNKNOWN and not run.force:
        raise RunLockedError(
            f"run for {run.run_date} is held by execution {holder_arn} (started at {started}), whose status "
            f"Step Functions could not tell ({holder.detail}); once you know it has stopped, run the date "
            "again with --force"
        )


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

    def string_set(self, *values: str) -> str:
        """A string set (SS) value: what ADD and DELETE add to or take from a set attribute."""
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = {"SS": list(values)}
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
