"""Execution status changes of Standard workflows, put on the default EventBridge bus as AWS puts them:
``source: aws.states``, ``detail-type: Step Functions Execution Status Change``, ``resources: [executionArn]``,
and the execution as the detail (dates in epoch milliseconds, input/output as JSON text, redrive fields).
Express workflows send no such events, on AWS as here.

Payloads are cut as Step Functions cuts them to fit EventBridge's event size: an output whose escaped text
passes 248 KB is left out, and so is the input when the escaped input and output together pass it
(``input``/``output`` null, ``inputDetails``/``outputDetails`` ``{"included": false}``); DescribeExecution
and the execution history still have them.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from emulator.scheduler.events import put_service_event, service_event

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
_NOT_REDRIVABLE = {"RUNNING", "SUCCEEDED"}
# "If the combined escaped input and escaped output sent to EventBridge exceeds 248KB, then the input will be
# excluded"; KB read as KiB.
PAYLOAD_LIMIT = 248 * 1024
_lock = threading.Lock()


def install() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    def start(self: Any) -> None:
        # moto's Execution.start, with RUNNING put on the bus before the interpreter starts, so that it
        # precedes the execution's end there.
        from moto.stepfunctions.parser.api import ExecutionStatus, InvalidName

        if self.exec_worker:
            raise InvalidName()
        self.exec_worker = self._get_start_execution_worker()
        self.exec_status = ExecutionStatus.RUNNING
        announce(self)
        self.exec_worker.start()

    Execution.start = start  # type: ignore[method-assign]

    terminated = BaseExecutionWorkerCommunication.terminated

    def terminated_and_announce(self: Any) -> None:
        terminated(self)
        announce(self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated_and_announce  # type: ignore[method-assign]


def announce(execution: Any) -> None:
    """Put the execution's current status on the bus, once per status."""
    # moto's ``sm_type`` is always STANDARD; the state machine's ``type`` is what CreateStateMachine set.
    machine_type = getattr(execution.state_machine, "type", None)
    if getattr(machine_type, "value", machine_type) == "EXPRESS" or execution.exec_status is None:
        return
    status = execution.exec_status.value
    with _lock:
        announced = execution.__dict__.setdefault("announced_statuses", set())
        if status in announced:
            return
        announced.add(status)
    detail = status_detail(execution)
    moment = execution.stop_date if execution.stop_date is not None else execution.start_date
    put_service_event(
        service_event(
            SOURCE,
            DETAIL_TYPE,
            detail,
            [execution.exec_arn],
            execution.account_id,
            execution.region_name,
            moment,
        )
    )


def status_detail(execution: Any) -> dict[str, Any]:
    """The event's detail for the execution as it is now."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    status = execution.exec_status.value
    succeeded = status == "SUCCEEDED"
    redrivable = status not in _NOT_REDRIVABLE
    output = to_json_str(execution.output, separators=(",", ":")) if succeeded else None
    input_text, output_text = included_payloads(execution.execution_input, output)
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": epoch_ms(execution.start_date),
        "stopDate": epoch_ms(execution.stop_date) if status != "RUNNING" else None,
        "input": input_text,
        "output": output_text,
        "inputDetails": {"included": input_text is not None or execution.execution_input is None},
        "outputDetails": {"included": output_text is not None} if succeeded else None,
        "error": execution.error,
        "cause": execution.cause,
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
        "redriveStatusReason": None if redrivable else f"Execution is {status} and cannot be redriven",
    }


def included_payloads(input_text: str | None, output_text: str | None) -> tuple[str | None, str | None]:
    """The input and output as the event carries them: None for what the 248 KB rule leaves out."""
    output_size = escaped_size(output_text)
    if output_size > PAYLOAD_LIMIT:
        output_text = None
    if escaped_size(input_text) + output_size > PAYLOAD_LIMIT:
        input_text = None
    return input_text, output_text


def escaped_size(text: str | None) -> int:
    """Bytes of ``text`` escaped as a JSON string's content (what the event's JSON holds, quotes left out)."""
    return 0 if text is None else len(json.dumps(text, ensure_ascii=False).encode()) - 2


def epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)
