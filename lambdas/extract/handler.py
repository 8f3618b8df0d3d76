"""Extract: stream the day's order files and the retry queue into staging chunks and a manifest.

Event: ``{"run": {"run_id", "run_date", ...}}`` from BeginRun. Answer: ``ExtractResult.as_dict()``
(counts and S3 keys). Errors are the typed ones of pipeline.sources and pipeline.extract; the state
machine matches on their class names.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.extract import extract_run

logger = Logger(service="etl-extract")
# The pipeline modules log through the standard library; give them the same JSON format and correlation id.
copy_config_to_registered_loggers(source_logger=logger, include={"pipeline"})
config = Config.from_env()
s3 = boto3.client("s3")
sqs = boto3.client("sqs")


@logger.inject_lambda_context(correlation_id_path="run.run_id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = extract_run(config, s3, sqs, event["run"]).as_dict()
    logger.info("extracted", extra=result)
    return result
