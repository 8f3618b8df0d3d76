"""Every Task has its own TimeoutSeconds (the ASL spec defaults to 60 s, AWS to none), set from what Terraform
gives the function or job it runs, and the execution's TimeoutSeconds covers the worst its tasks can take."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import ROOT

ASL = json.loads((ROOT / "statemachine" / "etl.asl.json").read_text(encoding="utf-8"))
STATES: dict[str, dict[str, Any]] = ASL["States"]
COMPUTE = ROOT / "infra" / "modules" / "compute"

# What a Lambda task adds to its function's timeout: the init phase (up to 10 s) and the invocation's trip.
LAMBDA_MARGIN_SECONDS = 15
# What the Load task adds to the job's timeout: up to 15 minutes WAITING for workers, which it does not count.
GLUE_MARGIN_SECONDS = 900
# The Lambda tasks and the function each invokes, by the template variable of its FunctionName.
FUNCTION_OF_VARIABLE = {
    "${track_begin_arn}": "track_begin",
    "${extract_arn}": "extract",
    "${track_result_arn}": "track_result",
    "${notify_arn}": "notify",
    "${track_failure_arn}": "track_failure",
    "${refresh_dashboard_arn}": "refresh_dashboard",
}


def default_timeouts() -> dict[str, int]:
    """``local.default_timeouts`` of infra/modules/compute/main.tf."""
    text = (COMPUTE / "main.tf").read_text(encoding="utf-8")
    block = re.search(r"default_timeouts\s*=\s*\{(.*?)\}", text, re.DOTALL)
    assert block, "infra/modules/compute/main.tf has no default_timeouts block"
    return {name: int(seconds) for name, seconds in re.findall(r"(\w+)\s*=\s*(\d+)", block.group(1))}


def glue_timeout_minutes() -> int:
    """The default of ``glue_timeout_minutes`` in infra/modules/compute/variables.tf."""
    text = (COMPUTE / "variables.tf").read_text(encoding="utf-8")
    block = re.search(r'variable "glue_timeout_minutes"\s*\{(.*?)\n\}', text, re.DOTALL)
    assert block, "infra/modules/compute/variables.tf has no glue_timeout_minutes variable"
    default = re.search(r"default\s*=\s*(\d+)", block.group(1))
    assert default
    return int(default.group(1))


def task_worst_case(state: dict[str, Any]) -> int:
    """Seconds a Task can take: every attempt its retriers allow at its TimeoutSeconds, plus each retry's
    longest wait (IntervalSeconds x BackoffRate^n, which full jitter only shortens)."""
    retriers = state.get("Retry", [])
    attempts = 1 + sum(retrier.get("MaxAttempts", 3) for retrier in retriers)
    waits = sum(
        min(
            retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** n,
            retrier.get("MaxDelaySeconds", float("inf")),
        )
        for retrier in retriers
        for n in range(retrier.get("MaxAttempts", 3))
    )
    return int(attempts * state["TimeoutSeconds"] + waits)


def successors(state: dict[str, Any]) -> set[str]:
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {choice["Next"] for choice in state.get("Choices", [])}
    found |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return found


def longest_path(name: str, seen: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """The path from ``name`` to an end whose tasks can take the longest, and that time."""
    assert name not in seen, f"the state machine has a cycle through {name}: the worst case is unbounded"
    state = STATES[name]
    own = task_worst_case(state) if state["Type"] == "Task" else 0
    tails = [longest_path(after, (*seen, name)) for after in successors(state)]
    seconds, path = max(tails, default=(0, []))
    return own + seconds, [name, *path]


def tasks() -> dict[str, dict[str, Any]]:
    return {name: state for name, state in STATES.items() if state["Type"] == "Task"}


def test_the_environments_keep_the_modules_default_timeouts() -> None:
    """The test below reads the module defaults: no environment may override them unnoticed."""
    sources = [
        path
        for path in (ROOT / "infra" / "envs").rglob("*")
        if path.suffix in {".tf", ".tfvars"}
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    ]
    assert len(sources) >= 8, sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "lambda_timeouts" not in text, f"{path.relative_to(ROOT)} overrides lambda_timeouts"
        assert "glue_timeout_minutes" not in text, f"{path.relative_to(ROOT)} overrides glue_timeout_minutes"
    passed_on = (ROOT / "infra" / "modules" / "nightly_etl" / "main.tf").read_text(encoding="utf-8")
    assert "glue_timeout_minutes" not in passed_on


def test_every_task_has_its_own_timeout() -> None:
    assert set(tasks()) == {
        "BeginRun",
        "Extract",
        "Load",
        "TrackResult",
        "Notify",
        "RecordNotifyError",
        "RecordFailure",
        "NotifyFailure",
        "RefreshDashboard",
    }
    for name, state in tasks().items():
        assert isinstance(state.get("TimeoutSeconds"), int), f"{name} has no TimeoutSeconds"
        assert "TimeoutSecondsPath" not in state


def test_lambda_tasks_outlast_their_functions_by_the_margin() -> None:
    timeouts = default_timeouts()
    assert timeouts == {
        "track_begin": 30,
        "extract": 900,
        "track_result": 300,
        "notify": 60,
        "track_failure": 60,
        "refresh_dashboard": 60,
    }
    lambda_tasks = {n: s for n, s in tasks().items() if s["Resource"] == "arn:aws:states:::lambda:invoke"}
    assert set(lambda_tasks) == {
        "BeginRun",
        "Extract",
        "TrackResult",
        "Notify",
        "RecordNotifyError",
        "RecordFailure",
        "NotifyFailure",
        "RefreshDashboard",
    }

    for name, state in lambda_tasks.items():
        function = FUNCTION_OF_VARIABLE[state["Parameters"]["FunctionName"]]
        assert state["TimeoutSeconds"] == timeouts[function] + LAMBDA_MARGIN_SECONDS, name
        assert f"({timeouts[function]} s," in state["Comment"], name


def test_the_load_outlasts_the_glue_jobs_own_timeout() -> None:
    job_seconds = glue_timeout_minutes() * 60
    assert job_seconds == 3600
    load = STATES["Load"]

    assert load["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert load["TimeoutSeconds"] == job_seconds + GLUE_MARGIN_SECONDS
    assert f"{job_seconds} s" in load["Comment"]


def test_the_execution_outlasts_its_longest_path_and_the_comment_says_by_how_much() -> None:
    seconds, path = longest_path(ASL["StartAt"])

    assert path == [
        "BeginRun",
        "Extract",
        "HasWork",
        "Load",
        "TrackResult",
        "TrackResultFailed",
        "RecordFailure",
        "NotifyFailure",
        "RefreshDashboard",
        "RunEnded",
        "RunFailed",
    ]
    assert {name: task_worst_case(STATES[name]) for name in path if STATES[name]["Type"] == "Task"} == {
        "BeginRun": 4 * 45 + (2 + 4 + 8),
        "Extract": 6 * 915 + (1 + 2) + (2 + 4 + 8),
        "Load": 6 * 4500 + (10 + 20 + 40 + 80 + 160),
        "TrackResult": 7 * 315 + 2 * (2 + 4 + 8),
        "RecordFailure": 4 * 75 + 14,
        "NotifyFailure": 7 * 75 + 2 * (2 + 4 + 8),
        "RefreshDashboard": 4 * 75 + 14,
    }
    # The success path after TrackResult with a Notify that fails every attempt takes as long.
    assert task_worst_case(STATES["Notify"]) + task_worst_case(STATES["RecordNotifyError"]) == 553 + 314
    assert seconds == 36425
    assert ASL["TimeoutSeconds"] >= seconds
    assert f"TimeoutSeconds {ASL['TimeoutSeconds']} >= {seconds} s" in ASL["Comment"]
