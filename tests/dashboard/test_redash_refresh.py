"""refresh_dashboard: what the refresh_dashboard Lambda calls after each run's email, with the API key in SSM
Parameter Store."""

from __future__ import annotations

import boto3
import pytest

from dashboard.definitions import Settings
from dashboard.publish import publish
from pipeline.config import Config
from pipeline.redash import RedashClient, refresh_dashboard
from tests.dashboard.seed_runs import REGION

PARAMETER = "/nightly-etl/prod/redash-api-key"


def config(**overrides) -> Config:
    values = {
        "runs_table": "prod-etl-runs",
        "orders_table": "prod-orders",
        "landing_bucket": "landing",
        "staging_bucket": "staging",
        "retry_queue_url": "https://sqs/retry",
        "retry_dlq_url": "https://sqs/dlq",
        "status_topic_arn": "arn:aws:sns:eu-west-1:123456789012:status",
        "environment": "prod",
    }
    return Config(**(values | overrides))


@pytest.fixture
def ssm(aws, redash):
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name=PARAMETER, Value=redash.api_key, Type="SecureString")
    return client


@pytest.fixture
def published(redash, definition):
    result = publish(
        RedashClient(redash.url, redash.api_key),
        definition,
        Settings("prod-etl-runs", REGION),
        "prod",
        refresh=False,
    )
    return result


def test_it_refreshes_every_query_of_the_environments_dashboard(redash, ssm, published):
    outcome = refresh_dashboard(config(redash_url=redash.url, redash_api_key_parameter=PARAMETER), ssm)
    assert outcome.status == "refreshed"
    assert outcome.dashboard_ids == [published.dashboard_id]
    assert sorted(outcome.query_ids) == sorted(published.query_ids.values())
    assert sorted(redash.executed) == sorted((q, 0) for q in published.query_ids.values())


def test_it_does_nothing_when_redash_is_not_configured(redash, ssm, published):
    outcome = refresh_dashboard(config(), ssm)
    assert outcome.status == "skipped"
    assert redash.executed == [] and redash.requests[-1][1] != "/api/dashboards"


def test_a_wrong_key_fails_the_refresh_not_the_run(redash, aws, published):
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name=PARAMETER, Value="stale-key", Type="SecureString")
    outcome = refresh_dashboard(config(redash_url=redash.url, redash_api_key_parameter=PARAMETER), client)
    assert outcome.status == "failed" and "404" in outcome.message and redash.executed == []


def test_a_missing_parameter_fails_the_refresh_not_the_run(redash, aws):
    outcome = refresh_dashboard(
        config(redash_url=redash.url, redash_api_key_parameter="/missing"),
        boto3.client("ssm", region_name=REGION),
    )
    assert outcome.status == "failed" and "ParameterNotFound" in outcome.message


def test_an_unpublished_environment_is_reported(redash, ssm, published):
    outcome = refresh_dashboard(
        config(redash_url=redash.url, redash_api_key_parameter=PARAMETER, environment="dev"), ssm
    )
    assert outcome.status == "failed"
    assert "run `etl dashboard publish --env dev`" in outcome.message


def test_an_unreachable_redash_fails_the_refresh_not_the_run(ssm):
    outcome = refresh_dashboard(
        config(redash_url="http://127.0.0.1:9", redash_api_key_parameter=PARAMETER), ssm, timeout=2
    )
    assert outcome.status == "failed" and "cannot reach Redash" in outcome.message


def test_a_refresh_out_of_time_sends_no_request_and_fails(redash, ssm, published):
    outcome = refresh_dashboard(
        config(redash_url=redash.url, redash_api_key_parameter=PARAMETER), ssm, budget_seconds=0
    )
    assert outcome.status == "failed"
    assert outcome.message == (
        "Redash refresh failed: RedashError: GET /api/dashboards: not sent, the refresh ran out of time"
    )
    assert redash.executed == []
