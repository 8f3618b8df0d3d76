"""Unit-test fixtures: AWS in-process (moto), the pipeline's resources created as Terraform would, a clock
that only moves when told, and the Lambda handlers loaded from their folders as the runtime loads them."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline import layout
from pipeline.config import Config
from pipeline.report import Aggregates, LoadReport, ReasonSummary
from pipeline.run_store import RunStore
from pipeline.staging import Origin, StagedRecord, encode_lines
from pipeline.tracking import begin_run

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
REGION = "us-east-1"


@dataclass
class Aws:
    config: Config
    dynamodb: Any
    s3: Any
    sqs: Any
    sns: Any
    store: RunStore
    email_queue_url: str  # an SQS queue subscribed to the status topic: what the emails would say

    def queue_messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message in a queue, received and left invisible so one call sees each message once."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=600,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return messages
            messages += batch

    def emails(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.queue_messages(self.email_queue_url)]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.config.staging_bucket, Key=key)["Body"].read()

    def fetch(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The tables, buckets, queues and topic of one deployment, and the environment the Lambdas get."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "nightly-etl",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        for table, key in (("nightly-etl-etl-runs", "run_date"), ("nightly-etl-orders", "order_id")):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for bucket in ("nightly-etl-landing", "nightly-etl-staging"):
            s3.create_bucket(Bucket=bucket)
        fifo = {"FifoQueue": "true"}
        dlq_url = sqs.create_queue(QueueName="nightly-etl-retry-dlq.fifo", Attributes=fifo)["QueueUrl"]
        retry_url = sqs.create_queue(QueueName="nightly-etl-retry.fifo", Attributes=fifo)["QueueUrl"]
        topic_arn = sns.create_topic(Name="nightly-etl-status")["TopicArn"]
        email_url = sqs.create_queue(QueueName="status-emails")["QueueUrl"]
        email_arn = sqs.get_queue_attributes(QueueUrl=email_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=email_arn)
        config = Config(
            runs_table="nightly-etl-etl-runs",
            orders_table="nightly-etl-orders",
            landing_bucket="nightly-etl-landing",
            staging_bucket="nightly-etl-staging",
            retry_queue_url=retry_url,
            retry_dlq_url=dlq_url,
            status_topic_arn=topic_arn,
            max_attempts=3,
        )
        for field in fields(Config):
            monkeypatch.setenv(field.name.upper(), str(getattr(config, field.name)))
        yield Aws(config, dynamodb, s3, sqs, sns, RunStore(dynamodb, config.runs_table), email_url)


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 22, 6, 0, 1, 250000, tzinfo=UTC))


@dataclass
class FakeLambdaContext:
    function_name: str = "nightly-etl-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:nightly-etl-test"
    aws_request_id: str = "5f1c1e0e-4f2b-4c4e-9d35-0a6c1b2f3e4d"
    log_group_name: str = "/aws/lambda/nightly-etl-test"
    log_stream_name: str = "2026/11/22/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_handler() -> Callable[[str], ModuleType]:
    """A Lambda's handler module, loaded fresh from lambdas/<name>/handler.py (no state from other tests)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"lambda_{name}_handler", LAMBDAS / name / "handler.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


# --- a run's data as the extract and the load leave it ------------------------------------------

RUN_DATE = "2026-11-22"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22"
STARTED_AT = "2026-11-22T06:00:00.000Z"
SOURCE = "s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv"


def order(order_id: str, **overrides: str) -> dict[str, str]:
    row = {
        "order_id": order_id,
        "order_date": RUN_DATE,
        "customer": "Ada Lovelace",
        "product_id": "P-100",
        "quantity": "2",
        "amount": "19.90",
        "currency": "EUR",
    }
    return {**row, **overrides}


def fresh_record(order_id: str, line: int) -> StagedRecord:
    return StagedRecord(raw=order(order_id), origin=Origin(kind="file", source=SOURCE, line=line))


def retried_record(order_id: str, attempt: int, first_failed_run: str) -> StagedRecord:
    return StagedRecord(
        raw=order(order_id),
        origin=Origin(
            kind="retry",
            source=first_failed_run,
            line=7,
            attempt=attempt,
            first_failed_run=first_failed_run,
            last_error="ProvisionedThroughputExceededException",
        ),
    )


def put_load_output(
    aws: Any, run_id: str, report: LoadReport, failed: list[tuple[StagedRecord, str]]
) -> None:
    """Write what the Glue job writes: the failed parts (records plus their write error) and report.json."""
    if failed:
        key = layout.partition_key(layout.failed_prefix(run_id), 0)
        lines = [json.dumps({**json.loads(r.to_json()), "error": error}) for r, error in failed]
        aws.s3.put_object(Bucket=aws.config.staging_bucket, Key=key, Body=encode_lines(lines))
        report.failed_keys = [key]
    aws.s3.put_object(Bucket=aws.config.staging_bucket, Key=layout.report_key(run_id), Body=report.to_json())


def sample_report(run_id: str, **overrides: Any) -> LoadReport:
    """A load of 12 staged records: 5 loaded, 4 rejected, 3 failed to write."""
    values: dict[str, Any] = {
        "run_id": run_id,
        "run_date": RUN_DATE,
        "job_run_id": "jr_0123456789abcdef",
        "staged": 12,
        "loaded": 5,
        "rejected": 4,
        "failed": 3,
        "duplicates_dropped": 0,
        "rejection_reasons": {
            "unknown_product": ReasonSummary(3, ["O-7 (row 7 of orders.csv)", "O-8 (row 8 of orders.csv)"]),
            "negative_amount": ReasonSummary(1, ["O-9 (row 9 of orders.csv)"]),
        },
        "failure_errors": {
            "ProvisionedThroughputExceededException": ReasonSummary(3, ["O-1", "O-2", "O-old"]),
        },
        "rejected_prefix": layout.rejected_prefix(run_id),
        "failed_prefix": layout.failed_prefix(run_id),
        "aggregates": Aggregates(
            orders=5,
            quantity=10,
            revenue={"EUR": "99.50"},
            by_category={"books": {"orders": 5, "revenue": {"EUR": "99.50"}}},
        ),
        "duration_s": 42.5,
    }
    values.update(overrides)
    return LoadReport(**values)


@pytest.fixture
def run_data() -> SimpleNamespace:
    """The run's constants and the builders of its records and load output."""
    return SimpleNamespace(
        RUN_DATE=RUN_DATE,
        EXECUTION_ARN=EXECUTION_ARN,
        STARTED_AT=STARTED_AT,
        SOURCE=SOURCE,
        order=order,
        fresh_record=fresh_record,
        retried_record=retried_record,
        put_load_output=put_load_output,
        sample_report=sample_report,
    )


@pytest.fixture
def run(aws: Aws, clock: Clock) -> dict[str, Any]:
    """The run of RUN_DATE, begun by BeginRun: its execution holds the date's lock."""
    begun = begin_run(
        aws.store,
        {"input": {"run_date": RUN_DATE}, "execution_arn": EXECUTION_ARN, "started_at": STARTED_AT},
        clock,
    )
    clock.advance(1)
    return begun["run"]
