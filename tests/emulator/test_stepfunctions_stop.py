"""StopExecution at any moment of an execution's life, the very first included: ABORTED at once with the error
and cause given, as AWS does (moto's worker thread builds its interpreter after StartExecution has answered,
and a stop before that failed with an internal error). Known difference: an execution stopped within its first
milliseconds may never get its ExecutionAborted history event."""

from __future__ import annotations

import json

from tests.emulator.executions import finish
from tests.emulator.roles import create_role
from tests.emulator.test_eventbridge_events import unique

# Parsing a definition of some size takes the worker thread long enough for a stop to come first.
STATES = {f"Step{n}": {"Type": "Pass", "Next": f"Step{n + 1}"} for n in range(300)}
WAIT = {
    "StartAt": "Step0",
    "States": {**STATES, "Step300": {"Type": "Wait", "Seconds": 30, "End": True}},
}


def test_an_execution_stopped_right_after_it_started_is_aborted(emulator):
    sfn = emulator.client("stepfunctions")
    role = create_role(emulator, [], service="states.amazonaws.com")
    machine = sfn.create_state_machine(name=unique("sm"), definition=json.dumps(WAIT), roleArn=role)[
        "stateMachineArn"
    ]

    for n in range(4):
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))["executionArn"]
        sfn.stop_execution(executionArn=execution, error="Operator", cause=f"stop {n}")

        described = finish(emulator, execution, timeout=10)
        assert (described["status"], described["error"], described["cause"]) == (
            "ABORTED",
            "Operator",
            f"stop {n}",
        )
        types = [
            e["type"] for e in sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        ]
        assert types[0] == "ExecutionStarted"
