"""Fixtures and helpers for end-to-end tests: the deployed pipeline driven as an operator drives it."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from collections.abc import Iterator
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr

from etl import operations
from etl.stack import Stack, StackOutputs
from pipeline import layout

from ..conftest import DeployedStack, RunningEmulator


class E2EStack:
    """What etl.operations needs of a Stack, over the session's deployed stack instead of `terraform output`."""

    env = "local"
    # What `etl` commands that do the work themselves (requeue) run with: the deployed functions' config.
    pipeline_config = Stack.pipeline_config

    def __init__(self, deployed: DeployedStack):
        self.deployed = deployed
        self.emulator: RunningEmulator = deployed.emulator
        self.outputs = StackOutputs(**{f.name: deployed.outputs[f.name] for f in fields(StackOutputs)})
        self.is_local = True
        self._resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def client(self, service: str) -> Any:
        return self.deployed.client(service)

    def table(self, name: str) -> Any:
        return self._resource.Table(name)

    # --- helpers for assertions -------------------------------------------------------------------

    def run_scheduled(self, run_date: date) -> tuple[operations.StartedRun, dict[str, Any]]:
        started = operations.fire_schedule(self, operations.scheduled_time(run_date))
        return started, operations.wait(self, started.execution_arn, timeout_seconds=600)

    def run_direct(self, run_date: date) -> tuple[operations.StartedRun, dict[str, Any]]:
        started = operations.start_run(self, run_date)
        return started, operations.wait(self, started.execution_arn, timeout_seconds=600)

    def run_item(self, run_date: date) -> dict[str, Any]:
        item = operations.run_item(self, run_date)
        assert item is not None, f"no run item for {run_date}"
        return item

    def orders(self, run_date: date | None = None) -> dict[str, dict[str, Any]]:
        """Orders by order_id: all of them, or those loaded for ``run_date``."""
        table = self.table(self.outputs.orders_table_name)
        kwargs: dict[str, Any] = {}
        if run_date is not None:
            kwargs["FilterExpression"] = Attr("run_date").eq(run_date.isoformat())
        items: list[dict[str, Any]] = []
        while True:
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return {item["order_id"]: operations._plain(item) for item in items}

    def staged_lines(self, prefix: str) -> list[dict[str, Any]]:
        """The JSON lines of every part file under ``prefix`` in the staging bucket."""
        s3 = self.client("s3")
        bucket = self.outputs.staging_bucket_name
        rows: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                if obj["Key"].endswith(".gz"):
                    body = gzip.decompress(body)
                rows += [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        return rows

    def emails(self, run_date: date) -> list[email.message.EmailMessage]:
        """Status emails about ``run_date`` from the outbox, oldest first."""
        found = []
        for message in self.emulator.control.outbox():
            if run_date.isoformat() in message.get("subject", ""):
                raw = Path(message["path"]).read_bytes()
                found.append(email.message_from_bytes(raw, policy=email.policy.default))
        return found

    def put_landing(self, run_date: date, name: str, body: bytes) -> None:
        s3 = self.client("s3")
        s3.put_object(
            Bucket=self.outputs.landing_bucket_name, Key=f"{layout.orders_prefix(run_date)}{name}", Body=body
        )
        s3.upload_file(str(operations.SAMPLE_CATALOG), self.outputs.landing_bucket_name, layout.CATALOG_KEY)


def email_text(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


@pytest.fixture
def stack(deployed_stack: DeployedStack) -> Iterator[E2EStack]:
    """The deployed pipeline; emulator faults are cleared after each test whatever it did."""
    e2e = E2EStack(deployed_stack)
    e2e.emulator.control.clear_faults()
    try:
        yield e2e
    finally:
        e2e.emulator.control.clear_faults()
