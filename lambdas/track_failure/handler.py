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

from dataclasses import replace
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from pipeline import layout
from pipeline.config import Config
from pipeline.execution_end import (
    ExecutionEnd,
    check_missed_run,
    is_execution_end,
    is_missed_run_check,
    last_state_entered,
    record_execution_end,
    started_input,
)
from pipeline.notification import notify
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
    end = ExecutionEnd.from_event(event)
    if end.execution_input is None:
        end = replace(end, execution_input=started_input(_client("stepfunctions"), end.execution_arn))
    result = record_execution_end(_store(), end, _state_at_end(end.execution_arn))
    run = result["run"]
    result["requeued"] = 0
    result["notified"] = None
    if run is None:
        logger.warning(
            "execution end without a run date: nothing recorded", extra={"execution": end.execution_arn}
        )
        return result
    # A run another execution took over is requeued only when it never reached its load (it cannot have
    # been tracked then); its email is that execution's to send.
    reached_load = _exists(layout.report_key(run["run_id"]))
    if not result["tracked"] and (result["owned"] or not reached_load):
        result["requeued"] = requeue_retried_after_failure(
            _config(), _client("s3"), _client("sqs"), run["run_id"]
        )
    if result["owned"]:
        sent = notify(_config(), _store(), _client("s3"), _client("sns"), {"run": run, "result": result})
        result["notified"] = sent["sent"]
    logger.error(
        "execution ended",
        extra={
            "execution": end.execution_arn,
            "status": end.status,
            **{k: result[k] for k in ("recorded", "owned", "tracked", "requeued", "notified")},
        },
    )
    return result


def _state_at_end(execution_arn: str) -> str | None:
    try:
        return last_state_entered(_client("stepfunctions"), execution_arn)
    except ClientError as error:
        # The end is recorded all the same, without the state's name.
        logger.warning("execution history unreadable", extra={"error": str(error)})
        return None


def _exists(key: str) -> bool:
    try:
        _client("s3").head_object(Bucket=_config().staging_bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _missed_run_check(event: dict[str, Any]) -> dict[str, Any]:
    run_date, missed = check_missed_run(_store(), event)
    if missed is None:
        logger.info("run recorded", extra={"run_date": run_date})
        return {"check": "missed_run", "run_date": run_date, "status": "RECORDED", "message_id": None}
    answer = _client("sns").publish(
        TopicArn=_config().status_topic_arn, Subject=missed.subject, Message=missed.body
    )
    logger.error("run missed", extra={"run_date": run_date, "status": missed.status})
    return {
        "check": "missed_run",
        "run_date": run_date,
        "status": missed.status,
        "message_id": answer["MessageId"],
    }
