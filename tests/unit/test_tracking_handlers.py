"""The four tracking Lambdas end to end: each handler invoked as the runtime invokes it, on AWS in-process,
with the payloads the state machine sends."""

from __future__ import annotations

import json

import boto3
import pytest

from pipeline import layout
from pipeline.runs import RunLockedError

WRITE_ERROR = "ProvisionedThroughputExceededException"
RUN_DATE = "2026-11-22"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22"


def invoke(load_handler, name, event, context):
    answer = load_handler(name).lambda_handler(event, context)
    # Step Functions carries the answer as JSON: it must survive the trip unchanged.
    assert json.loads(json.dumps(answer)) == answer
    return answer


def begin(load_handler, context, arn=EXECUTION_ARN, **run_input):
    event = {
        "input": {"run_date": "2026-11-22T06:00:00Z", **run_input},
        "execution_arn": arn,
        "started_at": "2026-11-22T06:00:00.000Z",
    }
    return invoke(load_handler, "track_begin", event, context)


def test_a_nightly_run_is_begun_tracked_and_announced(aws, load_handler, lambda_context, run_data):
    begun = begin(load_handler, lambda_context)
    run = begun["run"]
    assert (run["run_date"], run["force"]) == (RUN_DATE, False)
    report = run_data.sample_report(run["run_id"], staged=12, loaded=7, rejected=4, failed=1)
    run_data.put_load_output(aws, run["run_id"], report, [(run_data.fresh_record("O-1", 1), WRITE_ERROR)])
    extract = {
        "manifest_key": layout.manifest_key(run["run_id"]),
        "staged_records": 12,
        "extracted": 12,
        "retried_in": 0,
    }

    result = invoke(load_handler, "track_result", {"run": run, "extract": extract}, lambda_context)
    notified = invoke(load_handler, "notify", {"run": run, "result": result}, lambda_context)

    assert result["status"] == "SUCCEEDED_WITH_ERRORS"
    assert result["counts"]["queued_for_retry"] == 1
    assert len(aws.queue_messages(aws.config.retry_queue_url)) == 1
    assert aws.store.get(RUN_DATE)["status"] == "SUCCEEDED_WITH_ERRORS"
    [email] = aws.emails()
    assert (
        email["Subject"]
        == notified["subject"]
        == ("[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-11-22: 7 loaded, 4 rejected, 1 retrying")
    )
    assert f"Run id:     {run['run_id']}\n" in email["Message"]
    assert "Retry queue: 1 record waiting for the next run (1 message in the queue)\n" in email["Message"]


def test_begin_run_refuses_a_date_whose_holder_runs_even_forced_and_takes_it_once_stopped(
    aws, load_handler, lambda_context
):
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="nightly-etl-etl",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/nightly-etl-etl-states",
    )["stateMachineArn"]
    holder = sfn.start_execution(stateMachineArn=machine, name="daily-2026-11-22")["executionArn"]
    assert sfn.describe_execution(executionArn=holder)["status"] == "RUNNING"
    begin(load_handler, lambda_context, arn=holder)

    with pytest.raises(RunLockedError, match=f"is RUNNING in execution {holder} .*stop-execution"):
        begin(load_handler, lambda_context, arn=EXECUTION_ARN + "-2")
    with pytest.raises(
        RunLockedError, match="--force does not take a date from an execution that still runs"
    ):
        begin(load_handler, lambda_context, arn=EXECUTION_ARN + "-3", force=True)
    sfn.stop_execution(executionArn=holder, cause="stopped by the operator")
    taken = begin(load_handler, lambda_context, arn=EXECUTION_ARN + "-4")

    item = aws.store.get(RUN_DATE)
    assert (item["lock"], item["attempts"], item["run_id"], item["force"]) == (
        EXECUTION_ARN + "-4",
        2,
        taken["run"]["run_id"],
        False,
    )
    assert item["took_over"] == {"execution_arn": holder, "status": "ABORTED"}


def test_a_failed_extract_is_recorded_and_announced(aws, load_handler, lambda_context):
    run = begin(load_handler, lambda_context)["run"]
    cause = json.dumps(
        {
            "errorType": "HeaderError",
            "errorMessage": "s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv is empty: "
            "expected a header row with order_id, order_date, customer, product_id, quantity, amount, currency",
            "stackTrace": [],
        }
    )
    state = {
        "run_date": "2026-11-22T06:00:00Z",
        "begin": {"value": {"run": run}},
        "error": {"Error": "HeaderError", "Cause": cause},
        "failed_state": "Extract",
    }

    failure = invoke(
        load_handler,
        "track_failure",
        {"state": state, "execution_arn": EXECUTION_ARN, "started_at": "2026-11-22T06:00:00.000Z"},
        lambda_context,
    )
    # NotifyFailure's payload: {"run.$": "$.result.value.run", "result.$": "$.result.value"}
    invoke(load_handler, "notify", {"run": failure["run"], "result": failure}, lambda_context)

    assert (failure["status"], failure["recorded"], failure["run"]) == ("FAILED", True, run)
    item = aws.store.get(RUN_DATE)
    assert (item["status"], item["error"]["error"]) == ("FAILED", "HeaderError")
    assert "lock" not in item
    [email] = aws.emails()
    assert email["Subject"] == "[nightly-etl] FAILED 2026-11-22 at Extract: HeaderError"
    assert (
        "  Extract failed: HeaderError: s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv is empty: "
        in email["Message"]
    )
