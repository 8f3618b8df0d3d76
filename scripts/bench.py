"""Benchmark the pipeline on its own emulator (``make bench``): a table on the terminal, JSON in build/bench/.

Starts an emulator on a free port with a private state directory, deploys the stack with scripts/deploy.py
from freshly built artifacts (as the deployed_stack test fixture does), then measures:

- start:     the sample file run right after the deploy (the Glue job's driver starts: JVM, SparkContext,
             Python workers) and once more on the warm stack; every later run is on the warm stack
- loader:    the raw BatchWriteItem ceiling of the emulator (N threads, 25-item batches of order-shaped
             items) against the Glue load stage's rows/s (report.json: loaded / duration_s) at --loader-rows;
             the ceiling also with the emulator's IAM enforcement and DynamoDB capacity model switched off,
             alternating with the one as configured, and the ratio of the two
- e2e:       generated files (1 % bad rows) of each --sizes through a full run: wall time per state (from
             the execution history) and in total
- memory:    peak RSS of the extract Lambda's worker at each size ("Max Memory Used" of its REPORT lines
             in CloudWatch Logs; the emulator's Lambda runtime reports the worker's real VmHWM)
- iteration: change lambdas/notify/handler.py (restored afterwards), package, apply, run the sample file
             until SUCCEEDED
- peer:      the classic per-row design (a Map state invoking one Lambda per row, Catch per row) on the
             same emulator, against a full run of ours at the same size
- makerun:   `make run` on a new emulator of its own (free port, own state and Terraform data dir): cold
             (emulator start, terraform init + apply, first Spark start), then again on the running one

Figures are medians of --repeat runs; ratios compare figures measured in the same invocation. A failed
measurement is shown with its error and the others still run.

Usage: bench.py [--sizes 10000,100000,1000000] [--repeat 3]
                [--only start,e2e,loader,memory,iteration,peer,makerun]
                [--loader-rows 100000] [--peer-rows 1000] [--writers 8] [--ceiling-items 50000]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import pytest  # noqa: E402
from boto3.dynamodb.types import TypeSerializer  # noqa: E402

from pipeline import dynamo_writer, layout  # noqa: E402
from pipeline.generator import OrderFile, load_products, write_lines  # noqa: E402
from tests.conftest import (  # noqa: E402
    RunningEmulator,
    _free_port,
    build_artifacts,
    start_emulator,
    terraform_environment,
)

OUT_DIR = ROOT / "build" / "bench"
SAMPLE_ORDERS = ROOT / "data" / "orders_sample.csv"
CATALOG = ROOT / "data" / "products.csv"
NOTIFY_HANDLER = ROOT / "lambdas" / "notify" / "handler.py"
# In this order: the iteration loop and the loader are measured before the large runs leave millions of items
# in the emulator (which slows every request a little), as a developer's stack would be.
MEASUREMENTS = ("start", "iteration", "loader", "e2e", "memory", "peer", "makerun")
PEER_REFERENCE_ROWS = 10_000
FIRST_RUN_DATE = date(2031, 1, 1)
# pytest.fail (used by the shared fixtures' helpers) raises a BaseException subclass.
FAILURES: tuple[type[BaseException], ...] = (Exception, pytest.fail.Exception)


free_port = _free_port


# --- pure helpers (unit-tested in tests/bench/) ------------------------------------------------------


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values to take the median of")
    return float(statistics.median(values))


def stage_durations(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Seconds spent in each state of an execution, from its history's *StateEntered/*StateExited events
    (a state entered several times counts the sum). Timestamps are datetimes, as boto3 returns them."""
    entered: dict[str, Any] = {}
    spent: dict[str, float] = {}
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = event["timestamp"]
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                seconds = (event["timestamp"] - entered.pop(name)).total_seconds()
                spent[name] = spent.get(name, 0.0) + seconds
    return spent


REPORT_MEMORY = re.compile(r"^REPORT RequestId: \S+.*Max Memory Used: (\d+) MB", re.MULTILINE)


def max_memory_mb(messages: Iterable[str]) -> int | None:
    """The largest "Max Memory Used" of the REPORT lines among ``messages`` (None without any)."""
    found = [int(m.group(1)) for message in messages for m in REPORT_MEMORY.finditer(message)]
    return max(found) if found else None


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"--sizes wants positive row counts, got {text!r}")
    return sizes


