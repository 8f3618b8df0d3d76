"""Properties of error tracking across consecutive daily runs: whatever the files and the write failures,
every run accounts for each of its records, and once the failures stop every valid record of every day is
in the orders table exactly once, or counted in quarantine.

A run here is what the state machine runs, in its order, in this process against the session's emulator:
BeginRun (``tracking.begin_run``), Extract (``extract.extract_run``), Load (``glue_jobs/load_orders.py``'s
``main`` on the session's SparkSession, skipped when nothing was staged, as HasWork does) and TrackResult
(``tracking.track_result``). Running the deployed stack instead takes about ten seconds a run.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from etl.operations import SAMPLE_CATALOG
from pipeline import layout
from pipeline.config import Config
from pipeline.contract import Order
from pipeline.extract import DrainPolicy, extract_run
from pipeline.generator import Expected, OrderFile, load_products
from pipeline.run_store import RunStore
from pipeline.runs import Counts, RunStatus
from pipeline.staging import StagedRecord, decode_lines
from pipeline.tracking import begin_run, queue_depth, track_result
from tests.generated_orders import expected_orders, generate
from tests.glue.test_load_orders_job import items

pytestmark = pytest.mark.spark

SCRIPT = Path(__file__).resolve().parents[2] / "glue_jobs" / "load_orders.py"
FIRST_DAY = date(2026, 12, 1)
PRODUCTS = load_products(SAMPLE_CATALOG)

LoadJob = Callable[[list[str]], Any]


@pytest.fixture(scope="module")
def load_job(spark, emulator) -> Iterator[LoadJob]:
    """The Glue entry script's ``main``, run in this process on the session's SparkSession.

    The driver and Spark's Python workers (which read the chunks and write DynamoDB) talk to the emulator;
    the job's ``spark.stop()`` leaves the shared session running.
    """
    spec = importlib.util.spec_from_file_location("load_orders_in_process", SCRIPT)
    assert spec and spec.loader
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.env.items():
            if name.startswith("AWS_"):
                patch.setenv(name, value)
                # Python functions carry the context's environment to the workers they run in.
                patch.setitem(spark.sparkContext.environment, name, value)
        patch.setattr(job, "build_session", lambda: spark)
        patch.setattr(spark, "stop", lambda: None)
        yield job.main


@dataclass(frozen=True)
class Pipeline:
    """One deployment's tables, buckets and queues on the emulator, under names of its own."""

    config: Config
    store: RunStore
    s3: Any
    sqs: Any

    def drop_file(self, day: date, text: str) -> None:
        key = f"{layout.orders_prefix(day)}orders.csv"
        self.s3.put_object(Bucket=self.config.landing_bucket, Key=key, Body=text.encode("utf-8"))

    def run(self, load: LoadJob, day: date, write_attempts: int) -> dict[str, Any]:
        """One daily run, state by state; TrackResult's answer."""
        execution_arn = f"arn:aws:states:us-east-1:123456789012:execution:etl:{day}-{uuid.uuid4().hex[:8]}"
        event = {"input": {"run_date": day.isoformat()}, "execution_arn": execution_arn}
        run = begin_run(self.store, event)["run"]
        extract = extract_run(self.config, self.s3, self.sqs, run, drain=DrainPolicy(wait_seconds=0))
        if extract.staged_records > 0:
            config = self.config
            arguments = {
                "--JOB_NAME": "load_orders",
                "--JOB_RUN_ID": f"jr_{uuid.uuid4().hex[:12]}",
                "--run_id": run["run_id"],
                "--run_date": run["run_date"],
                "--manifest_key": extract.manifest_key,
                "--staging_bucket": config.staging_bucket,
                "--orders_table": config.orders_table,
                "--max_write_attempts": str(write_attempts),
            }
            load([str(SCRIPT), *(part for pair in arguments.items() for part in pair)])
        return track_result(
            self.config, self.store, self.s3, self.sqs, {"run": run, "extract": extract.as_dict()}
        )

    def quarantined(self, key: str) -> list[StagedRecord]:
        body = self.s3.get_object(Bucket=self.config.staging_bucket, Key=key)["Body"].read()
        return [StagedRecord.from_json(line) for line in decode_lines(body)]


