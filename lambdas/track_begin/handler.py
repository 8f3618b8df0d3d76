"""BeginRun: claim the execution's run date (the run lock) and hand the run to the next states.

A date held by an execution that no longer runs (stopped, timed out) is taken over: Step Functions'
DescribeExecution tells the holder's status.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import Config
from pipeline.run_store import RunStore
from pipeline.tracking import begin_run, execution_holder

logger = Logger()


@cache
def _store() -> RunStore:
    # Built on the first invocation and kept while the environment stays warm.
    return RunStore(boto3.client("dynamodb"), Config.from_env().runs_table)


@cache
def _stepfunctions() -> Any:
    return boto3.client("stepfunctions")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = begin_run(_store(), event, holder_check=partial(execution_holder, _stepfunctions()))
    logger.info("run claimed", extra={"run": result["run"]})
    return result
