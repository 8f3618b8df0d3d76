"""The refresh_dashboard Lambda: the dashboard refresh as a state of its own, its outcome recorded in the run,
never longer than the function's own time, whatever Redash does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from pipeline.run_store import Run
from pipeline.runs import RunStatus

PARAMETER = "/nightly-etl/local/redash-api-key"


@dataclass
class Context:
    """A Lambda context with a chosen time left."""

    remaining_ms: int
    function_name: str = "nightly-etl-refresh-dashboard"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:nightly-etl-refresh-dashboard"
    aws_request_id: str = "0c9f6a8e-2a43-4d1f-9b8e-4d9d3f1c2b7a"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def silent_redash() -> Iterator[str]:
    """A Redash URL whose server accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def configure(monkeypatch, url: str) -> None:
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value="k" * 40, Type="SecureString")
    monkeypatch.setenv("REDASH_URL", url)
    monkeypatch.setenv("REDASH_API_KEY_PARAMETER", PARAMETER)


def tracked(aws, run):
    aws.store.finish(
        Run.from_dict(run),
        RunStatus.SUCCEEDED,
        {"counts": {"loaded": 5}},
        "2026-11-22T06:04:07.600Z",
    )
    return aws.store.get(run["run_date"])


def test_without_redash_the_refresh_is_skipped_and_says_so_in_the_run(aws, run, load_handler):
    before = tracked(aws, run)

    answer = load_handler("refresh_dashboard").lambda_handler(
        {"state": {"begin": {"value": {"run": run}}, "result": {"value": {"run": run}}}}, Context(60_000)
    )

    assert (answer["status"], answer["recorded"]) == ("skipped", True)
    item = aws.store.get(run["run_date"])
    refresh = item.pop("dashboard_refresh")
    assert item == before
    assert refresh["status"] == "skipped"
    assert refresh["message"] == "no Redash configured (REDASH_URL, REDASH_API_KEY_PARAMETER)"
    assert refresh["finished_at"].endswith("Z")


def test_a_redash_that_never_answers_ends_failed_within_the_functions_time(
    aws, run, load_handler, monkeypatch, silent_redash
):
    tracked(aws, run)
    configure(monkeypatch, silent_redash)

    # 3 s left: the requests get 1 s, the margin stays for recording the outcome.
    answer = load_handler("refresh_dashboard").lambda_handler(
        {"state": {"result": {"value": {"run": run}}}}, Context(3_000)
    )

    assert (answer["status"], answer["recorded"]) == ("failed", True)
    assert answer["message"] == (
        f"Redash refresh failed: RedashError: GET /api/dashboards: cannot reach Redash at {silent_redash} "
        "(timed out)"
    )
    item = aws.store.get(run["run_date"])
    assert item["dashboard_refresh"]["message"] == answer["message"]
    assert (item["status"], item["counts"]) == ("SUCCEEDED", {"loaded": 5})


def test_no_request_starts_once_the_time_is_used_up(aws, run, load_handler, monkeypatch, silent_redash):
    tracked(aws, run)
    configure(monkeypatch, silent_redash)

    answer = load_handler("refresh_dashboard").lambda_handler(
        {"state": {"begin": {"value": {"run": run}}}}, Context(1_500)
    )

    assert answer["message"] == (
        "Redash refresh failed: RedashError: GET /api/dashboards: not sent, the refresh ran out of time"
    )
    assert aws.store.get(run["run_date"])["dashboard_refresh"]["status"] == "failed"


def test_a_state_without_a_run_is_refreshed_but_nothing_is_recorded(aws, load_handler):
    handler = load_handler("refresh_dashboard")

    answer = handler.lambda_handler(
        {"state": {"run_date": "2026-13-45", "failed_state": "BeginRun"}}, Context(60_000)
    )

    assert (answer["status"], answer["recorded"]) == ("skipped", False)
    assert aws.dynamodb.scan(TableName=aws.config.runs_table)["Items"] == []
    assert handler.run_of({"result": {"value": {"run": {"run_id": "r"}}}, "begin": {}}) == {"run_id": "r"}
