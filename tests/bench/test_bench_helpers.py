"""The benchmark's pure helpers: medians, per-state durations from a history, REPORT line parsing."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench"] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)

T0 = datetime(2031, 1, 1, 6, tzinfo=UTC)


def _event(kind: str, name: str, seconds: float) -> dict:
    details = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
    return {"type": kind, details: {"name": name}, "timestamp": T0 + timedelta(seconds=seconds)}


def test_median_of_odd_and_even_counts():
    assert bench.median([3.0, 1.0, 2.0]) == 2.0
    assert bench.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        bench.median([])


def test_stage_durations_pair_entered_and_exited_events_by_state():
    events = [
        {"type": "ExecutionStarted", "timestamp": T0},
        _event("TaskStateEntered", "Extract", 0.0),
        {"type": "TaskScheduled", "timestamp": T0},
        _event("TaskStateExited", "Extract", 1.5),
        _event("ChoiceStateEntered", "HasWork", 1.5),
        _event("ChoiceStateExited", "HasWork", 1.6),
        _event("TaskStateEntered", "Load", 1.6),
        _event("TaskStateExited", "Load", 11.6),
        _event("TaskStateEntered", "Load", 12.0),
        _event("TaskStateExited", "Load", 13.0),
    ]
    assert bench.stage_durations(events) == pytest.approx({"Extract": 1.5, "HasWork": 0.1, "Load": 11.0})


def test_stage_durations_ignore_a_state_that_never_exited():
    assert bench.stage_durations([_event("TaskStateEntered", "Load", 0.0)]) == {}


def test_max_memory_reads_the_report_lines_only():
    messages = [
        "START RequestId: a Version: $LATEST\n",
        "REPORT RequestId: a\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 81 MB\t\n",
        "Max Memory Used: 999 MB in a log line of the function",
        "REPORT RequestId: b\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 97 MB\tInit Duration: 300.00 ms\t\n",
    ]
    assert bench.max_memory_mb(messages) == 97
    assert bench.max_memory_mb(["END RequestId: a\n"]) is None


def test_sizes_and_measurement_choices_are_validated():
    assert bench.parse_sizes("10000,100_000") == [10_000, 100_000]
    assert bench.parse_only("e2e,peer") == ["e2e", "peer"]
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_sizes("0")
    with pytest.raises(argparse.ArgumentTypeError):
        bench.parse_only("e2e,speed")
