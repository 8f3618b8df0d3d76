"""The state machine on aws-local-stepfunctions (tools/asl/run_execution.cjs), its Tasks run on the emulator.

The Node driver interprets the definition and hands every Task attempt here over JSON lines; this module
runs it as Step Functions' service integrations do (AWS documents both):

- ``arn:aws:states:::lambda:invoke``: Invoke the function with the state's Payload; its result is
  ``{ExecutedVersion, Payload, StatusCode}``. A function error fails the task with the error's
  ``errorType`` as its name (``Lambda.Unknown`` without one) and the error payload as its cause; an error
  of the Lambda service itself is ``Lambda.<exception>``.
- ``arn:aws:states:::glue:startJobRun.sync``: StartJobRun, then GetJobRun until the run ends; its result
  is the JobRun. A run that ends otherwise than SUCCEEDED fails the task with ``States.TaskFailed`` and the
  JobRun as its cause; an error of the Glue service is ``Glue.<exception>``.

Requests go out with the operator's credentials, not as the state machine's role (the emulator's own
executions do that).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import ROOT

from .tooling import ASL_MODULES, require

DRIVER = ROOT / "tools" / "asl" / "run_execution.cjs"
GLUE_ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"}


class TaskFailure(Exception):
    """A Task attempt that failed, named as Step Functions names it (what Retry and Catch match)."""

    def __init__(self, name: str, cause: str):
        super().__init__(f"{name}: {cause}")
        self.name = name
        self.cause = cause


@dataclass(frozen=True)
class LocalExecution:
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    output: Any
    error: str | None
    cause: str | None
    events: list[dict[str, Any]]
    tasks: list[tuple[str, str]]  # (state, resource) of every Task attempt, in order

    @property
    def states_entered(self) -> list[str]:
        return [event["state"] for event in self.events if event["type"] == "StateEntered"]


def _jsonable(value: Any) -> Any:
    """An API answer as Step Functions passes it on: timestamps as epoch milliseconds."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _service_error(prefix: str, error: ClientError) -> TaskFailure:
    details = error.response.get("Error", {})
    return TaskFailure(f"{prefix}.{details.get('Code', 'Unknown')}", str(details.get("Message") or error))


class EmulatorTasks:
    """The Task resources the state machine uses, called on the emulator."""

    def __init__(self, lambda_client: Any, glue_client: Any, poll_seconds: float = 0.5):
        self._lambda = lambda_client
        self._glue = glue_client
        self._poll_seconds = poll_seconds
        self._resources: dict[str, Callable[[dict[str, Any], float], Any]] = {
            "arn:aws:states:::lambda:invoke": self.lambda_invoke,
            "arn:aws:states:::glue:startJobRun.sync": self.glue_start_job_run_sync,
        }

    def run(self, resource: str, parameters: dict[str, Any], timeout_seconds: float) -> Any:
        if resource not in self._resources:
            raise ValueError(
                f"no integration for Task resource {resource!r} (known: {sorted(self._resources)})"
            )
        return self._resources[resource](parameters, timeout_seconds)

    def lambda_invoke(self, parameters: dict[str, Any], timeout_seconds: float) -> dict[str, Any]:
        request = {key: value for key, value in parameters.items() if key != "Payload"}
        request["Payload"] = json.dumps(parameters.get("Payload")).encode("utf-8")
        try:
            response = self._lambda.invoke(**request)
        except ClientError as error:
            raise _service_error("Lambda", error) from None
        raw = response["Payload"].read().decode("utf-8")
        if response.get("FunctionError"):
            try:
                error_type = json.loads(raw).get("errorType")
            except (ValueError, AttributeError):
                error_type = None
            raise TaskFailure(str(error_type or "Lambda.Unknown"), raw)
        return {
            "ExecutedVersion": response.get("ExecutedVersion", "$LATEST"),
            "Payload": json.loads(raw) if raw else None,
            "StatusCode": response["StatusCode"],
        }

    def glue_start_job_run_sync(self, parameters: dict[str, Any], timeout_seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_seconds
        try:
            run_id = self._glue.start_job_run(**parameters)["JobRunId"]
            while True:
                run = self._glue.get_job_run(JobName=parameters["JobName"], RunId=run_id)["JobRun"]
                if run["JobRunState"] in GLUE_ENDED:
                    break
                if time.monotonic() > deadline:
                    raise TaskFailure("States.Timeout", f"job run {run_id} still {run['JobRunState']}")
                time.sleep(self._poll_seconds)
        except ClientError as error:
            raise _service_error("Glue", error) from None
        run = _jsonable(run)
        if run["JobRunState"] != "SUCCEEDED":
            raise TaskFailure("States.TaskFailed", json.dumps(run))
        return run


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "node is not on PATH: install Node.js 20+ (make asl-tools installs the npm packages)"
        )
    return node


def _answer(tasks: EmulatorTasks, request: dict[str, Any], states: dict[str, Any]) -> dict[str, Any]:
    timeout = states.get(request["state"], {}).get("TimeoutSeconds", 60)
    try:
        return {"id": request["id"], "result": tasks.run(request["resource"], request["input"], timeout)}
    except TaskFailure as failure:
        return {"id": request["id"], "error": {"name": failure.name, "cause": failure.cause}}


def run_execution(
    definition: dict[str, Any],
    execution_input: Any,
    context: dict[str, Any],
    tasks: EmulatorTasks,
    timeout_seconds: float = 600,
) -> LocalExecution:
    """Run one execution to its end; the driver is killed if it outlasts ``timeout_seconds``."""
    require(ASL_MODULES / "aws-local-stepfunctions")
    env = {**os.environ, "NODE_PATH": str(ASL_MODULES)}
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [node_executable(), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
        assert process.stdin and process.stdout
        watchdog = threading.Timer(timeout_seconds, process.kill)
        watchdog.start()
        attempts: list[tuple[str, str]] = []
        end: dict[str, Any] | None = None
        try:
            request = {"definition": definition, "input": execution_input, "context": context}
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            for line in process.stdout:
                message = json.loads(line)
                if message["type"] == "end":
                    end = message
                    break
                attempts.append((message["state"], message["resource"]))
                process.stdin.write(json.dumps(_answer(tasks, message, definition["States"])) + "\n")
                process.stdin.flush()
        finally:
            watchdog.cancel()
            process.stdin.close()
            returncode = process.wait(timeout=30)
        if end is None or returncode != 0:
            stderr.seek(0)
            log = stderr.read().decode("utf-8", "replace")[-4000:]
            raise RuntimeError(f"aws-local-stepfunctions driver ended {returncode} without a result:\n{log}")
    return LocalExecution(
        status=end["status"],
        output=end.get("output"),
        error=end.get("error"),
        cause=end.get("cause"),
        events=end["events"],
        tasks=attempts,
    )
