"""tools/asl/run_execution.cjs on its own: Task errors keep their names through Retry and Catch, results go
through ResultSelector, and the Context Object is the one given."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .local_sfn import TaskFailure, run_execution

DEFINITION: dict[str, Any] = {
    "StartAt": "Flaky",
    "States": {
        "Flaky": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "TimeoutSeconds": 5,
            "Parameters": {"FunctionName": "f", "Payload": {"id.$": "$$.Execution.Id", "n.$": "$.n"}},
            "ResultSelector": {"value.$": "$.Payload"},
            "ResultPath": "$.flaky",
            "Retry": [
                {"ErrorEquals": ["Transient"], "IntervalSeconds": 0, "MaxAttempts": 2, "BackoffRate": 1.0}
            ],
            "Catch": [
                {"ErrorEquals": ["Locked"], "ResultPath": "$.error", "Next": "WasLocked"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"},
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "WasLocked": {"Type": "Fail", "Error": "RunLocked", "Cause": "held"},
        "Failed": {"Type": "Fail", "Error": "RunFailed"},
    },
}


class ScriptedTasks:
    """Answers each attempt with the next scripted outcome: a result, or a TaskFailure to raise."""

    def __init__(self, *outcomes: Any):
        self.outcomes = list(outcomes)
        self.requests: list[tuple[str, dict[str, Any], float]] = []

    def run(self, resource: str, parameters: dict[str, Any], timeout_seconds: float) -> Any:
        self.requests.append((resource, parameters, timeout_seconds))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, TaskFailure):
            raise outcome
        return outcome


CONTEXT = {"Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:m:e1", "Name": "e1"}}


def test_a_named_error_is_retried_then_the_result_is_selected() -> None:
    tasks = ScriptedTasks(TaskFailure("Transient", "{}"), {"Payload": {"ok": True}, "StatusCode": 200})

    execution = run_execution(DEFINITION, {"n": 7}, CONTEXT, tasks)  # type: ignore[arg-type]

    assert execution.status == "SUCCEEDED"
    assert execution.output == {"n": 7, "flaky": {"value": {"ok": True}}}
    assert execution.states_entered == ["Flaky", "Done"]
    assert [event["type"] for event in execution.events if event.get("state") == "Flaky"] == [
        "StateEntered",
        "StateFailed",
        "StateRetried",
        "StateExited",
    ]
    assert (
        tasks.requests
        == [
            (
                "arn:aws:states:::lambda:invoke",
                {"FunctionName": "f", "Payload": {"id": CONTEXT["Execution"]["Id"], "n": 7}},
                5,
            )
        ]
        * 2
    )


@pytest.mark.parametrize(
    ("error", "visited", "final_error"),
    [("Locked", ["Flaky", "WasLocked"], "RunLocked"), ("Exception", ["Flaky", "Failed"], "RunFailed")],
)
def test_a_named_error_is_caught_by_its_name(error: str, visited: list[str], final_error: str) -> None:
    tasks = ScriptedTasks(TaskFailure(error, json.dumps({"errorType": error})))

    execution = run_execution(DEFINITION, {"n": 1}, CONTEXT, tasks)  # type: ignore[arg-type]

    assert execution.status == "FAILED"
    assert execution.states_entered == visited
    assert execution.error == final_error
    assert len(tasks.requests) == 1


def test_retries_end_after_max_attempts() -> None:
    tasks = ScriptedTasks(*[TaskFailure("Transient", "again")] * 3)

    execution = run_execution(DEFINITION, {"n": 1}, CONTEXT, tasks)  # type: ignore[arg-type]

    assert execution.states_entered == ["Flaky", "Failed"]
    assert len(tasks.requests) == 3
