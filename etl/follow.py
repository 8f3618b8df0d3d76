"""Follow a Step Functions execution state by state, printing each step as it happens."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class StepEvent:
    """One thing worth telling a person about an execution."""

    at: datetime
    kind: str  # entered | exited | failed | retry | caught | execution
    state: str
    detail: str = ""


def step_events(history: list[dict[str, Any]]) -> list[StepEvent]:
    """Turn raw execution history into the steps a person follows (pure, for tests)."""
    steps: list[StepEvent] = []
    current = ""
    for event in history:
        kind = event["type"]
        at = event["timestamp"]
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
            steps.append(StepEvent(at, "entered", current))
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            steps.append(
                StepEvent(at, "exited", name, _summary(name, event["stateExitedEventDetails"].get("output")))
            )
        elif kind in {"TaskFailed", "LambdaFunctionFailed"}:
            details = (
                event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            )
            steps.append(StepEvent(at, "failed", current, _error_text(details)))
        elif kind == "ExecutionFailed":
            details = event.get("executionFailedEventDetails", {})
            steps.append(StepEvent(at, "execution", "", f"FAILED {_error_text(details)}"))
        elif kind == "ExecutionSucceeded":
            steps.append(StepEvent(at, "execution", "", "SUCCEEDED"))
    return steps


def _error_text(details: dict[str, Any]) -> str:
    error = details.get("error", "")
    cause = details.get("cause", "")
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = parsed.get("errorMessage") or parsed.get("ErrorMessage") or cause
    except (TypeError, ValueError):
        pass
    return f"{error}: {str(cause)[:300]}" if cause else error


def _summary(state: str, output: str | None) -> str:
    """The few figures of what this state added to the output, that a person cares about while watching."""
    try:
        data = json.loads(output or "")
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    extract = (data.get("extract") or {}).get("value")
    result = (data.get("result") or {}).get("value")
    load = data.get("load")
    if state == "Extract" and isinstance(extract, dict) and "staged_records" in extract:
        return f"staged {extract['staged_records']} records in {extract.get('chunks', '?')} chunk(s)"
    if state == "Load" and isinstance(load, dict) and "state" in load:
        return f"job run {load['state']}"
    if state in {"TrackResult", "RecordFailure"} and isinstance(result, dict) and "status" in result:
        return f"status {result['status']}"
    return ""


def follow(
    describe: Callable[[], dict[str, Any]],
    history: Callable[[], list[dict[str, Any]]],
    console: Console,
    poll_seconds: float = 0.5,
    timeout_seconds: float = 3600,
) -> dict[str, Any]:
    """Print steps as they happen until the execution ends; returns the final describe_execution."""
    shown = 0
    started = time.monotonic()
    with console.status("waiting for the execution…") as status:
        while True:
            execution = describe()
            steps = step_events(history())
            for step in steps[shown:]:
                _print_step(console, step, execution["startDate"])
                if step.kind == "entered":
                    status.update(f"[bold]{step.state}[/bold] running…")
            shown = len(steps)
            if execution["status"] in TERMINAL:
                return execution
            if time.monotonic() - started > timeout_seconds:
                raise TimeoutError(
                    f"the execution is still {execution['status']} after {timeout_seconds:.0f}s"
                )
            time.sleep(poll_seconds)


def _print_step(console: Console, step: StepEvent, start: datetime) -> None:
    offset = (step.at - start).total_seconds()
    stamp = f"[dim]{offset:7.1f}s[/dim]"
    if step.kind == "entered":
        console.print(f"{stamp}  ▶ {step.state}")
    elif step.kind == "exited":
        console.print(f"{stamp}  ✔ {step.state}" + (f"  [dim]{step.detail}[/dim]" if step.detail else ""))
    elif step.kind == "failed":
        console.print(f"{stamp}  [red]✖ {step.state}[/red]  {step.detail}")
    elif step.kind == "execution":
        colour = "green" if step.detail == "SUCCEEDED" else "red"
        console.print(f"{stamp}  [{colour}]execution {step.detail}[/{colour}]")


def iter_history(sfn: Any, execution_arn: str) -> Iterator[dict[str, Any]]:
    paginator = sfn.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn):
        yield from page["events"]
