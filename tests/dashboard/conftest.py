"""Fixtures of the dashboard tests: a runs table in moto seeded with known runs, a fake Redash, Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from dashboard import definitions
from tests.dashboard.fake_redash import FakeRedash
from tests.dashboard.headless_chromium import ChromiumMissingError, find_chromium
from tests.dashboard.seed_runs import AS_OF, REGION, RUNS, RUNS_TABLE, as_dynamodb


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with credentials that can reach nothing real."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def runs_table(aws: None) -> str:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=RUNS_TABLE,
        KeySchema=[{"AttributeName": "run_date", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_date", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb", region_name=REGION).Table(RUNS_TABLE)
    for run in RUNS:
        table.put_item(Item=as_dynamodb(run))
    return RUNS_TABLE


@pytest.fixture
def settings(runs_table: str) -> definitions.Settings:
    return definitions.Settings(runs_table=runs_table, region=REGION, as_of=AS_OF)


@pytest.fixture(scope="session")
def definition() -> definitions.DashboardDefinition:
    return definitions.load()


@pytest.fixture
def redash() -> Iterator[FakeRedash]:
    server = FakeRedash().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    try:
        return find_chromium()
    except ChromiumMissingError as error:
        pytest.fail(str(error), pytrace=False)
