"""TrackResult: account for every record of the run, queue or quarantine the failed ones, record the outcome."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.run_store import RunStore
from pipeline.tracking import track_result

logger = Logger()


@cache
def _services() -> tuple[Config, RunStore, Any, Any]:
    # Built on the first invocation and kept while the environment stays warm.
    config = Config.from_env()
    return (
        config,
        RunStore(boto3.client("dynamodb"), config.runs_table),
        boto3.client("s3"),
        boto3.client("sqs"),
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, store, s3, sqs = _services()
    result = track_result(config, store, s3, sqs, event)
    logger.info("run tracked", extra={"status": result["status"], "counts": result["counts"]})
    return result
