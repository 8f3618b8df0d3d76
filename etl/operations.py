"""What the CLI's commands do, as plain functions over a Stack (tests call these directly)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from emulator.client import EmulatorClient
from etl.stack import ROOT, Stack, StackError
from pipeline import layout

SAMPLE_ORDERS = ROOT / "data" / "orders_sample.csv"
SAMPLE_CATALOG = ROOT / "data" / "products.csv"
SCHEDULED_HOUR = 6  # the daily rule's cron(0 6 * * ? *)


@dataclass(frozen=True)
class StartedRun:
    run_date: date
    execution_arn: str


def upload_partner_file(
    stack: Stack, run_date: date, orders: Path = SAMPLE_ORDERS, catalog: Path = SAMPLE_CATALOG
) -> str:
    """Drop a partner file for ``run_date`` (and the catalog) where the pipeline looks for them."""
    s3 = stack.client("s3")
    bucket = stack.outputs.landing_bucket_name
    key = f"{layout.orders_prefix(run_date)}{orders.name}"
    s3.upload_file(str(orders), bucket, key)
    s3.upload_file(str(catalog), bucket, layout.CATALOG_KEY)
    return f"s3://{bucket}/{key}"


def fire_schedule(stack: Stack, at: datetime) -> StartedRun:
    """Fire the daily rule as EventBridge would at ``at`` (emulator only) and return the started run."""
    if not stack.is_local or stack.emulator is None:
        raise StackError("firing the schedule is an emulator feature; on AWS use `etl run --date`")
    answer = EmulatorClient(stack.emulator.endpoint).fire(
        stack.outputs.daily_rule_name, at=at.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    arns = [t["execution_arn"] for t in answer.get("targets", []) if t.get("execution_arn")]
    if len(arns) != 1:
        raise StackError(f"the daily rule should start one execution, it started {len(arns)}: {answer}")
    return StartedRun(at.date(), arns[0])


def start_run(stack: Stack, run_date: date, force: bool = False) -> StartedRun:
    """Start the state machine for a date directly (what `etl run --date` and backfill do)."""
    sfn = stack.client("stepfunctions")
    payload: dict[str, Any] = {"run_date": run_date.isoformat()}
    if force:
        payload["force"] = True
    name = f"manual-{run_date.isoformat()}-{int(time.time() * 1000)}"
    answer = sfn.start_execution(
        stateMachineArn=stack.outputs.state_machine_arn, name=name, input=json.dumps(payload)
    )
    return StartedRun(run_date, answer["executionArn"])


def wait(
    stack: Stack, execution_arn: str, timeout_seconds: float = 3600, poll_seconds: float = 0.5
) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout_seconds
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_seconds:.0f}s")
        time.sleep(poll_seconds)


def lock_refusal(stack: Stack, execution_arn: str) -> str | None:
    """Why BeginRun refused the date (RunLocked): its message names the holder and how to stop it."""
    sfn = stack.client("stepfunctions")
    if sfn.describe_execution(executionArn=execution_arn).get("error") != "RunLocked":
        return None
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    for event in history:
        if event["type"] == "TaskFailed":
            cause = event["taskFailedEventDetails"].get("cause") or ""
            try:
                return str(json.loads(cause).get("errorMessage") or cause)
            except ValueError:
                return cause
    return "another execution holds the run lock for this date"


def smoke_problems(stack: Stack, started: StartedRun, execution: dict[str, Any]) -> list[str]:
    """What is wrong with a canary run, if anything: it must succeed, record NO_DATA and publish its email."""
    problems = []
    if execution["status"] != "SUCCEEDED":
        problems.append(f"execution ended {execution['status']}")
    item = run_item(stack, started.run_date)
    if item is None or item.get("status") != "NO_DATA" or item.get("execution_arn") != started.execution_arn:
        problems.append(
            f"run record for {started.run_date} is {item and item.get('status')!r}, expected NO_DATA"
        )
    notified = [
        json.loads(event["stateExitedEventDetails"].get("output") or "{}")
        for event in stack.client("stepfunctions").get_execution_history(
            executionArn=started.execution_arn, maxResults=1000
        )["events"]
        if event["type"] == "TaskStateExited" and event["stateExitedEventDetails"]["name"] == "Notify"
    ]
    if not notified:
        problems.append("the Notify state did not complete: no status email was published")
    return problems


def run_item(stack: Stack, run_date: date) -> dict[str, Any] | None:
    item = (
        stack.table(stack.outputs.runs_table_name)
        .get_item(Key={"run_date": run_date.isoformat()})
        .get("Item")
    )
    return _plain(item) if item else None


def run_history(stack: Stack, limit: int = 30) -> list[dict[str, Any]]:
    """The runs table is one small item per day: a paginated scan is its natural read."""
    dynamodb = stack.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.outputs.runs_table_name):
        items += [_plain({k: deserialize(v) for k, v in raw.items()}) for raw in page["Items"]]
    items.sort(key=lambda item: str(item.get("run_date")), reverse=True)
    return items[:limit]


def latest_email(stack: Stack, run_date: date, since: float = 0.0) -> str | None:
    """The status email for a run from the emulator's outbox (newest matching the date)."""
    if stack.emulator is None:
        return None
    messages = EmulatorClient(stack.emulator.endpoint).outbox()
    for message in reversed(messages):
        if (
            run_date.isoformat() in message.get("subject", "")
            and Path(message["path"]).stat().st_mtime >= since
        ):
            return Path(message["path"]).read_text(encoding="utf-8")
    return None


def date_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def scheduled_time(run_date: date) -> datetime:
    return datetime(run_date.year, run_date.month, run_date.day, SCHEDULED_HOUR, tzinfo=UTC)


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints/floats, for printing and JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
