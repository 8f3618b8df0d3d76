"""Where moto's ASL interpreter (moto 5.2.5) differs from AWS Step Functions, patched in place.

- ``States.ALL`` matches every error except ``States.DataLimitExceeded`` and ``States.Runtime``. AWS: the first
  is a terminal error that only a Retrier or Catcher naming it handles; the second is never retried or caught
  and always fails the execution. moto let ``States.ALL`` match both.
- The 256 KiB payload quota is ``<=`` 262,144 UTF-8 bytes (moto refused exactly 262,144), and it also applies to
  a state's input after ``Parameters`` or ``ItemSelector`` (moto checked only results and outputs).
- An execution's history holds at most 25,000 events: event 25,000 is ``ExecutionFailed`` with
  ``States.Runtime``, "The execution reached the maximum number of history events (25000)." (moto had no cap).
- A Parallel branch or Map iteration that fails with a ``States.`` error (``States.DataLimitExceeded``,
  ``States.TaskFailed``, ...) fails its state with that error; moto turned it into a custom error name, which
  may not start with ``States.``, and failed the execution with States.Runtime ``ValueError`` instead.
- A stopped execution keeps the error and cause given to StopExecution and its stop date, and is ABORTED at
  once, even while a task is still running (moto ignored error and cause, and changed the status only when the
  running state returned).
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("emulator.stepfunctions")

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_HISTORY_EVENTS = 25_000
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
STATES_RUNTIME = "States.Runtime"
STATES_ALL = "States.ALL"
STATES_TASK_FAILED = "States.TaskFailed"
# The events that end an execution: the one event allowed past the history cap is one of these.
_TERMINAL_EVENTS = {"ExecutionFailed", "ExecutionSucceeded", "ExecutionAborted", "ExecutionTimedOut"}


def error_matches(names: list[str], error: str, is_states_error: bool) -> bool:
    """Whether a Retrier's or Catcher's ErrorEquals ``names`` handles ``error``.

    ``States.Runtime`` is handled by none; ``States.DataLimitExceeded`` only when named; ``States.TaskFailed``
    stands for every error that is not a ``States.`` one; ``States.ALL`` for every other error.
    """
    if error == STATES_RUNTIME:
        return False
    if error in names:
        return True
    if error == DATA_LIMIT_EXCEEDED:
        return False
    if STATES_ALL in names:
        return True
    return STATES_TASK_FAILED in names and not is_states_error


def within_payload_quota(value: Any) -> bool:
    """Whether a payload (a JSON value: its JSON text, a string with its quotes) fits the 256 KiB quota."""
    from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

    text = json.dumps(value, cls=_DateTimeEncoder, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8")) <= MAX_PAYLOAD_BYTES


def install() -> None:
    _install_error_matching()
    _install_payload_quota()
    _install_history_cap()
    _install_branch_errors()
    _install_stop()


# -- Retry / Catch ------------------------------------------------------------------------------------


def _install_error_matching() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack.pop()
        names = [declared.error_name for declared in self.error_names]
        env.stack.append(error_matches(names, error_name.error_name, isinstance(error_name, StatesErrorName)))

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]


# -- payload quota ------------------------------------------------------------------------------------


def _install_payload_quota() -> None:
    from moto.stepfunctions.parser import quotas
    from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_selector import ItemSelector

    original = quotas.is_within_size_quota
    # moto's modules imported the function by name: replace every binding of it.
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.stepfunctions.parser") and (
            getattr(module, "is_within_size_quota", None) is original
        ):
            module.is_within_size_quota = within_payload_quota  # type: ignore[attr-defined]

    for component in (Parargs, ItemSelector):
        component._eval_body = _checked_input(component._eval_body)  # type: ignore[method-assign]


def _checked_input(evaluate: Any) -> Any:
    """Parameters / ItemSelector: the state's effective input they leave on the stack must fit the quota."""

    def _eval_body(self: Any, env: Any) -> None:
        evaluate(self, env)
        if env.stack and not within_payload_quota(env.stack[-1]):
            raise _data_limit_failure(
                env,
                f"The state/task '{env.next_state_name}' has an input with a size exceeding the maximum "
                "number of bytes service limit.",
            )

    return _eval_body


def _data_limit_failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)
            ),
        )
    )


