"""``arn:aws:states:::glue:startJobRun.sync`` in moto's ASL interpreter: wait for the run, fail on its failure.

moto's Glue task already polls GetJobRun every half second (answered by this runtime) and raises
States.TaskFailed on FAILED, TIMEOUT or ERROR. But its shared callback base class (moto 5.2.5) ends every
integration pattern with ``callback_endpoint.interrupt_all()``, and a service without waitForTaskToken, as
Glue is, has no endpoint: every Glue .sync task then fails with "'NoneType' object has no attribute
'interrupt_all'". The Glue task gets the sync-only path here, the base class's steps minus the callback.

When the execution is stopped (StopExecution) or times out while the run is going, the run is stopped with
BatchStopJobRun, as Step Functions stops the job of a ``.sync`` task it no longer waits for; moto's loop only
stopped polling and left the run going.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("emulator.glue")


def install() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
        StateTaskServiceGlue,
    )

    StateTaskServiceGlue._eval_integration_pattern = _eval_sync_only  # type: ignore[method-assign]


def _eval_sync_only(
    self: Any,
    env: Any,
    resource_runtime_part: Any,
    normalised_parameters: dict,
    state_credentials: Any,
) -> None:
    # The StartJobRun output stays on the stack under the timeout: the sync resolver pops it.
    started = dict(env.stack[-1]) if env.stack and isinstance(env.stack[-1], dict) else {}
    self.timeout.eval(env=env)
    timeout_seconds = env.stack.pop()
    sync_resolver = self._build_sync_resolver(
        env=env,
        resource_runtime_part=resource_runtime_part,
        normalised_parameters=normalised_parameters,
        state_credentials=state_credentials,
    )
    outcome = self._eval_sync(
        env=env,
        sync_resolver=sync_resolver,
        timeout_seconds=timeout_seconds,
        callback_endpoint=None,
        heartbeat_endpoint=None,
    )
    if _execution_ended_early(env) and started.get("JobRunId"):
        _stop_run(self, resource_runtime_part, state_credentials, started)
    env.stack.append(outcome)


def _execution_ended_early(env: Any) -> bool:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut

    return isinstance(env.program_state(), ProgramStopped | ProgramTimedOut)


def _stop_run(task: Any, resource_runtime_part: Any, state_credentials: Any, started: dict) -> None:
    glue = task._get_glue_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    try:
        glue.batch_stop_job_run(JobName=started["JobName"], JobRunIds=[started["JobRunId"]])
    except Exception:  # the execution has ended either way; the run's own state says what happened
        log.exception("stopping Glue job run %s of %s", started["JobRunId"], started["JobName"])
