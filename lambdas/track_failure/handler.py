"""RecordFailure: record the run FAILED with its cause in words, release the lock, answer the notifier."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
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


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = record_failure(RunStore(_client("dynamodb"), _config().runs_table), event)
    result["requeued"] = requeue_retried_after_failure(
        _config(), _client("s3"), _client("sqs"), result["run"]["run_id"]
    )
    logger.error("run failed", extra={"error": result["error"], "recorded": result["recorded"]})
    return result
