"""Wire handlers for the added Step Functions actions, and the API behaviours moto's answers lack:
StartExecution's 256 KiB input limit and generated execution name, StopExecution's error and cause,
GetExecutionHistory's pages, the stop date of a TIMED_OUT execution and the JSON text of a string output.
Installing also patches moto's interpreter (parity, jsonpath_cache, integrations) and puts execution status
changes on the EventBridge bus (events)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.stepfunctions.responses import get_backend
from werkzeug.wrappers import Request, Response

from emulator.app import EmulatorApp, aws_error, json_response, target_is
from emulator.settings import ACCOUNT_ID
from emulator.stepfunctions_ext import events, integrations, jsonpath_cache, models, parity


class StepFunctionsExtension:
    name = "stepfunctions"

    def install(self, app: EmulatorApp) -> None:
        region = app.settings.region
        parity.install()
        jsonpath_cache.install()
        integrations.install(app.settings)
        events.install()
        app.intercept(
            "stepfunctions.start",
            target_is("AWSStepFunctions.StartExecution", "AWSStepFunctions.StartSyncExecution"),
            lambda request: self._start(app, request),
        )
        app.intercept(
            "stepfunctions.stop",
            target_is("AWSStepFunctions.StopExecution"),
            lambda request: self._stop(app, request, region),
        )
        app.intercept(
            "stepfunctions.history",
            target_is("AWSStepFunctions.GetExecutionHistory"),
            lambda request: self._history(app, request, region),
        )
        app.intercept(
            "stepfunctions.stop_dates",
            target_is("AWSStepFunctions.DescribeExecution", "AWSStepFunctions.ListExecutions"),
            lambda request: self._with_stop_dates(app, request, region),
        )
        app.intercept(
            "stepfunctions.validate",
            target_is("AWSStepFunctions.ValidateStateMachineDefinition"),
            self._validate,
        )
        app.intercept(
            "stepfunctions.versions",
            target_is("AWSStepFunctions.ListStateMachineVersions"),
            lambda request: self._versions(request, region),
        )

    @staticmethod
    def _start(app: EmulatorApp, request: Request) -> Response:
        body = _json_body(request)
        text = body.get("input")
        if isinstance(text, str):
            size = len(text.encode("utf-8"))
            if size > parity.MAX_PAYLOAD_BYTES:
                return aws_error(
                    "InvalidExecutionInput",
                    f"The input of the execution is {size} bytes, over the maximum of "
                    f"{parity.MAX_PAYLOAD_BYTES} bytes (UTF-8).",
                )
        if request.headers.get("X-Amz-Target", "").endswith(".StartSyncExecution"):
            # moto implements no synchronous (Express) executions; the input limit above still applies.
            return aws_error(
                "NotImplemented", "StartSyncExecution (synchronous Express executions) is not emulated", 501
            )
        if body.get("name"):
            return app.forward(request)
        # AWS names an execution started without a name with a UUID (moto named it "None").
        body["name"] = str(uuid.uuid4())
        return app.forward(request, json.dumps(body).encode())

    @staticmethod
    def _stop(app: EmulatorApp, request: Request, region: str) -> Response:
        body = _json_body(request)
        arn = body.get("executionArn", "")
        try:
            execution = get_backend(ACCOUNT_ID, _region_of(arn, region)).describe_execution(arn)
        except Exception:
            return app.forward(request)  # moto's own error for a malformed or unknown ARN
        stop_date = parity.stop_execution(execution, body.get("error"), body.get("cause"))
        events.announce(execution)
        return json_response({"stopDate": stop_date.timestamp()})

    @staticmethod
    def _with_stop_dates(app: EmulatorApp, request: Request, region: str) -> Response:
        """moto leaves out the stopDate of TIMED_OUT executions (AWS gives it for every ended one), and answers
        a string output as the bare string instead of its JSON text."""
        response = app.forward(request)
        if response.status_code != 200:
            return response
        payload = json.loads(response.get_data() or b"{}")
        items = payload.get("executions") if "executions" in payload else [payload]
        for item in items:
            status = item.get("status")
            if status not in ("TIMED_OUT", "SUCCEEDED"):
                continue
            arn = item.get("executionArn", "")
            execution = get_backend(ACCOUNT_ID, _region_of(arn, region)).describe_execution(arn)
            if status == "TIMED_OUT" and "stopDate" not in item and execution.stop_date is not None:
                item["stopDate"] = execution.stop_date.timestamp()
            if "output" in item and isinstance(execution.output, str):
                item["output"] = json.dumps(execution.output, separators=(",", ":"), ensure_ascii=False)
        return json_response(payload)

    @staticmethod
    def _history(app: EmulatorApp, request: Request, region: str) -> Response:
        """GetExecutionHistory in pages of maxResults (AWS: 100 by default, at most 1000): moto answered every
        event at once, and serialized a 25,000-event history slower than any client waits."""
        body = _json_body(request)
        arn = body.get("executionArn", "")
        try:
            execution = get_backend(ACCOUNT_ID, _region_of(arn, region)).describe_execution(arn)
        except Exception:
            return app.forward(request)  # moto's own error for a malformed or unknown ARN
        try:
            page = models.history_page(
                execution,
                body.get("maxResults") or 100,
                body.get("nextToken"),
                bool(body.get("reverseOrder")),
            )
        except ValueError as exc:
            return aws_error("InvalidToken" if "token" in str(exc) else "ValidationException", str(exc))
        return json_response(page)

    @staticmethod
    def _validate(request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        diagnostics = models.validate_definition(body.get("definition", ""))
        return json_response({"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics})

    @staticmethod
    def _versions(request: Request, region: str) -> Response:
        body = json.loads(request.get_data() or b"{}")
        arn = body.get("stateMachineArn", "")
        try:
            versions = models.state_machine_versions(ACCOUNT_ID, _region_of(arn, region), arn)
        except Exception as exc:
            return aws_error("StateMachineDoesNotExist", str(exc))
        return json_response({"stateMachineVersions": versions})


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _region_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default
