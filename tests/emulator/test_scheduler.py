"""Firing scheduled EventBridge rules in a running emulator, through boto3 and the control API."""

import io
import json
import subprocess
import time
import uuid
import zipfile
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import start_emulator
from tests.emulator.roles import create_role

ROLE = "arn:aws:iam::123456789012:role/events"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
FIRED_AT = "2026-11-22T06:00:00Z"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", autouse=True)
def events_role(emulator) -> str:
    """ROLE: the role EventBridge assumes to start executions, as the schedule module's target role."""
    return create_role(emulator, ["states:StartExecution"], service="events.amazonaws.com", name="events")


def rule_arn(name: str) -> str:
    return f"arn:aws:events:us-east-1:123456789012:rule/{name}"


def state_machine(emulator) -> str:
    sfn = emulator.client("stepfunctions")
    return sfn.create_state_machine(name=unique("etl"), definition=PASS_MACHINE, roleArn=ROLE)[
        "stateMachineArn"
    ]


def scheduled_rule(emulator, targets, expression="cron(0 6 * * ? *)", state="ENABLED") -> str:
    events = emulator.client("events")
    name = unique("daily")
    events.put_rule(Name=name, ScheduleExpression=expression, State=state)
    if targets:
        events.put_targets(Rule=name, Targets=targets)
    return name


def queue(emulator) -> tuple[str, str]:
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def execution_input(emulator, execution_arn: str) -> str:
    return emulator.client("stepfunctions").describe_execution(executionArn=execution_arn)["input"]


def test_firing_the_daily_rule_starts_the_state_machine_with_the_transformed_input(emulator):
    machine = state_machine(emulator)
    transformer = {"InputPathsMap": {"time": "$.time"}, "InputTemplate": '{"run_date": "<time>"}'}
    rule = scheduled_rule(
        emulator, [{"Id": "etl", "Arn": machine, "RoleArn": ROLE, "InputTransformer": transformer}]
    )

    result = emulator.control.fire(rule, at=FIRED_AT)

    target = result["targets"][0]
    assert result["failed"] == 0
    assert result["time"] == FIRED_AT
    assert target["execution_arn"].startswith(machine.replace(":stateMachine:", ":execution:") + ":")
    assert execution_input(emulator, target["execution_arn"]) == '{"run_date":"2026-11-22T06:00:00Z"}'


def test_an_unquoted_time_placeholder_passes_the_whole_timestamp_not_the_date(emulator):
    machine = state_machine(emulator)
    transformer = {"InputPathsMap": {"time": "$.time"}, "InputTemplate": '{"run_date": <time>}'}
    rule = scheduled_rule(
        emulator, [{"Id": "etl", "Arn": machine, "RoleArn": ROLE, "InputTransformer": transformer}]
    )

    result = emulator.control.fire(rule, at=FIRED_AT)

    assert json.loads(execution_input(emulator, result["targets"][0]["execution_arn"])) == {
        "run_date": "2026-11-22T06:00:00Z"
    }


def test_each_firing_starts_a_new_execution(emulator):
    machine = state_machine(emulator)
    rule = scheduled_rule(emulator, [{"Id": "etl", "Arn": machine, "RoleArn": ROLE, "Input": "{}"}])

    first = emulator.control.fire(rule, at="2026-11-21T06:00:00Z")["targets"][0]["execution_arn"]
    second = emulator.control.fire(rule, at="2026-11-22T06:00:00Z")["targets"][0]["execution_arn"]

    executions = emulator.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert first != second
    assert {e["executionArn"] for e in executions} == {first, second}