def new_pipeline(emulator, chunk_rows: int) -> Pipeline:
    suffix = uuid.uuid4().hex[:10]
    dynamodb, s3, sqs = emulator.client("dynamodb"), emulator.client("s3"), emulator.client("sqs")
    for table, key in ((f"runs-{suffix}", "run_date"), (f"orders-{suffix}", "order_id")):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    for bucket in (f"landing-{suffix}", f"staging-{suffix}"):
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(SAMPLE_CATALOG), f"landing-{suffix}", layout.CATALOG_KEY)
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq_url = sqs.create_queue(QueueName=f"retry-dlq-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    retry_url = sqs.create_queue(QueueName=f"retry-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    config = Config(
        runs_table=f"runs-{suffix}",
        orders_table=f"orders-{suffix}",
        landing_bucket=f"landing-{suffix}",
        staging_bucket=f"staging-{suffix}",
        retry_queue_url=retry_url,
        retry_dlq_url=dlq_url,
        status_topic_arn="arn:aws:sns:us-east-1:123456789012:unused",
        chunk_rows=chunk_rows,
    )
    return Pipeline(config, RunStore(dynamodb, config.runs_table), s3, sqs)


@dataclass(frozen=True)
class Day:
    """One day's partner file, and the share of BatchWriteItem items left unprocessed during its run."""

    rows: int
    bad_rate: float
    seed: int
    unprocessed: float
    fault_seed: int


days_strategy = st.lists(
    st.builds(
        Day,
        rows=st.integers(0, 40),
        bad_rate=st.sampled_from([0.0, 0.1, 0.3, 0.7]),
        seed=st.integers(0, 100_000),
        unprocessed=st.one_of(st.just(0.0), st.sampled_from([0.3, 0.6, 0.9, 1.0])),
        fault_seed=st.integers(0, 100_000),
    ),
    min_size=1,
    max_size=3,
)


def assert_balanced(pipeline: Pipeline, day: date, result: dict[str, Any]) -> Counts:
    """The identity holds for the run, and the run's item records exactly what TrackResult answered."""
    counts = Counts.from_dict(result["counts"])
    assert counts.extracted + counts.retried_in == (
        counts.loaded
        + counts.rejected
        + counts.queued_for_retry
        + counts.quarantined
        + counts.duplicates_dropped
    ), counts
    item = pipeline.store.get(day.isoformat())
    assert item is not None
    assert (item["status"], item["counts"], item["identity_ok"]) == (result["status"], counts.as_dict(), True)
    return counts


def assert_loaded_as_in_the_file(item: dict[str, Any], order: Order) -> None:
    assert (
        item["order_date"],
        item["customer"],
        item["product_id"],
        item["quantity"],
        item["amount"],
        item["currency"],
    ) == (
        order.order_date.isoformat(),
        order.customer,
        order.product_id,
        Decimal(order.quantity),
        order.amount,
        order.currency,
    )


def quarantined_ids(pipeline: Pipeline, result: dict[str, Any]) -> set[str]:
    """The order ids in the run's quarantine object, each at its last attempt."""
    if not result["counts"]["quarantined"]:
        return set()
    records = pipeline.quarantined(result["quarantine_key"])
    assert all(record.origin.attempt == pipeline.config.max_attempts for record in records)
    ids = {record.raw["order_id"] for record in records}
    assert len(ids) == len(records) == result["counts"]["quarantined"]
    return ids


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days=days_strategy, write_attempts=st.integers(1, 3), chunk_rows=st.integers(5, 60))
@example(  # no write gets in for three nights: the first night's records are quarantined on the third
    days=[Day(rows=12, bad_rate=0.3, seed=5, unprocessed=1.0, fault_seed=1)] * 3,
    write_attempts=1,
    chunk_rows=5,
)
def test_every_run_balances_and_every_valid_record_ends_loaded_once_or_quarantined(
    emulator, load_job, days, write_attempts, chunk_rows
):
    pipeline = new_pipeline(emulator, chunk_rows)
    max_attempts = pipeline.config.max_attempts
    expected: dict[str, Order] = {}
    # The model the runs are checked against, from the files and the orders table alone: a record that is
    # staged and not written has failed once more; at max_attempts failures it is quarantined, before
    # that it waits for the next run.
    failures: Counter[str] = Counter()
    waiting: set[str] = set()
    quarantined: set[str] = set()
    loaded_by_run: dict[str, int] = {}

    def run(
        day: date, file: OrderFile | None, file_orders: set[str], unprocessed: float, seed: int
    ) -> Counts:
        nonlocal waiting
        staged = waiting | file_orders
        if unprocessed:
            emulator.control.set_faults(dynamodb_unprocessed=unprocessed, seed=seed)
        try:
            result = pipeline.run(load_job, day, write_attempts)
        finally:
            emulator.control.clear_faults()

        counts = assert_balanced(pipeline, day, result)
        fresh = file.expected if file else Expected()
        assert (counts.extracted, counts.retried_in) == (fresh.rows, len(waiting))
        assert (counts.rejected, counts.duplicates_dropped) == (
            sum(fresh.rejected.values()),
            fresh.duplicates_dropped,
        )
        stored = set(items(emulator, pipeline.config.orders_table))
        failed = staged - stored
        failures.update(failed)
        quarantined_now = {order_id for order_id in failed if failures[order_id] == max_attempts}
        assert counts.loaded == len(staged & stored)
        assert quarantined_ids(pipeline, result) == quarantined_now
        waiting = failed - quarantined_now
        assert counts.queued_for_retry == result["retry_backlog"] == len(waiting)
        if unprocessed == 0:
            assert failed == set()
        quarantined.update(quarantined_now)
        assert result["quarantine_total"] == len(quarantined)
        loaded_by_run[result["run"]["run_id"]] = counts.loaded
        return counts

    for number, plan in enumerate(days):
        day = FIRST_DAY + timedelta(days=number)
        file, text = generate(PRODUCTS, day, rows=plan.rows, bad_rate=plan.bad_rate, seed=plan.seed)
        pipeline.drop_file(day, text)
        file_orders = expected_orders(text, PRODUCTS)
        expected |= file_orders
        run(day, file, set(file_orders), plan.unprocessed, plan.fault_seed)

    # A night without a file and without faults: whatever still waits for a retry is loaded.
    last_waiting = len(waiting)
    day = FIRST_DAY + timedelta(days=len(days))
    counts = run(day, None, set(), 0.0, 0)
    assert counts == Counts(retried_in=last_waiting, loaded=last_waiting)
    final_status = pipeline.store.get(day.isoformat())["status"]
    assert final_status == (RunStatus.SUCCEEDED if last_waiting else RunStatus.NO_DATA)
    assert waiting == set()
    assert queue_depth(pipeline.sqs, pipeline.config.retry_queue_url) == 0

    stored = items(emulator, pipeline.config.orders_table)
    assert not set(stored) & quarantined
    assert set(stored) | quarantined == set(expected)
    for order_id, item in stored.items():
        assert_loaded_as_in_the_file(item, expected[order_id])
    # Each item names the run that wrote it: a record written by two runs would leave the first one short.
    written_by = dict.fromkeys(loaded_by_run, 0)
    for item in stored.values():
        written_by[item["run_id"]] += 1
    assert written_by == loaded_by_run
