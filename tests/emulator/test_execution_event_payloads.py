"""Execution status events carry the input and output only while they fit EventBridge: Step Functions leaves
out an output whose escaped text passes 248 KB, and the input when the escaped input and output together do;
DescribeExecution and the execution history keep them whole."""

from __future__ import annotations

import json

import pytest

from emulator.stepfunctions_ext.events import PAYLOAD_LIMIT, escaped_size, included_payloads
from tests.emulator.executions import finish
from tests.emulator.test_eventbridge_events import FAIL, machine, queue, received, rule, status_pattern


def padded(size: int) -> str:
    """An input whose escaped text is exactly ``size`` bytes: {"run_date":"2026-11-22","pad":"x..."}."""
    frame = json.dumps({"run_date": "2026-11-22", "pad": ""}, separators=(",", ":"))
    return json.dumps(
        {"run_date": "2026-11-22", "pad": "x" * (size - escaped_size(frame))}, separators=(",", ":")
    )


def test_escaped_sizes_count_the_escapes_and_utf8_bytes():
    assert escaped_size('{"a":"é"}') == len('{\\"a\\":\\"é\\"}'.encode())
    assert escaped_size(None) == 0
    assert escaped_size(padded(1000)) == 1000


def test_the_limit_keeps_a_payload_of_248_kib_and_drops_one_byte_more():
    at_limit, over = padded(PAYLOAD_LIMIT), padded(PAYLOAD_LIMIT + 1)

    assert included_payloads(at_limit, None) == (at_limit, None)
    assert included_payloads(over, None) == (None, None)
    # Together they pass it: the input goes, the output (alone under it) stays.
    assert included_payloads(padded(200_000), padded(60_000)) == (None, padded(60_000))
    assert included_payloads("{}", padded(PAYLOAD_LIMIT + 1)) == (None, None)


@pytest.fixture(scope="module")
def machine_role(emulator) -> str:
    from tests.emulator.roles import create_role

    return create_role(emulator, ["lambda:InvokeFunction"], service="states.amazonaws.com")


def test_a_failed_execution_with_a_large_input_is_announced_without_it(emulator, machine_role):
    url, queue_arn = queue(emulator)
    sm = machine(emulator, FAIL, machine_role)
    rule(emulator, status_pattern(sm, ["FAILED"]), [{"Id": "q", "Arn": queue_arn}])
    sfn = emulator.client("stepfunctions")
    small = sfn.start_execution(stateMachineArn=sm, input=padded(1000))["executionArn"]
    large = sfn.start_execution(stateMachineArn=sm, input=padded(PAYLOAD_LIMIT + 1))["executionArn"]
    for execution in (small, large):
        assert finish(emulator, execution)["status"] == "FAILED"

    events = {event["detail"]["executionArn"]: event["detail"] for event in received(emulator, url, 2)}

    assert (events[small]["input"], events[small]["inputDetails"]) == (padded(1000), {"included": True})
    assert (events[large]["input"], events[large]["inputDetails"]) == (None, {"included": False})
    assert (events[large]["error"], events[large]["cause"]) == ("Etl.Broken", "bad row")
    # The history keeps the input whole: what a reader of the event falls back on.
    [started] = sfn.get_execution_history(executionArn=large, maxResults=1)["events"]
    assert json.loads(started["executionStartedEventDetails"]["input"]) == json.loads(
        padded(PAYLOAD_LIMIT + 1)
    )


def test_a_succeeded_execution_with_a_large_output_is_announced_without_input_and_output(
    emulator, machine_role
):
    url, queue_arn = queue(emulator)
    echo = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
    sm = machine(emulator, echo, machine_role)
    rule(emulator, status_pattern(sm, ["SUCCEEDED"]), [{"Id": "q", "Arn": queue_arn}])
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=sm, input=padded(PAYLOAD_LIMIT + 10))["executionArn"]
    assert finish(emulator, execution)["status"] == "SUCCEEDED"

    [event] = received(emulator, url, 1)

    detail = event["detail"]
    assert (detail["input"], detail["inputDetails"]) == (None, {"included": False})
    assert (detail["output"], detail["outputDetails"]) == (None, {"included": False})
