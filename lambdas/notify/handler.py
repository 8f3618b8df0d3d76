"""Notify: publish the run's status email to the status topic, then ask Redash (when configured) to refresh."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.notification import notify
from pipeline.redash import refresh_dashboard
from pipeline.run_store import RunStore

logger = Logger()


@cache
def _services() -> tuple[Config, RunStore, Any, Any]:
    # Built on the first invocation and kept while the environment stays warm.
    config = Config.from_env()
    return (
        config,
        RunStore(boto3.client("dynamodb"), config.runs_table),
        boto3.client("s3"),
        boto3.client("sns"),
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, store, s3, sns = _services()
    result = notify(config, store, s3, sns, event)
    logger.info("status published", extra=result)
    # The SSM client is made only when a dashboard is configured: most deployments have none.
    if config.redash_url and config.redash_api_key_parameter:
        outcome = refresh_dashboard(config, boto3.client("ssm"))
        logger.info("dashboard refresh", extra=outcome.as_dict())
    return result
