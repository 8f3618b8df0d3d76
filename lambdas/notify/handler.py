"""Notify: publish the run's status email to the status topic, once per outcome (see pipeline.notification).

Two events: ``{"run", "result"}`` (Notify, NotifyFailure, the failure tracker) publishes the email;
``{"run", "notify_error"}`` (RecordNotifyError, after Notify's retries ran out) records why it could not be
sent beside the run's outcome. The dashboard refresh is a state of its own (lambdas/refresh_dashboard).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.notification import notify, record_notify_error
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
    if "notify_error" in event:
        recorded = record_notify_error(store, event)
        logger.error("status email not sent", extra=recorded)
        return recorded
    result = notify(config, store, s3, sns, event)
    logger.info("status published" if result["sent"] else "status email already sent", extra=result)
    return result