def test_a_queue_target_without_input_receives_the_scheduled_event(emulator):
    url, arn = queue(emulator)
    rule = scheduled_rule(emulator, [{"Id": "q", "Arn": arn}])

    result = emulator.control.fire(rule, at=FIRED_AT)

    body = emulator.client("sqs").receive_message(QueueUrl=url)["Messages"][0]["Body"]
    event = json.loads(body)
    assert event == {
        "version": "0",
        "id": result["event"]["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": FIRED_AT,
        "region": "us-east-1",
        "resources": [result["rule_arn"]],
        "detail": {},
    }
    assert uuid.UUID(event["id"])
    assert result["rule_arn"] == f"arn:aws:events:us-east-1:123456789012:rule/{rule}"


def test_a_topic_target_publishes_the_constant_input_to_its_email_subscribers(emulator):
    sns = emulator.client("sns")
    topic = sns.create_topic(Name=unique("status"))["TopicArn"]
    address = f"{unique('ops')}@example.com"
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    rule = scheduled_rule(emulator, [{"Id": "t", "Arn": topic, "Input": '"nightly check"'}])

    result = emulator.control.fire(rule, at=FIRED_AT)

    assert result["targets"][0]["message_id"]
    [message] = [m for m in emulator.control.outbox() if m["to"] == address]
    with Path(message["path"]).open("rb") as handle:
        mail = BytesParser(policy=policy.default).parse(handle)
    assert mail.get_content().strip() == '"nightly check"'


LAMBDA_WRITES_ITS_EVENT = """
import json

import boto3


def handler(event, context):
    boto3.client("s3").put_object(Bucket=event["bucket"], Key="event.json", Body=json.dumps(event))
"""


def lambda_function(emulator, source: str) -> str:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", source)
    name = unique("fn")
    role = create_role(emulator, ["s3:PutObject", "logs:*"], service="lambda.amazonaws.com")
    emulator.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def test_a_lambda_target_is_invoked_asynchronously_with_the_transformed_input(emulator):
    bucket = unique("fired")
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=bucket)
    function = lambda_function(emulator, LAMBDA_WRITES_ITS_EVENT)
    transformer = {
        "InputPathsMap": {"time": "$.time"},
        "InputTemplate": f'{{"bucket": "{bucket}", "rule": <aws.events.rule-name>, "time": <time>}}',
    }
    rule = scheduled_rule(emulator, [{"Id": "fn", "Arn": function, "InputTransformer": transformer}])
    emulator.client("lambda").add_permission(
        FunctionName=function,
        StatementId="daily",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn(rule),
    )

    result = emulator.control.fire(rule, at=FIRED_AT)

    assert result["targets"][0].get("status_code") == 202, result["targets"][0].get("error")
    deadline = time.monotonic() + 30
    while not s3.list_objects_v2(Bucket=bucket).get("Contents") and time.monotonic() < deadline:
        time.sleep(0.2)
    written = json.loads(s3.get_object(Bucket=bucket, Key="event.json")["Body"].read())
    assert written == {"bucket": bucket, "rule": rule, "time": FIRED_AT}


def test_a_lambda_target_whose_policy_does_not_name_the_rule_is_not_invoked(emulator):
    function = lambda_function(emulator, LAMBDA_WRITES_ITS_EVENT)
    rule = scheduled_rule(emulator, [{"Id": "fn", "Arn": function, "Input": "{}"}])
    other = rule_arn(unique("other"))
    emulator.client("lambda").add_permission(
        FunctionName=function,
        StatementId="other-rule",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=other,
    )

    result = emulator.control.fire(rule, at=FIRED_AT)

    assert result["failed"] == 1
    error = result["targets"][0]["error"]
    assert error.startswith(f"the resource-based policy of {function} does not allow events.amazonaws.com")
    assert rule_arn(rule) in error
    assert "status_code" not in result["targets"][0]


def test_a_state_machine_target_starts_the_execution_as_the_targets_role(emulator):
    machine = state_machine(emulator)
    rule = scheduled_rule(emulator, [{"Id": "etl", "Arn": machine, "RoleArn": ROLE, "Input": "{}"}])

    target = emulator.control.fire(rule, at=FIRED_AT)["targets"][0]

    assert target["role"].startswith("arn:aws:sts::123456789012:assumed-role/events/events-")
    assert target["execution_arn"].startswith(machine.replace(":stateMachine:", ":execution:"))