def parse_only(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in MEASUREMENTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown measurement {', '.join(unknown)}: use {MEASUREMENTS}")
    return chosen


# --- the stack ------------------------------------------------------------------------------------------


def run_deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/deploy.py --env local ...`` (what `make apply` runs); raises with its output on failure."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy.py"), "--env", "local", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploy.py {' '.join(args)} failed: {(result.stdout + result.stderr)[-2000:]}")
    return result


@dataclass
class Bench:
    emulator: RunningEmulator
    workspace: Path
    artifacts: Path
    env: dict[str, str]
    outputs: dict[str, Any] = field(default_factory=dict)
    next_day: int = 0
    runs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # rows → full runs measured

    def client(self, service: str, **kwargs: Any):
        return boto3.client(
            service,
            endpoint_url=self.emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            **kwargs,
        )

    def has_iam_switch(self) -> bool:
        """Whether the emulator serves the IAM enforcement switch (``/_emulator/iam``)."""
        try:
            self.emulator.control.get("iam")
        except RuntimeError:  # no such control route
            return False
        return True

    @contextlib.contextmanager
    def emulator_checks(self, on: bool, iam: bool) -> Iterator[None]:
        """The emulator's IAM enforcement (if ``iam``: it has the switch) and DynamoDB capacity model on or off
        for the block; both are on again afterwards."""
        control = self.emulator.control
        try:
            if iam:
                control.post("iam", {"enforcement": on})
            control.post("dynamodb", {"enabled": on})
            yield
        finally:
            if iam:
                control.post("iam", {"enforcement": True})
            control.post("dynamodb", {"enabled": True})

    def deploy(self) -> float:
        started = time.monotonic()
        run_deploy(self.env, "apply", "--artifacts-dir", str(self.artifacts), "--", "-no-color")
        seconds = time.monotonic() - started
        raw = json.loads(run_deploy(self.env, "output").stdout)
        self.outputs = {name: value["value"] for name, value in raw.items()}
        return seconds

    def fresh_date(self) -> date:
        """A run date no earlier run used (a date already loaded would be skipped or locked)."""
        self.next_day += 1
        return FIRST_RUN_DATE + timedelta(days=self.next_day)

    def execute(self, run_date: date, timeout: float = 3600) -> dict[str, Any]:
        """Start the state machine for ``run_date``, wait for it; its status, per-state seconds, report."""
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=self.outputs["state_machine_arn"],
            name=f"bench-{run_date.isoformat()}-{int(time.time() * 1000)}",
            input=json.dumps({"run_date": run_date.isoformat()}),
        )["executionArn"]
        execution = wait_execution(sfn, arn, timeout)
        events = history(sfn, arn)
        result = {
            "execution_arn": arn,
            "status": execution["status"],
            "execution_s": (execution["stopDate"] - execution["startDate"]).total_seconds(),
            "stages_s": {name: round(s, 3) for name, s in stage_durations(events).items()},
        }
        run_id = layout.run_id_for(run_date, arn)
        try:
            body = self.client("s3").get_object(
                Bucket=self.outputs["staging_bucket_name"], Key=layout.report_key(run_id)
            )["Body"]
            result["report"] = json.loads(body.read())
        except FAILURES:
            result["report"] = None
        return result

    def full_run(self, rows: int, seed: int) -> dict[str, Any]:
        """A generated file of ``rows`` rows (1 % bad) uploaded for a fresh date and run to the end."""
        run_date = self.fresh_date()
        s3 = self.client("s3")
        landing = self.outputs["landing_bucket_name"]
        orders = OrderFile(load_products(CATALOG), rows=rows, bad_rate=0.01, seed=seed, day=run_date)
        started = time.monotonic()
        s3.upload_file(str(CATALOG), landing, layout.CATALOG_KEY)
        write_lines(orders.lines(), f"s3://{landing}/{layout.orders_prefix(run_date)}orders.csv", s3=s3)
        upload_s = time.monotonic() - started
        since_ms = int(time.time() * 1000)
        result = self.execute(run_date)
        result.update(rows=rows, upload_s=round(upload_s, 3), expected=orders.expected.as_dict())
        result["total_s"] = round(upload_s + result["execution_s"], 3)
        result["extract_max_memory_mb"] = self.extract_memory_since(since_ms)
        report = result.get("report") or {}
        if result["status"] != "SUCCEEDED":
            raise RuntimeError(f"the run of {rows} rows ended {result['status']}: {result['execution_arn']}")
        if report.get("loaded") != orders.expected.loaded:
            raise RuntimeError(f"loaded {report.get('loaded')} rows, the file holds {orders.expected.loaded}")
        self.runs.setdefault(rows, []).append(result)
        return result

    def extract_memory_since(self, since_ms: int) -> int | None:
        logs = self.client("logs")
        group = f"/aws/lambda/{self.outputs['lambda_function_names']['extract']}"
        messages: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": since_ms}
        while True:
            page = logs.filter_log_events(**kwargs)
            messages += [event["message"] for event in page.get("events", ())]
            token = page.get("nextToken")
            if not token or not page.get("events"):
                return max_memory_mb(messages)
            kwargs["nextToken"] = token

    def sample_run(self, timeout: float = 300) -> dict[str, Any]:
        """The sample file (data/orders_sample.csv) for a fresh date, run to the end."""
        run_date = self.fresh_date()
        landing = self.outputs["landing_bucket_name"]
        s3 = self.client("s3")
        s3.upload_file(str(CATALOG), landing, layout.CATALOG_KEY)
        s3.upload_file(str(SAMPLE_ORDERS), landing, f"{layout.orders_prefix(run_date)}orders.csv")
        result = self.execute(run_date, timeout=timeout)
        if result["status"] != "SUCCEEDED":
            raise RuntimeError(f"the sample run ended {result['status']}: {result['execution_arn']}")
        return result

    def runs_of(self, rows: int, repeat: int) -> list[dict[str, Any]]:
        """At least ``repeat`` full runs of ``rows`` rows, reusing those already measured."""
        while len(self.runs.get(rows, [])) < repeat:
            self.full_run(rows, seed=len(self.runs.get(rows, [])) + 1)
        return self.runs[rows][:repeat]


