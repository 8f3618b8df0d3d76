"""Consecutive daily runs on the emulator, with faults on chosen days: watch failed records come back.

Each day gets a generated partner file, the faults planned for it, and the daily schedule fired at that
day's scheduled time; then the day's counts and the retry backlog are collected.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from emulator.client import EmulatorClient
from etl import operations as ops
from etl.stack import Stack, StackError
from pipeline import layout
from pipeline.generator import Expected, OrderFile, load_products
from pipeline.runs import Counts

FAULT_SPEC = re.compile(r"^(?P<name>[a-z_]+)(?:=(?P<value>[^@]+))?@(?P<days>[\d,\-]+)$")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class DayFaults:
    """Emulator fault knobs for one simulated day (the control API's payload)."""

    knobs: dict[str, Any] = field(default_factory=dict)


def parse_faults(specs: list[str], job_name: str) -> dict[int, DayFaults]:
    """``unprocessed=0.3@1`` (a share of the records whose DynamoDB writes stay unprocessed on day 1, beyond the
    loader's retries), ``load@2-3`` (the Glue load job fails on days 2 and 3). Days are 1-based and may be lists
    (1,3) or ranges (1-3)."""
    plan: dict[int, dict[str, Any]] = {}
    for spec in specs:
        match = FAULT_SPEC.match(spec.strip())
        if not match:
            raise FaultSpecError(f"fault {spec!r} is not NAME[=VALUE]@DAYS, e.g. unprocessed=0.3@1 or load@2")
        days = _days(match["days"], spec)
        name, value = match["name"], match["value"]
        for day in days:
            knobs = plan.setdefault(day, {})
            if name == "unprocessed":
                try:
                    share = float(value or "")
                except ValueError:
                    raise FaultSpecError(
                        f"fault {spec!r}: unprocessed needs a share, e.g. unprocessed=0.3@1"
                    ) from None
                if not 0 <= share <= 1:
                    raise FaultSpecError(f"fault {spec!r}: the share must be within 0..1")
                # The same records fail on every attempt that day: the loader's own retries cannot absorb the
                # share, which is then what fails beyond them and goes to the retry queue.
                knobs["dynamodb_unprocessed"] = share
                knobs["dynamodb_unprocessed_sticky"] = True
            elif name == "load":
                knobs.setdefault("fail_glue", {})[job_name] = value or "simulated load failure"
            else:
                raise FaultSpecError(f"fault {spec!r}: unknown fault {name!r} (use unprocessed or load)")
    return {day: DayFaults(knobs) for day, knobs in plan.items()}


def _days(text: str, spec: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise FaultSpecError(f"fault {spec!r}: days must be numbers, lists or ranges") from None
        if start < 1 or end < start:
            raise FaultSpecError(f"fault {spec!r}: days start at 1")
        days += range(start, end + 1)
    return days


@dataclass(frozen=True)
class DayResult:
    day: int
    run_date: date
    status: str
    counts: Counts
    expected: Expected
    retry_backlog: int
    quarantine_total: int


def simulate(
    stack: Stack,
    days: int,
    start: date,
    rows: int,
    bad_rate: float,
    seed: int,
    faults: dict[int, DayFaults],
    on_day: Callable[[DayResult], None] = lambda _: None,
) -> list[DayResult]:
    if stack.emulator is None:
        raise StackError("simulate drives the emulator (its scheduler and fault knobs): use --env local")
    control = EmulatorClient(stack.emulator.endpoint)
    products = load_products(ops.SAMPLE_CATALOG)
    s3 = stack.client("s3")
    bucket = stack.outputs.landing_bucket_name
    s3.upload_file(str(ops.SAMPLE_CATALOG), bucket, layout.CATALOG_KEY)
    results = []
    for number in range(1, days + 1):
        run_date = start + timedelta(days=number - 1)
        file = OrderFile(products, rows=rows, bad_rate=bad_rate, seed=seed + number, day=run_date)
        body = "".join(file.lines()).encode()
        s3.upload_fileobj(io.BytesIO(body), bucket, f"{layout.orders_prefix(run_date)}orders.csv")
        control.clear_faults()
        knobs = faults.get(number, DayFaults()).knobs
        if knobs:
            control.set_faults(seed=seed + number, **knobs)
        try:
            started = ops.fire_schedule(stack, ops.scheduled_time(run_date))
            ops.wait(stack, started.execution_arn)
        finally:
            control.clear_faults()
        item = ops.run_item(stack, run_date) or {}
        result = DayResult(
            day=number,
            run_date=run_date,
            status=str(item.get("status", "MISSING")),
            counts=Counts.from_dict(item.get("counts") or {}),
            expected=file.expected,
            retry_backlog=int(item.get("retry_backlog", 0) or 0),
            quarantine_total=int(item.get("quarantine_total", 0) or 0),
        )
        on_day(result)
        results.append(result)
    return results