def test_a_state_machine_target_whose_role_may_not_start_it_fails(emulator):
    if not emulator.control.status().get("iam", {}).get("enforcement"):
        pytest.skip("the emulator under test enforces no IAM policies")
    machine = state_machine(emulator)
    weak = create_role(emulator, ["sqs:SendMessage"], service="events.amazonaws.com")
    rule = scheduled_rule(emulator, [{"Id": "etl", "Arn": machine, "RoleArn": weak, "Input": "{}"}])

    target = emulator.control.fire(rule, at=FIRED_AT)["targets"][0]

    assert "AccessDenied" in target["error"]
    assert "states:StartExecution" in target["error"]
    assert emulator.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_a_state_machine_target_whose_role_does_not_trust_eventbridge_fails(emulator):
    machine = state_machine(emulator)
    untrusting = create_role(emulator, ["states:StartExecution"], service="lambda.amazonaws.com")
    rule = scheduled_rule(emulator, [{"Id": "etl", "Arn": machine, "RoleArn": untrusting, "Input": "{}"}])

    target = emulator.control.fire(rule, at=FIRED_AT)["targets"][0]

    assert "events.amazonaws.com" in target["error"]
    assert emulator.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_a_target_whose_input_cannot_be_built_fails_alone(emulator):
    url, queue_arn = queue(emulator)
    machine = state_machine(emulator)
    broken = {"InputPathsMap": {"r": "$.resources"}, "InputTemplate": '{"r": "<r>"}'}
    rule = scheduled_rule(
        emulator,
        [
            {"Id": "broken", "Arn": machine, "RoleArn": ROLE, "InputTransformer": broken},
            {"Id": "q", "Arn": queue_arn, "Input": '{"ok": true}'},
        ],
    )

    result = emulator.control.fire(rule, at=FIRED_AT)

    by_id = {target["id"]: target for target in result["targets"]}
    assert result["failed"] == 1
    assert "not valid JSON" in by_id["broken"]["error"]
    assert by_id["q"]["message_id"]
    assert emulator.client("sqs").receive_message(QueueUrl=url)["Messages"][0]["Body"] == '{"ok": true}'
    assert emulator.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_an_unknown_rule_is_refused(emulator):
    with pytest.raises(RuntimeError, match="rule no-such-rule does not exist on event bus default"):
        emulator.control.fire("no-such-rule")


def test_a_rule_without_targets_is_refused(emulator):
    rule = scheduled_rule(emulator, [])
    with pytest.raises(RuntimeError, match=f"rule {rule} has no targets"):
        emulator.control.fire(rule)


def test_a_pattern_rule_is_not_fired_as_a_schedule(emulator):
    events = emulator.client("events")
    name = unique("pattern")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["orders"]}))
    with pytest.raises(RuntimeError, match="has no schedule expression"):
        emulator.control.fire(name)


def test_a_disabled_rule_fires_only_when_forced(emulator):
    url, arn = queue(emulator)
    rule = scheduled_rule(emulator, [{"Id": "q", "Arn": arn, "Input": "{}"}], state="DISABLED")

    with pytest.raises(RuntimeError, match=f"rule {rule} is DISABLED"):
        emulator.control.fire(rule)
    forced = emulator.control.fire(rule, force=True)

    assert forced["targets"][0]["message_id"]
    assert len(emulator.client("sqs").receive_message(QueueUrl=url)["Messages"]) == 1


def test_without_a_time_the_rule_fires_as_of_now(emulator):
    _, arn = queue(emulator)
    rule = scheduled_rule(emulator, [{"Id": "q", "Arn": arn}])

    before = datetime.now(UTC).replace(microsecond=0)
    fired = datetime.fromisoformat(emulator.control.fire(rule)["time"].replace("Z", "+00:00"))
    after = datetime.now(UTC)

    assert before <= fired <= after


def test_a_malformed_time_is_refused(emulator):
    _, arn = queue(emulator)
    rule = scheduled_rule(emulator, [{"Id": "q", "Arn": arn}])
    with pytest.raises(RuntimeError, match="time must be ISO 8601"):
        emulator.control.fire(rule, at="22/11/2026 06:00")


def test_status_shows_each_scheduled_rule_with_its_next_fire_time(emulator):
    _, arn = queue(emulator)
    rule = scheduled_rule(emulator, [{"Id": "q", "Arn": arn}], expression="cron(30 4 1 JAN ? 2099)")

    scheduler = emulator.control.status()["scheduler"]

    [row] = [row for row in scheduler["rules"] if row["rule"] == rule]
    assert row == {
        "rule": rule,
        "event_bus": "default",
        "schedule": "cron(30 4 1 JAN ? 2099)",
        "state": "ENABLED",
        "next_fire": "2099-01-01T04:30:00Z",
    }
    assert scheduler["running"] is False


def test_started_with_schedules_the_emulator_plans_rules_as_they_are_created(tmp_path, monkeypatch):
    monkeypatch.setenv("EMULATOR_RUN_SCHEDULES", "1")
    process, running = start_emulator(tmp_path)
    try:
        rule = scheduled_rule(running, [], expression="cron(0 6 1 JAN ? 2099)")
        scheduler = running.control.status()["scheduler"]
        # the runner picks new rules up on its next tick
        for _ in range(50):
            if scheduler["rules"]:
                break
            time.sleep(0.1)
            scheduler = running.control.status()["scheduler"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    assert scheduler["running"] is True
    assert scheduler["next_fire"] == "2099-01-01T06:00:00Z"
    assert [row["rule"] for row in scheduler["rules"]] == [rule]
