"""`emulator fire`, `emulator fault`, `emulator outbox` and `emulator status`, run as a user runs them."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import ROOT, _free_port
from tests.emulator.roles import create_role

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        cwd=ROOT,
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def faults(emulator):
    yield emulator.control
    emulator.control.clear_faults()


def test_fire_starts_the_target_as_of_the_given_time(emulator):
    sfn, events = emulator.client("stepfunctions"), emulator.client("events")
    # The rule's target starts the execution as this role: EventBridge must be able to assume it.
    role = create_role(emulator, ["states:StartExecution"], service="events.amazonaws.com")
    machine = sfn.create_state_machine(
        name=f"etl-{uuid.uuid4().hex[:8]}", definition=PASS_MACHINE, roleArn=role
    )["stateMachineArn"]
    rule = f"daily-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, ScheduleExpression="cron(0 6 * * ? *)")
    transformer = {"InputPathsMap": {"time": "$.time"}, "InputTemplate": '{"run_date": "<time>"}'}
    events.put_targets(
        Rule=rule, Targets=[{"Id": "etl", "Arn": machine, "RoleArn": role, "InputTransformer": transformer}]
    )

    run = cli(emulator.env, "fire", rule, "--at", "2026-11-22T06:00:00Z")

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"fired {rule} as of 2026-11-22T06:00:00Z"
    execution = run.stdout.splitlines()[1].split("started ")[1]
    assert sfn.describe_execution(executionArn=execution)["input"] == '{"run_date":"2026-11-22T06:00:00Z"}'


def test_fire_of_an_unknown_rule_fails_with_the_reason(emulator):
    run = cli(emulator.env, "fire", "no-such-rule")

    assert run.returncode == 1
    assert "rule no-such-rule does not exist" in run.stderr


def test_fault_sets_knobs_and_adds_named_failures(emulator, faults):
    first = cli(
        emulator.env,
        "fault",
        "--dynamodb-unprocessed",
        "0.3",
        "--sticky",
        "--fail-lambda",
        "extract=disk full",
    )
    second = cli(emulator.env, "fault", "--fail-lambda", "notify=SES down", "--fail-glue", "load_orders=OOM")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == faults.faults()
    assert faults.faults() == {
        "dynamodb_unprocessed": 0.3,
        "dynamodb_unprocessed_sticky": True,
        "dynamodb_unprocessed_keys": [],
        "fail_lambda": {"extract": "disk full", "notify": "SES down"},
        "fail_glue": {"load_orders": "OOM"},
        "seed": None,
    }


def test_fault_adds_keys_whose_writes_always_come_back_unprocessed(emulator, faults):
    first = cli(
        emulator.env, "fault", "--dynamodb-unprocessed-key", "ORD-1", "--dynamodb-unprocessed-key", "ORD-2"
    )
    second = cli(
        emulator.env, "fault", "--dynamodb-unprocessed-key", "ORD-3", "--dynamodb-unprocessed-key", "ORD-1"
    )

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["dynamodb_unprocessed_keys"] == ["ORD-1", "ORD-2", "ORD-3"]
    assert faults.faults()["dynamodb_unprocessed_keys"] == ["ORD-1", "ORD-2", "ORD-3"]


def test_fault_clear_resets_every_knob(emulator, faults):
    faults.set_faults(
        dynamodb_unprocessed=0.5,
        dynamodb_unprocessed_sticky=True,
        dynamodb_unprocessed_keys=["ORD-1"],
        fail_glue={"load_orders": "OOM"},
    )

    run = cli(emulator.env, "fault", "--clear")

    assert run.returncode == 0, run.stderr
    assert faults.faults() == {
        "dynamodb_unprocessed": 0.0,
        "dynamodb_unprocessed_sticky": False,
        "dynamodb_unprocessed_keys": [],
        "fail_lambda": {},
        "fail_glue": {},
        "seed": None,
    }


def test_fault_refuses_a_failure_without_a_message_separator(emulator, faults):
    run = cli(emulator.env, "fault", "--fail-lambda", "extract")

    assert run.returncode == 2
    assert "expected NAME=MESSAGE" in run.stderr
    assert faults.faults()["fail_lambda"] == {}


def test_outbox_lists_the_sent_mail_and_prints_the_newest(emulator):
    sns = emulator.client("sns")
    topic = sns.create_topic(Name=f"status-{uuid.uuid4().hex[:8]}")["TopicArn"]
    address = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    sns.publish(TopicArn=topic, Subject="ETL 2026-11-22: SUCCEEDED", Message="loaded 98")

    listing = cli(emulator.env, "outbox")
    newest = cli(emulator.env, "outbox", "--last")

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    [index] = [n for n, line in enumerate(lines) if not line.startswith(" ") and address in line]
    assert lines[index].endswith(f"  {address}  ETL 2026-11-22: SUCCEEDED")
    assert lines[index + 1].strip().endswith(f"-{address}.eml")
    sender, to, date, subject, blank, body = newest.stdout.splitlines()
    assert (sender, to, subject, blank, body) == (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>",
        f"To: {address}",
        "Subject: ETL 2026-11-22: SUCCEEDED",
        "",
        "loaded 98",
    )
    assert date.startswith("Date: ")


def test_status_prints_the_outbox_path(emulator):
    run = cli(emulator.env, "status")

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["outbox"] == str(emulator.state_dir / "outbox")
    assert f"email outbox: {emulator.state_dir / 'outbox'}" in run.stderr


@pytest.mark.parametrize("command", [["fire", "daily"], ["fault", "--clear"], ["outbox"]])
def test_commands_say_so_when_no_emulator_runs(command, tmp_path):
    env = {"EMULATOR_PORT": str(_free_port()), "EMULATOR_STATE_DIR": str(tmp_path)}

    run = cli(env, *command)

    assert run.returncode == 1
    assert "no emulator answers at" in run.stderr
    assert "emulator up" in run.stderr
