"""Wire handlers for the added Step Functions actions."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from emulator.app import EmulatorApp, aws_error, json_response, target_is
from emulator.settings import ACCOUNT_ID
from emulator.stepfunctions_ext import models


class StepFunctionsExtension:
    name = "stepfunctions"

    def install(self, app: EmulatorApp) -> None:
        region = app.settings.region
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


def _region_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default
