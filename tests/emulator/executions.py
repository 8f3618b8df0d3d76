"""Waiting for the executions the emulator's tests start."""

from __future__ import annotations

import time
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def finish(emulator, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    """DescribeExecution once the execution has ended, or as it is when ``timeout`` seconds have passed."""
    sfn = emulator.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL or time.monotonic() > deadline:
            return described
        time.sleep(0.1)
