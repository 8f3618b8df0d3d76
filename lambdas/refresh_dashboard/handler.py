"""RefreshDashboard: ask Redash (when configured) to refresh the dashboard, and record what it did in the run.

A state of its own after the status email, so that a slow or broken Redash never holds up, repeats or fails
the email or the run: every problem ends as ``dashboard_refresh: {status: failed, message}`` in the run's
item. The requests stop ``MARGIN_SECONDS`` before the function's own timeout, so the outcome is recorded
even when Redash never answers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.redash import refresh_dashboard
from pipeline.run_store import Run, RunStore
from pipeline.tracking import iso, utc_now

logger = Logger()

# Left of the function's time for recording the outcome once the requests have stopped.
MARGIN_SECONDS = 2.0


@cache
def _services() -> tuple[Config, RunStore]:
    # Built on the first invocation and kept while the environment stays warm.
    config = Config.from_env()
    return config, RunStore(boto3.client("dynamodb"), config.runs_table)


@cache
def _ssm() -> Any:
    # Made only when a dashboard is configured: most deployments have none.
    return boto3.client("ssm")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``event`` is ``{"state": the execution's state}``; answers the outcome and whether the run's item
    recorded it."""
    config, store = _services()
    budget = max(context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS, 0.0)
    ssm = _ssm() if config.redash_url and config.redash_api_key_parameter else None
    outcome = refresh_dashboard(config, ssm, budget_seconds=budget)
    run = run_of(event.get("state") or {})
    recorded = False
    if run.get("run_date") and run.get("run_id"):
        record = outcome.as_record(iso(utc_now()))
        recorded = store.record_follow_up(Run.from_dict(run), "dashboard_refresh", record)
    answer = {**outcome.as_dict(), "recorded": recorded}
    # "message" is a reserved LogRecord attribute: the outcome goes under a key of its own.
    logger.info("dashboard refresh", extra={"dashboard_refresh": answer})
    return answer


def run_of(state: dict[str, Any]) -> dict[str, Any]:
    """The run in the state: TrackResult's or RecordFailure's answer names it, else BeginRun's; {} when the
    execution stopped before either (BeginRun failed and RecordFailure could not run)."""
    for result in ("result", "begin"):
        run = ((state.get(result) or {}).get("value") or {}).get("run")
        if run:
            return run
    return {}
