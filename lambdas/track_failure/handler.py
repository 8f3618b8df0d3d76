"""The failure tracker. Three events:

- RecordFailure's (``{"state", "execution_arn", "started_at"}``, from the state machine's Catch clauses):
  record the run FAILED with its cause in words, release the lock, put its drained retries back; the
  state machine's NotifyFailure sends the email.
- An execution's end (``{"execution_end": the EventBridge status-change event, "timeout_seconds"}``, from
  the rule on the state machine's FAILED, TIMED_OUT and ABORTED executions): the same, unless the run was
  already recorded for that execution, and the failure email (pipeline.notification.notify sends each
  outcome's email once).
- The missed-run check (``{"missed_run_check": {"time", "hour_utc"}}``, from its scheduled rule): email when
  the day has no run recorded by then.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.execution_end import end_execution, is_execution_end, is_missed_run_check, run_missed_run_check
from pipeline.run_store import RunStore
from pipeline.tracking import record_failure, requeue_retried_after_failure

logger = Logger()


@cache
def _config() -> Config:
    return Config.from_env()


@cache
def _client(service: str) -> Any:
    # Built on the first invocation and kept while the environment stays warm.
    return boto3.client(service)


def _store() -> RunStore:
    return RunStore(_client("dynamodb"), _config().runs_table)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_missed_run_check(event):
        return _missed_run_check(event)
    if is_execution_end(event):
        return _execution_end(event)
    result = record_failure(_store(), event)
    # An outcome TrackResult recorded was accounted for: its retried records were loaded or routed.
    result["requeued"] = (
        0
        if result["tracked"]
        else requeue_retried_after_failure(_config(), _client("s3"), _client("sqs"), result["run"]["run_id"])
    )
    logger.error("run failed", extra={"error": result["error"], "recorded": result["recorded"]})
    return result


def _execution_end(event: dict[str, Any]) -> dict[str, Any]:
    result = end_execution(
        _config(), _store(), _client("s3"), _client("sqs"), _client("sns"), _client("stepfunctions"), event
    )
    logger.error(
        "execution ended",
        extra={
            "execution": result["execution_arn"],
            "status": result["execution_status"],
            **{k: result[k] for k in ("recorded", "owned", "tracked", "requeued", "notified")},
        },
    )
    return result


def _missed_run_check(event: dict[str, Any]) -> dict[str, Any]:
    result = run_missed_run_check(_config(), _store(), _client("sns"), event)
    if result["message_id"] is None:
        logger.info("run recorded", extra={"run_date": result["run_date"]})
    else:
        logger.error("run missed", extra={"run_date": result["run_date"], "status": result["status"]})
    return result