# -- history cap --------------------------------------------------------------------------------------


def _install_history_cap() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    class HistoryLimitReached(FailureEventException):
        """Raised instead of adding event 25,000 unless it ends the execution; never caught (States.Runtime)."""

        def __init__(self) -> None:
            from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
                StatesErrorName,
            )
            from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
                StatesErrorNameType,
            )

            # A FailureEvent needs an Environment; the event manager has none, and nothing else is read.
            failure = _HistoryFailure(StatesErrorName(typ=StatesErrorNameType.StatesRuntime))
            super().__init__(failure_event=failure)  # type: ignore[arg-type]

        def get_execution_failed_event_details(self) -> dict[str, str]:
            return {"error": STATES_RUNTIME, "cause": HISTORY_LIMIT_CAUSE}

    original = EventManager.add_event

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        name = getattr(event_type, "value", event_type)
        if self._event_id_gen._next_id >= MAX_HISTORY_EVENTS and name not in _TERMINAL_EVENTS:
            raise HistoryLimitReached()
        return original(self, context, event_type, *args, **kwargs)

    EventManager.add_event = add_event  # type: ignore[method-assign]


class _HistoryFailure:
    def __init__(self, error_name: Any) -> None:
        from moto.stepfunctions.parser.api import HistoryEventType

        self.state_name = ""
        self.source_event_id = 0
        self.error_name = error_name
        self.event_type = HistoryEventType.ExecutionFailed
        self.event_details = {
            "executionFailedEventDetails": {"error": STATES_RUNTIME, "cause": HISTORY_LIMIT_CAUSE}
        }


# -- errors of Parallel branches and Map iterations ----------------------------------------------------


def _install_branch_errors() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl

    for module in (branches_decl, iteration_worker):
        module.CustomErrorName = _propagated_error_name  # type: ignore[attr-defined]


def _propagated_error_name(error_name: str | None) -> Any:
    """The error name a failed branch or iteration passes up: a States one stays a States one."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName(typ=StatesErrorNameType.from_name(error_name))
        except ValueError:
            pass
    return CustomErrorName(error_name=error_name)


# -- StopExecution ------------------------------------------------------------------------------------


def _install_stop() -> None:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def _reflect_execution_status(self: Any) -> None:
        stopped = getattr(self.execution, "stopped_by_request", None)
        reflect(self)
        state = self.execution.exec_worker.env.program_state()
        if isinstance(state, ProgramStopped) or stopped is not None:
            from moto.stepfunctions.parser.api import ExecutionStatus

            self.execution.exec_status = ExecutionStatus.ABORTED
            stop_date, error, cause = stopped or (state.stop_date, state.error, state.cause)
            self.execution.stop_date = stop_date
            self.execution.error = error or None
            self.execution.cause = cause or None

    BaseExecutionWorkerCommunication._reflect_execution_status = _reflect_execution_status  # type: ignore[method-assign]


def stop_execution(execution: Any, error: str | None, cause: str | None) -> datetime.datetime:
    """StopExecution: ABORTED now with ``error`` and ``cause``; the interpreter ends its running state."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    if execution.exec_status != ExecutionStatus.RUNNING:
        return execution.stop_date
    _wait_for_interpreter(execution)
    stop_date = datetime.datetime.now(tz=datetime.UTC)
    execution.stopped_by_request = (stop_date, error, cause)
    execution.stop(stop_date=stop_date, error=error, cause=cause)
    execution.exec_status = ExecutionStatus.ABORTED
    execution.stop_date = stop_date
    execution.error = error or None
    execution.cause = cause or None
    return stop_date


def _wait_for_interpreter(execution: Any, timeout: float = 10.0) -> None:
    """An execution stopped right after it started: moto's worker thread may not have built the interpreter's
    environment yet (it parses the definition first), or not started the program in it, and the stop would
    be lost on it (no ExecutionAborted event, the states still run). Wait until the program runs; AWS aborts
    such an execution like any other."""
    worker = getattr(execution, "exec_worker", None)
    deadline = time.monotonic() + timeout
    while worker is not None and time.monotonic() < deadline:
        env = getattr(worker, "env", None)
        if env is not None and getattr(env, "_program_state", None) is not None:
            return
        time.sleep(0.005)
