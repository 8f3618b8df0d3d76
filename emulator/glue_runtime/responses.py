"""Wire handlers for the Glue job-run actions, and the runtime's control routes.

StartJobRun, GetJobRun, GetJobRuns and BatchStopJobRun are answered here; every other Glue action (the job
definitions among them) is moto's. Installing also fixes moto's ``glue:startJobRun.sync`` task (sync_task).

Control routes:
- ``GET /_emulator/glue``: the runtime's settings and every run, with the folder its files are kept in;
- ``POST /_emulator/glue`` ``{"timeout_unit_seconds": 2}``: how many real seconds one minute of a job's
  Timeout lasts (60 by default), for runs started afterwards; ``{"warm_drivers": false}``: Spark runs start
  a process of their own instead of a warm driver host (warm.py; on by default, ``EMULATOR_GLUE_WARM=0``
  turns it off from the start);
- ``DELETE /_emulator/glue``: back to the defaults.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import (
    ControlError,
    EmulatorApp,
    aws_error,
    control_body,
    control_json,
    json_response,
    target_is,
)
from emulator.glue_runtime import sync_task
from emulator.glue_runtime.exceptions import GlueError, InvalidInputException
from emulator.glue_runtime.models import GlueRuntime, RuntimeConfig
from emulator.settings import ACCOUNT_ID


class GlueRuntimeExtension:
    name = "glue_runtime"

    def __init__(self) -> None:
        self.runtime: GlueRuntime | None = None

    def install(self, app: EmulatorApp) -> None:
        faults = app.faults
        runtime = GlueRuntime(
            settings=app.settings,
            work_dir=app.settings.work_dir,
            account_id=ACCOUNT_ID,
            fault_for=lambda job_name: faults.current().fail_glue.get(job_name),
            warm_drivers=app.settings.glue_warm_drivers,
        )
        self.runtime = runtime
        sync_task.install()
        default_region = app.settings.region
        handlers = {
            "AWSGlue.StartJobRun": self._start_job_run,
            "AWSGlue.GetJobRun": self._get_job_run,
            "AWSGlue.GetJobRuns": self._get_job_runs,
            "AWSGlue.BatchStopJobRun": self._batch_stop_job_run,
        }
        for target, handler in handlers.items():
            app.intercept(
                f"glue_runtime.{target.split('.')[1]}",
                target_is(target),
                lambda request, handler=handler: _answer(handler, runtime, request, default_region),
            )
        app.route("GET", "glue", lambda _r: control_json(self._describe()))
        app.route("POST", "glue", self._configure)
        app.route("DELETE", "glue", self._reset)
        app.status_providers.append(
            lambda: {"glue_runs_active": sum(run.active for run in runtime.all_runs())}
        )

    def shutdown(self) -> None:
        if self.runtime is not None:
            self.runtime.shutdown()

    # -- AWS actions --------------------------------------------------------------------------
    @staticmethod
    def _start_job_run(runtime: GlueRuntime, region: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("AllocatedCapacity") and body.get("MaxCapacity"):
            raise InvalidInputException("Please set only Allocated Capacity or Max Capacity")
        run = runtime.start_job_run(
            region,
            _required(body, "JobName"),
            arguments=body.get("Arguments"),
            timeout_minutes=body.get("Timeout"),
            previous_run_id=body.get("JobRunId"),
            worker_type=body.get("WorkerType"),
            number_of_workers=body.get("NumberOfWorkers"),
            max_capacity=body.get("MaxCapacity"),
        )
        return {"JobRunId": run.id}

    @staticmethod
    def _get_job_run(runtime: GlueRuntime, region: str, body: dict[str, Any]) -> dict[str, Any]:
        run = runtime.get_job_run(region, _required(body, "JobName"), _required(body, "RunId"))
        return {"JobRun": run.as_dict()}

    @staticmethod
    def _get_job_runs(runtime: GlueRuntime, region: str, body: dict[str, Any]) -> dict[str, Any]:
        runs = runtime.get_job_runs(region, _required(body, "JobName"))
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 200)
        answer: dict[str, Any] = {"JobRuns": [run.as_dict() for run in runs[start : start + size]]}
        if start + size < len(runs):
            answer["NextToken"] = str(start + size)
        return answer

    @staticmethod
    def _batch_stop_job_run(runtime: GlueRuntime, region: str, body: dict[str, Any]) -> dict[str, Any]:
        job_name = _required(body, "JobName")
        stopped, errors = [], []
        for run_id in body.get("JobRunIds") or []:
            try:
                runtime.stop_job_run(region, job_name, run_id)
            except GlueError as exc:
                errors.append(
                    {
                        "JobName": job_name,
                        "JobRunId": run_id,
                        "ErrorDetail": {"ErrorCode": exc.code, "ErrorMessage": exc.message},
                    }
                )
            else:
                stopped.append({"JobName": job_name, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": errors}

    # -- control ------------------------------------------------------------------------------
    def _describe(self) -> dict[str, Any]:
        assert self.runtime is not None
        return {
            "config": asdict(self.runtime.config),
            "runs": [run.summary() for run in self.runtime.all_runs()],
            "driver_hosts": self.runtime.pool.describe(),
        }

    def _configure(self, request: Request) -> Response:
        assert self.runtime is not None
        changes = control_body(request, "glue settings")
        unknown = set(changes) - set(RuntimeConfig.__dataclass_fields__)
        if unknown:
            raise ControlError(f"unknown glue setting(s): {', '.join(sorted(unknown))}")
        unit = changes.get("timeout_unit_seconds", self.runtime.config.timeout_unit_seconds)
        if isinstance(unit, bool) or not isinstance(unit, int | float) or unit <= 0:
            raise ControlError(f"timeout_unit_seconds must be a positive number, got {unit!r}")
        warm_drivers = changes.get("warm_drivers", self.runtime.config.warm_drivers)
        if not isinstance(warm_drivers, bool):
            raise ControlError(f"warm_drivers must be true or false, got {warm_drivers!r}")
        self.runtime.config = replace(
            self.runtime.config, timeout_unit_seconds=float(unit), warm_drivers=warm_drivers
        )
        return control_json(self._describe()["config"])

    def _reset(self, _request: Request) -> Response:
        assert self.runtime is not None
        self.runtime.config = self.runtime.default_config
        return control_json(asdict(self.runtime.config))


def _answer(handler: Any, runtime: GlueRuntime, request: Request, default_region: str) -> Response:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return aws_error("SerializationException", "the request body is not JSON")
    try:
        return json_response(handler(runtime, _region(request, default_region), body))
    except GlueError as exc:
        return aws_error(exc.code, exc.message)


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not value:
        raise InvalidInputException(f"{name} is required")
    return str(value)


def _region(request: Request, default: str) -> str:
    """The region the request was signed for (SigV4: ``Credential=<key>/<date>/<region>/<service>/...``)."""
    authorization = request.headers.get("Authorization", "")
    scope = (
        authorization.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in authorization else ""
    )
    parts = scope.split("/")
    return parts[2] if len(parts) > 2 and parts[2] else default
