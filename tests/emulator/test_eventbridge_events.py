"""Step Functions execution status changes on the default EventBridge bus, in a running emulator: the events'
shape, rules matching them by pattern, and delivery to SQS, Lambda (resource-based policy) and Step Functions
(the target's role) targets, with failed deliveries recorded."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.emulator.executions import finish
from tests.emulator.roles import create_role

ACCOUNT = "123456789012"
DETAIL_TYPE = "Step Functions Execution Status Change"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def machine_role(emulator) -> str:
    return create_role(emulator, ["lambda:InvokeFunction"], service="states.amazonaws.com")


def machine(emulator, definition: dict[str, Any], role: str) -> str:
    return emulator.client("stepfunctions").create_state_machine(
        name=unique("sm"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]


PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
FAIL = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Etl.Broken", "Cause": "bad row"}}}


def start(emulator, machine_arn: str, payload: Any = None) -> str:
    sfn = emulator.client("stepfunctions")
    return sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload or {}))["executionArn"]


def queue(emulator) -> tuple[str, str]:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def rule(emulator, pattern: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    events = emulator.client("events")
    name = unique("rule")
    arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(Rule=name, Targets=targets)
    return arn


def status_pattern(machine_arn: str, statuses: list[str]) -> dict[str, Any]:
    return {
        "source": ["aws.states"],
        "detail-type": [DETAIL_TYPE],
        "detail": {"status": statuses, "stateMachineArn": [machine_arn]},
    }


def deliveries(emulator, rule_arn: str) -> list[dict[str, Any]]:
    answer = emulator.control.get("events?wait=20")
    assert answer["idle"]
    return [d for d in answer["deliveries"] if d["rule_arn"] == rule_arn]


def received(emulator, url: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    sqs = emulator.client("sqs")
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            messages.append(json.loads(message["Body"]))
    return messages


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_each_status_change_is_put_on_the_bus_in_the_aws_shape(emulator, machine_role):
    url, queue_arn = queue(emulator)
    sm = machine(emulator, PASS, machine_role)
    rule_arn = rule(emulator, status_pattern(sm, ["RUNNING", "SUCCEEDED"]), [{"Id": "q", "Arn": queue_arn}])

    execution = start(emulator, sm, {"run_date": "2026-11-22"})
    described = finish(emulator, execution)
    running, succeeded = sorted(received(emulator, url, 2), key=lambda e: e["detail"]["status"])

    assert [d["status"] for d in deliveries(emulator, rule_arn)] == ["delivered", "delivered"]
    common = {"version": "0", "detail-type": DETAIL_TYPE, "source": "aws.states", "account": ACCOUNT}
    assert {k: succeeded[k] for k in common} == common
    assert succeeded["region"] == "us-east-1"
    assert succeeded["resources"] == [execution]
    assert succeeded["time"] == described["stopDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert succeeded["detail"] == {
        "executionArn": execution,
        "stateMachineArn": sm,
        "name": execution.rsplit(":", 1)[1],
        "status": "SUCCEEDED",
        "startDate": epoch_ms(described["startDate"]),
        "stopDate": epoch_ms(described["stopDate"]),
        "input": '{"run_date": "2026-11-22"}',
        "output": '{"ok":true}',
        "inputDetails": {"included": True},
        "outputDetails": {"included": True},
        "error": None,
        "cause": None,
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
    }
    assert running["detail"]["status"] == "RUNNING"
    assert running["detail"]["stopDate"] is None
    assert running["detail"]["output"] is None
    assert running["detail"]["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"
    assert running["id"] != succeeded["id"]


def test_a_pattern_on_the_status_and_state_machine_matches_only_those_events(emulator, machine_role):
    url, queue_arn = queue(emulator)
    failing = machine(emulator, FAIL, machine_role)
    passing = machine(emulator, PASS, machine_role)
    rule_arn = rule(
        emulator, status_pattern(failing, ["FAILED", "TIMED_OUT", "ABORTED"]), [{"Id": "q", "Arn": queue_arn}]
    )

    failed = start(emulator, failing)
    finish(emulator, failed)
    finish(emulator, start(emulator, passing))

    matched = deliveries(emulator, rule_arn)
    [event] = received(emulator, url, 1)
    assert len(matched) == 1
    assert matched[0]["resources"] == [failed]
    assert event["detail"]["status"] == "FAILED"
    assert event["detail"]["error"] == "Etl.Broken"
    assert event["detail"]["cause"] == "bad row"
    assert event["detail"]["output"] is None
    assert event["detail"]["redriveStatus"] == "REDRIVABLE"


def test_timed_out_and_aborted_executions_are_announced_with_their_status(emulator, machine_role):
    url, queue_arn = queue(emulator)
    wait = {
        "TimeoutSeconds": 1,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}},
    }
    sm = machine(emulator, wait, machine_role)
    rule(emulator, status_pattern(sm, ["TIMED_OUT", "ABORTED"]), [{"Id": "q", "Arn": queue_arn}])

    timed_out = start(emulator, sm)
    aborted = start(emulator, sm)
    emulator.client("stepfunctions").stop_execution(executionArn=aborted, error="Ops.Stop", cause="by hand")
    finish(emulator, timed_out)

    events = {e["detail"]["executionArn"]: e["detail"] for e in received(emulator, url, 2)}
    assert events[timed_out]["status"] == "TIMED_OUT"
    assert events[timed_out]["stopDate"] is not None
    assert events[aborted]["status"] == "ABORTED"
    assert (events[aborted]["error"], events[aborted]["cause"]) == ("Ops.Stop", "by hand")
    assert len(received(emulator, url, 1, timeout=2)) == 0  # each status once


LOGS_ITS_EVENT = "import json\n\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"


def lambda_function(emulator) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", LOGS_ITS_EVENT)
    name = unique("tracker")
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=create_role(emulator, ["logs:*"], service="lambda.amazonaws.com"),
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def allow_rule(emulator, function_arn: str, rule_arn: str) -> None:
    emulator.client("lambda").add_permission(
        FunctionName=function_arn,
        StatementId=unique("events"),
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )


def logged_events(emulator, function_arn: str, timeout: float = 20) -> list[dict[str, Any]]:
    logs = emulator.client("logs")
    group = f"/aws/lambda/{function_arn.rsplit(':', 1)[1]}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = logs.filter_log_events(logGroupName=group, filterPattern="EVENT")["events"]
        except logs.exceptions.ResourceNotFoundException:
            found = []
        events = [json.loads(e["message"].split("EVENT ", 1)[1]) for e in found if "EVENT " in e["message"]]
        if events:
            return events
        time.sleep(0.3)
    return []


def test_a_lambda_target_allowed_for_the_rule_is_invoked_with_the_event(emulator, machine_role):
    function = lambda_function(emulator)
    sm = machine(emulator, FAIL, machine_role)
    rule_arn = rule(emulator, status_pattern(sm, ["FAILED"]), [{"Id": "tracker", "Arn": function}])
    allow_rule(emulator, function, rule_arn)

    execution = start(emulator, sm)
    finish(emulator, execution)

    [delivery] = deliveries(emulator, rule_arn)
    assert delivery["status"] == "delivered"
    assert delivery["result"] == {"status_code": 202}
    [event] = logged_events(emulator, function)
    assert event["detail-type"] == DETAIL_TYPE
    assert event["resources"] == [execution]
    assert event["detail"]["status"] == "FAILED"
    assert event["detail"]["error"] == "Etl.Broken"


def test_a_lambda_target_without_a_permission_for_the_rule_is_not_invoked(emulator, machine_role):
    function = lambda_function(emulator)
    sm = machine(emulator, FAIL, machine_role)
    rule_arn = rule(emulator, status_pattern(sm, ["FAILED"]), [{"Id": "tracker", "Arn": function}])
    allow_rule(emulator, function, rule_arn.replace(":rule/", ":rule/another-"))  # some other rule

    finish(emulator, start(emulator, sm))

    [delivery] = deliveries(emulator, rule_arn)
    assert delivery["status"] == "failed"
    assert delivery["error"].startswith(
        f"the resource-based policy of {function} does not allow events.amazonaws.com to perform "
        f"lambda:InvokeFunction for rule {rule_arn}"
    )
    assert logged_events(emulator, function, timeout=3) == []
    assert emulator.control.status()["events"]["failed"] >= 1


def test_a_failed_delivery_goes_to_the_targets_dead_letter_queue(emulator, machine_role):
    function = lambda_function(emulator)  # no permission at all
    dlq_url, dlq_arn = queue(emulator)
    sm = machine(emulator, FAIL, machine_role)
    target = {"Id": "tracker", "Arn": function, "DeadLetterConfig": {"Arn": dlq_arn}}
    rule_arn = rule(emulator, status_pattern(sm, ["FAILED"]), [target])

    execution = start(emulator, sm)
    finish(emulator, execution)

    [delivery] = deliveries(emulator, rule_arn)
    assert delivery["status"] == "failed"
    assert "has no resource-based policy" in delivery["error"]
    sqs = emulator.client("sqs")
    [message] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"], WaitTimeSeconds=2)[
        "Messages"
    ]
    assert json.loads(message["Body"])["resources"] == [execution]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == function
    assert "has no resource-based policy" in attributes["ERROR_MESSAGE"]


def test_a_state_machine_target_starts_as_its_role_with_the_transformed_input(emulator, machine_role):
    watched = machine(emulator, FAIL, machine_role)
    tracker = machine(emulator, PASS, machine_role)
    events_role = create_role(emulator, ["states:StartExecution"], service="events.amazonaws.com")
    transformer = {
        "InputPathsMap": {"execution": "$.detail.executionArn", "error": "$.detail.error"},
        "InputTemplate": '{"failed_execution": <execution>, "error": <error>}',
    }
    target = {"Id": "tracker", "Arn": tracker, "RoleArn": events_role, "InputTransformer": transformer}
    rule_arn = rule(emulator, status_pattern(watched, ["FAILED"]), [target])

    failed = start(emulator, watched)
    finish(emulator, failed)

    [delivery] = deliveries(emulator, rule_arn)
    assert delivery["status"] == "delivered"
    assert delivery["result"]["role"].startswith(
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{events_role.split('/')[-1]}/"
    )
    started = emulator.client("stepfunctions").describe_execution(
        executionArn=delivery["result"]["execution_arn"]
    )
    assert json.loads(started["input"]) == {"failed_execution": failed, "error": "Etl.Broken"}


def test_a_state_machine_target_whose_role_may_not_start_executions_fails(emulator, machine_role):
    if not emulator.control.status().get("iam", {}).get("enforcement"):
        pytest.skip("the emulator under test enforces no IAM policies")
    watched = machine(emulator, FAIL, machine_role)
    tracker = machine(emulator, PASS, machine_role)
    weak_role = create_role(emulator, ["sqs:SendMessage"], service="events.amazonaws.com")
    rule_arn = rule(
        emulator,
        status_pattern(watched, ["FAILED"]),
        [{"Id": "tracker", "Arn": tracker, "RoleArn": weak_role}],
    )

    finish(emulator, start(emulator, watched))

    [delivery] = deliveries(emulator, rule_arn)
    assert delivery["status"] == "failed"
    assert "AccessDenied" in delivery["error"]
    assert "states:StartExecution" in delivery["error"]
    assert emulator.client("stepfunctions").list_executions(stateMachineArn=tracker)["executions"] == []


def test_an_express_workflow_puts_no_status_events(emulator, machine_role):
    url, queue_arn = queue(emulator)
    sfn = emulator.client("stepfunctions")
    express = sfn.create_state_machine(
        name=unique("express"), definition=json.dumps(PASS), roleArn=machine_role, type="EXPRESS"
    )["stateMachineArn"]
    rule_arn = rule(
        emulator,
        {"source": ["aws.states"], "detail": {"stateMachineArn": [express]}},
        [{"Id": "q", "Arn": queue_arn}],
    )

    sfn.start_execution(stateMachineArn=express, input="{}")

    assert deliveries(emulator, rule_arn) == []
    assert received(emulator, url, 1, timeout=2) == []


def test_put_events_reaches_lambda_targets_and_sqs_targets_once(emulator):
    function = lambda_function(emulator)
    url, queue_arn = queue(emulator)
    source = unique("etl.tests")
    rule_arn = rule(
        emulator,
        {"source": [source], "detail": {"status": ["FAILED"]}},
        [{"Id": "tracker", "Arn": function}, {"Id": "q", "Arn": queue_arn}],
    )
    allow_rule(emulator, function, rule_arn)

    answer = emulator.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Run", "Detail": json.dumps({"status": "FAILED"})}]
    )

    [delivery] = deliveries(emulator, rule_arn)  # SQS is moto's own delivery, not the router's
    assert delivery["target_id"] == "tracker"
    assert delivery["status"] == "delivered"
    [event] = logged_events(emulator, function)
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert (event["source"], event["detail-type"], event["detail"]) == (source, "Run", {"status": "FAILED"})
    assert len(received(emulator, url, 2, timeout=3)) == 1