def wait_execution(sfn: Any, arn: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} still RUNNING after {timeout:.0f}s")
        time.sleep(0.25)


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    return events


# --- measurements ---------------------------------------------------------------------------------------


@dataclass
class Row:
    measurement: str
    figure: str
    goal: str = ""
    met: bool | None = None
    detail: str = ""


def measure_start(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    first = bench.sample_run()
    warm = [bench.sample_run() for _ in range(options.repeat)]
    warm_s = median([run["execution_s"] for run in warm])
    data.update(first=first, warm=warm, first_s=first["execution_s"], warm_median_s=warm_s)

    def load_s(run: dict[str, Any]) -> float:
        return run["stages_s"].get("Load", 0.0)

    return [
        Row(
            "sample run right after deploy",
            f"{first['execution_s']:.1f} s",
            detail=f"Load {load_s(first):.1f} s: the Glue driver starts (JVM, SparkContext, Python workers)",
        ),
        Row(
            "sample run, warm stack",
            f"{warm_s:.1f} s",
            detail=f"Load {median([load_s(run) for run in warm]):.1f} s on the warm Glue driver",
        ),
    ]


def measure_e2e(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for size in options.sizes:
        try:
            runs = bench.runs_of(size, options.repeat)
        except FAILURES as exc:
            rows.append(Row(f"e2e {size:,} rows", "error", detail=_error(exc)))
            continue
        stages = sorted({name for run in runs for name in run["stages_s"]}, key=_stage_order)
        per_stage = {name: median([run["stages_s"].get(name, 0.0) for run in runs]) for name in stages}
        total = median([run["total_s"] for run in runs])
        execution = median([run["execution_s"] for run in runs])
        upload = median([run["upload_s"] for run in runs])
        data[str(size)] = {
            "runs": runs,
            "median_total_s": total,
            "median_execution_s": execution,
            "median_upload_s": upload,
            "median_stages_s": per_stage,
            "rows_per_s": size / total,
        }
        goal = "≤ 60 s" if size == 100_000 else ""
        stage_text = ", ".join(f"{name} {seconds:.1f}" for name, seconds in per_stage.items())
        rows.append(
            Row(
                f"e2e {size:,} rows",
                f"{total:.1f} s ({size / total:,.0f} rows/s)",
                goal,
                total <= 60 if size == 100_000 else None,
                f"upload+generate {upload:.1f} s, execution {execution:.1f} s: {stage_text}",
            )
        )
    return rows


def measure_loader(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    size = options.loader_rows
    iam_switch = bench.has_iam_switch()
    # The ceiling as configured (IAM enforcement and the DynamoDB capacity model on, rates unlimited) and with
    # both off, alternating which goes first so that the shared machine's noise hits both alike. Each load
    # right after a pair of ceilings: all see the emulator in the same state.
    strict: list[float] = []
    lenient: list[float] = []
    for attempt in range(options.repeat):
        order = ("strict", "lenient") if attempt % 2 == 0 else ("lenient", "strict")
        for mode in order:
            with bench.emulator_checks(on=mode == "strict", iam=iam_switch):
                figure = ceiling_items_per_s(bench, options.writers, options.ceiling_items)
            (strict if mode == "strict" else lenient).append(figure)
        bench.full_run(size, seed=len(bench.runs.get(size, [])) + 1)
    ceiling, ceiling_lenient = median(strict), median(lenient)
    runs = bench.runs[size][-options.repeat :]
    glue = median([run["report"]["loaded"] / run["report"]["duration_s"] for run in runs])
    load_stage = median([run["report"]["loaded"] / run["stages_s"]["Load"] for run in runs])
    ratio = glue / ceiling
    checks_ratio = ceiling / ceiling_lenient
    data.update(
        ceiling_items_per_s=strict,
        median_ceiling_items_per_s=ceiling,
        ceiling_strict=ceiling,
        ceiling_lenient=ceiling_lenient,
        ceiling_strict_items_per_s=strict,
        ceiling_lenient_items_per_s=lenient,
        strict_over_lenient=checks_ratio,
        lenient_iam_enforcement_off=iam_switch,
        writers=options.writers,
        ceiling_items=options.ceiling_items,
        rows=size,
        glue_rows_per_s=glue,
        load_state_rows_per_s=load_stage,
        ratio=ratio,
    )
    lenient_is = (
        "IAM enforcement and capacity model off" if iam_switch else "capacity model off (no IAM switch)"
    )
    return [
        Row(
            "BatchWriteItem ceiling",
            f"{ceiling:,.0f} items/s",
            detail=f"{options.writers} threads; IAM enforcement and capacity model on (rates unlimited)",
        ),
        Row("BatchWriteItem ceiling, checks off", f"{ceiling_lenient:,.0f} items/s", detail=lenient_is),
        Row("ceiling with / without checks", f"{checks_ratio:.2f}", "≥ 0.90", checks_ratio >= 0.90),
        Row(
            f"Glue load {size:,} rows",
            f"{glue:,.0f} rows/s",
            detail=(
                f"report.json loaded / duration_s (the whole job on the warm driver); Load state incl. "
                f"starting and waiting for the job run {load_stage:,.0f} rows/s"
            ),
        ),
        Row("loader / ceiling", f"{ratio:.2f}", "≥ 0.85", ratio >= 0.85),
    ]


def ceiling_items_per_s(bench: Bench, writers: int, items: int) -> float:
    """Items/s that ``writers`` threads reach sending 25-item BatchWriteItem requests of order-shaped
    items straight to the emulator (unprocessed items are sent again and counted once)."""
    table = "bench-ceiling"
    dynamodb = bench.client("dynamodb")
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    serialize = TypeSerializer().serialize
    stamp = time.time_ns()
    batches = [
        [
            {"PutRequest": {"Item": {k: serialize(v) for k, v in order_item(stamp, n).items()}}}
            for n in range(start, min(start + 25, items))
        ]
        for start in range(0, items, 25)
    ]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        client = bench.client("dynamodb", config=dynamo_writer.client_config(1))
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop()
            try:
                while batch:
                    answer = client.batch_write_item(RequestItems={table: batch})
                    batch = (answer.get("UnprocessedItems") or {}).get(table, [])
            except FAILURES as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    if errors:
        raise RuntimeError(f"BatchWriteItem failed: {errors[0]!r}")
    return items / seconds


def order_item(stamp: int, number: int) -> dict[str, Any]:
    """An item with the attributes and sizes of a loaded order."""
    return {
        "order_id": f"ORD-{stamp}-{number:07d}",
        "order_date": "2031-01-01",
        "customer": "Siobhán Ó Súilleabháin",
        "product_id": "P-0001",
        "product_name": "Ergonomic keyboard",
        "category": "Peripherals",
        "unit_price": Decimal("49.90"),
        "quantity": 2,
        "amount": Decimal("99.80"),
        "currency": "EUR",
        "run_date": "2031-01-01",
        "run_id": "2031-01-01-0123456789",
        "loaded_at": "2031-01-01T06:00:00Z",
        "version": "orders.csv@1",
        "source": "s3://landing/orders/dt=2031-01-01/orders.csv line 2",
    }


def measure_memory(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for size in options.sizes:
        try:
            runs = bench.runs_of(size, options.repeat)
        except FAILURES as exc:
            rows.append(Row(f"extract peak RSS {size:,} rows", "error", detail=_error(exc)))
            continue
        peaks = [run["extract_max_memory_mb"] for run in runs]
        if any(peak is None for peak in peaks):
            rows.append(Row(f"extract peak RSS {size:,} rows", "error", detail="no REPORT line found"))
            continue
        peak = max(peaks)
        data[str(size)] = {"max_memory_used_mb": peaks}
        goal = "≤ 256 MB" if size == 1_000_000 else ""
        rows.append(
            Row(
                f"extract peak RSS {size:,} rows",
                f"{peak} MB",
                goal,
                peak <= 256 if size == 1_000_000 else None,
                "max of the REPORT lines' Max Memory Used (worker VmHWM)",
            )
        )
    return rows


def measure_iteration(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    lambdas = bench.client("lambda")
    function = bench.outputs["lambda_function_names"]["notify"]
    original = NOTIFY_HANDLER.read_bytes()
    times: list[float] = []
    phases: list[dict[str, float]] = []
    try:
        for _ in range(options.repeat):
            before = lambdas.get_function(FunctionName=function)["Configuration"]["CodeSha256"]
            NOTIFY_HANDLER.write_bytes(original + f"\n# benchmark edit {time.time_ns()}\n".encode())
            started = time.monotonic()
            build_artifacts(bench.artifacts)
            packaged = time.monotonic()
            run_deploy(bench.env, "apply", "--artifacts-dir", str(bench.artifacts), "--", "-no-color")
            applied = time.monotonic()
            bench.sample_run()
            finished = time.monotonic()
            after = lambdas.get_function(FunctionName=function)["Configuration"]["CodeSha256"]
            if after == before:
                raise RuntimeError("the apply did not redeploy the changed notify function")
            times.append(finished - started)
            phases.append(
                {
                    "package_s": packaged - started,
                    "apply_s": applied - packaged,
                    "run_s": finished - applied,
                }
            )
    finally:
        NOTIFY_HANDLER.write_bytes(original)
    total = median(times)
    data.update(wall_s=times, phases=phases, median_s=total)
    phase_text = ", ".join(f"{k[:-2]} {median([p[k] for p in phases]):.1f} s" for k in phases[0])
    return [Row("edit → deploy → sample SUCCEEDED", f"{total:.1f} s", "≤ 20 s", total <= 20, phase_text)]


PEER_HANDLER = """
import os
from decimal import Decimal, InvalidOperation

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE"])
COLUMNS = ("order_id", "order_date", "customer", "product_id", "quantity", "amount", "currency")


def handler(event, context):
    row = event["row"]
    if len(row) != len(COLUMNS):
        raise ValueError(f"{len(row)} fields")
    item = dict(zip(COLUMNS, row))
    if not item["order_id"].strip() or not item["customer"].strip():
        raise ValueError("missing field")
    try:
        quantity = int(item["quantity"])
        amount = Decimal(item["amount"])
    except (ValueError, InvalidOperation):
        raise ValueError("bad number") from None
    if quantity < 1 or not amount.is_finite() or amount < 0 or len(item["currency"]) != 3:
        raise ValueError("bad value")
    item.update(quantity=quantity, amount=amount)
    TABLE.put_item(Item=item)
    return {"order_id": item["order_id"]}
"""


def peer_definition(function_arn: str) -> str:
    return json.dumps(
        {
            "StartAt": "Rows",
            "States": {
                "Rows": {
                    "Type": "Map",
                    "ItemsPath": "$.rows",
                    "MaxConcurrency": 40,
                    "ResultPath": None,
                    "Iterator": {
                        "StartAt": "Row",
                        "States": {
                            "Row": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": function_arn, "Payload": {"row.$": "$"}},
                                "Catch": [
                                    {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Rejected"}
                                ],
                                "End": True,
                            },
                            "Rejected": {"Type": "Pass", "End": True},
                        },
                    },
                    "End": True,
                }
            },
        }
    )


def deploy_peer(bench: Bench) -> str:
    """The per-row design: a table, a role, one Lambda per row, a Map state machine. Its ARN."""
    name = "bench-per-row"
    dynamodb, iam = bench.client("dynamodb"), bench.client("iam")
    lambdas, sfn = bench.client("lambda"), bench.client("stepfunctions")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", PEER_HANDLER)
    function = lambdas.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Timeout=30,
        MemorySize=128,
        Environment={"Variables": {"TABLE": name}},
    )["FunctionArn"]
    lambdas.get_waiter("function_active_v2").wait(FunctionName=name)
    return sfn.create_state_machine(name=name, definition=peer_definition(function), roleArn=role)[
        "stateMachineArn"
    ]


def measure_peer(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    machine = deploy_peer(bench)
    sfn = bench.client("stepfunctions")
    orders = OrderFile(
        load_products(CATALOG), rows=options.peer_rows, bad_rate=0.01, seed=7, day=FIRST_RUN_DATE
    )
    rows = list(csv.reader(orders.lines()))[1:]
    times: list[float] = []
    for attempt in range(options.repeat):
        started = time.monotonic()
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name=f"per-row-{attempt}-{time.time_ns()}",
            input=json.dumps({"rows": rows}),
        )["executionArn"]
        execution = wait_execution(sfn, arn, timeout=3600)
        times.append(time.monotonic() - started)
        if execution["status"] != "SUCCEEDED":
            raise RuntimeError(f"the per-row execution ended {execution['status']}")
    written = bench.client("dynamodb").describe_table(TableName="bench-per-row")["Table"]
    peer = median(times)
    scale = PEER_REFERENCE_ROWS / options.peer_rows
    peer_scaled = peer * scale
    ours = median([run["total_s"] for run in bench.runs_of(PEER_REFERENCE_ROWS, options.repeat)])
    ratio = peer_scaled / ours
    data.update(
        peer_rows=options.peer_rows,
        peer_wall_s=times,
        peer_median_s=peer,
        scaled_to_rows=PEER_REFERENCE_ROWS,
        peer_scaled_s=peer_scaled,
        ours_median_s=ours,
        ratio=ratio,
        peer_table_item_count=written.get("ItemCount"),
    )
    scaled = f" (×{scale:g} linear: {peer_scaled:.1f} s for {PEER_REFERENCE_ROWS:,})" if scale != 1 else ""
    return [
        Row(
            f"per-row Map design, {options.peer_rows:,} rows",
            f"{peer:.1f} s{scaled}",
            detail="Map (MaxConcurrency 40) → one Lambda per row, Catch per row",
        ),
        Row(f"ours, {PEER_REFERENCE_ROWS:,} rows", f"{ours:.1f} s"),
        Row("per-row / ours", f"{ratio:.1f}×", "≥ 20×", ratio >= 20),
    ]


def measure_makerun(bench: Bench, options: argparse.Namespace, data: dict[str, Any]) -> list[Row]:
    """`make run` twice on an emulator of its own: cold, then with that emulator (and its stack) running."""
    folder = bench.workspace / "makerun"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "emulator").mkdir(parents=True)
    env = {
        **os.environ,
        **terraform_environment(folder / "tf"),
        "EMULATOR_PORT": str(free_port()),
        "EMULATOR_STATE_DIR": str(folder / "emulator"),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    times: list[float] = []
    try:
        for attempt in ("cold", "warm"):
            started = time.monotonic()
            result = subprocess.run(
                ["make", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
            )
            times.append(time.monotonic() - started)
            (folder / f"make-run-{attempt}.log").write_text(result.stdout + result.stderr)
            if result.returncode != 0:
                raise RuntimeError(
                    f"`make run` ({attempt}) failed: {(result.stdout + result.stderr)[-1500:]}"
                )
    finally:
        subprocess.run(["make", "down"], cwd=ROOT, env=env, capture_output=True, check=False)
    data.update(cold_s=times[0], warm_s=times[1], logs=str(folder.relative_to(ROOT)))
    return [
        Row(
            "make run, cold",
            f"{times[0]:.1f} s",
            detail="new emulator, terraform init + apply, first Spark start",
        ),
        Row(
            "make run, again", f"{times[1]:.1f} s", detail="same emulator: nothing to apply, warm Glue driver"
        ),
    ]


MEASURE: dict[str, Callable[[Bench, argparse.Namespace, dict[str, Any]], list[Row]]] = {
    "start": measure_start,
    "e2e": measure_e2e,
    "loader": measure_loader,
    "memory": measure_memory,
    "iteration": measure_iteration,
    "peer": measure_peer,
    "makerun": measure_makerun,
}


# --- running and reporting ------------------------------------------------------------------------------


def _stage_order(name: str) -> int:
    order = (
        "BeginRun",
        "Extract",
        "HasWork",
        "Load",
        "TrackResult",
        "Notify",
        "RecordNotifyError",
        "RefreshDashboard",
        "DashboardRefreshFailed",
        "RunEnded",
        "Done",
    )
    return order.index(name) if name in order else len(order)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"


def print_table(rows: list[Row], settings: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Benchmarks ({settings})")
    for column in ("Measurement", "Figure", "Goal", "Met", "Detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        met = "" if row.met is None else ("[green]yes[/]" if row.met else "[red]no[/]")
        figure = f"[red]{row.figure}[/]" if row.figure == "error" else row.figure
        table.add_row(row.measurement, figure, row.goal, met, row.detail)
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is quoted)")
    parser.add_argument("--only", type=parse_only, default=list(MEASUREMENTS), help=",".join(MEASUREMENTS))
    parser.add_argument("--peer-rows", type=int, default=1000, help="rows through the per-row design")
    parser.add_argument("--writers", type=int, default=8, help="threads of the BatchWriteItem ceiling")
    parser.add_argument("--ceiling-items", type=int, default=50_000, help="items the ceiling writes")
    parser.add_argument(
        "--loader-rows",
        type=int,
        default=100_000,
        help="rows of the runs whose load is set against the ceiling",
    )
    parser.add_argument("--output", type=Path, default=OUT_DIR / "results.json")
    options = parser.parse_args(argv)
    settings = (
        f"sizes {','.join(str(s) for s in options.sizes)}, repeat {options.repeat}, "
        f"peer rows {options.peer_rows}, writers {options.writers}"
    )

    workspace = OUT_DIR / "work"
    shutil.rmtree(workspace, ignore_errors=True)
    (workspace / "emulator").mkdir(parents=True)
    rows: list[Row] = []
    results: dict[str, Any] = {
        "settings": vars(options) | {"output": str(options.output.name)},
        "results": {},
    }
    process = None
    try:
        process, emulator = start_emulator(workspace / "emulator")
        print(f"bench: emulator at {emulator.endpoint}, state in {workspace.relative_to(ROOT)}", flush=True)
        artifacts = build_artifacts(workspace / "artifacts")
        bench = Bench(
            emulator, workspace, artifacts, {**emulator.env, **terraform_environment(workspace / "tf")}
        )
        results["deploy_s"] = bench.deploy()
        print(f"bench: stack deployed in {results['deploy_s']:.1f} s", flush=True)
        if "start" not in options.only and set(options.only) - {"makerun"}:
            print("bench: one sample run to warm the stack (not measured)", flush=True)
            bench.sample_run()
        for name in MEASUREMENTS:
            if name not in options.only:
                continue
            print(f"bench: measuring {name}", flush=True)
            data: dict[str, Any] = {}
            started = time.monotonic()
            try:
                rows += MEASURE[name](bench, options, data)
            except FAILURES as exc:
                traceback.print_exc()
                rows.append(Row(name, "error", detail=_error(exc)))
                data["error"] = _error(exc)
            data["measured_in_s"] = round(time.monotonic() - started, 1)
            results["results"][name] = data
    except FAILURES as exc:
        traceback.print_exc()
        rows.append(Row("setup (emulator, artifacts, deploy)", "error", detail=_error(exc)))
        results["error"] = _error(exc)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    results["table"] = [vars(row) for row in rows]
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_table(rows, settings)
    print(f"bench: results in {os.path.relpath(options.output, Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
