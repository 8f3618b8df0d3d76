"""BeginRun, TrackResult, RecordFailure and requeue as services, against AWS in-process."""

from __future__ import annotations

import hashlib
import json

import pytest

from emulator.dynamodb_capacity import item_size as emulator_item_size
from pipeline import budgets, layout, retry
from pipeline.report import ReasonSummary
from pipeline.run_store import Run
from pipeline.runs import AccountingError, RunLockedError, parse_run_date
from pipeline.staging import Chunk, Manifest, Origin, StagedRecord, decode_lines, encode_lines
from pipeline.tracking import (
    QueueSendError,
    RunInputError,
    begin_run,
    describe_failure,
    execution_holder,
    record_failure,
    requeue_quarantined,
    requeue_retried_after_failure,
    requeued_marker_key,
    send_messages,
    track_result,
)
from pipeline.transforms import example
from tests.unit.staged_runs import staged_retries

from .worst_case import worst_case_report

EARLIER_RUN = "2026-11-19-0a1b2c3d4e"
WRITE_ERROR = "ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput"
EXTRACT = {
    "manifest_key": "runs/placeholder/manifest.json",
    "staged_records": 12,
    "extracted": 10,
    "retried_in": 2,
}


def dedup_id(run_id: str, part: str) -> str:
    return hashlib.sha256(f"{run_id}/{part}".encode()).hexdigest()


def extract_result(run: dict, **overrides) -> dict:
    return {**EXTRACT, "manifest_key": layout.manifest_key(run["run_id"]), **overrides}


def load_with_failures(run_data, aws, run: dict) -> None:
    """12 staged: 5 loaded, 4 rejected, 3 failed: two fresh rows and one on its third attempt."""
    run_data.put_load_output(
        aws,
        run["run_id"],
        run_data.sample_report(run["run_id"]),
        [
            (run_data.fresh_record("O-1", 1), WRITE_ERROR),
            (run_data.fresh_record("O-2", 2), WRITE_ERROR),
            (run_data.retried_record("O-old", 2, EARLIER_RUN), WRITE_ERROR),
        ],
    )


# --- BeginRun -----------------------------------------------------------------------------------


def test_begin_run_normalises_a_timestamp_to_the_date_and_claims_it(aws, clock, run_data):
    event = {
        "input": {"run_date": "2026-11-22T06:00:00Z", "force": "true"},
        "execution_arn": run_data.EXECUTION_ARN,
        "started_at": "2026-11-22T06:00:00.000Z",
    }

    answer = begin_run(aws.store, event, clock)

    run_id = layout.run_id_for(parse_run_date(run_data.RUN_DATE), run_data.EXECUTION_ARN)
    assert answer == {
        "run": {
            "run_id": run_id,
            "run_date": run_data.RUN_DATE,
            "execution_arn": run_data.EXECUTION_ARN,
            "started_at": run_data.STARTED_AT,
            "force": True,
        }
    }
    item = aws.store.get(run_data.RUN_DATE)
    assert (item["status"], item["lock"], item["run_id"]) == ("RUNNING", run_data.EXECUTION_ARN, run_id)
    assert item["stages"] == {
        "BeginRun": {
            "status": "SUCCEEDED",
            "started_at": run_data.STARTED_AT,
            "finished_at": "2026-11-22T06:00:01.250Z",
        }
    }


def test_begin_run_without_a_run_date_says_how_to_start_the_execution(aws, clock, run_data):
    with pytest.raises(RunInputError, match=r'start the execution with \{"run_date": "YYYY-MM-DD"\}'):
        begin_run(aws.store, {"input": {}, "execution_arn": run_data.EXECUTION_ARN}, clock)


def test_begin_run_for_a_date_another_execution_is_running_raises_run_locked(aws, clock, run, run_data):
    other = {
        "input": {"run_date": run_data.RUN_DATE},
        "execution_arn": run_data.EXECUTION_ARN + "-2",
        "started_at": run_data.STARTED_AT,
    }
    with pytest.raises(RunLockedError, match=f"is held by execution {run_data.EXECUTION_ARN} "):
        begin_run(aws.store, other, clock)


# --- TrackResult --------------------------------------------------------------------------------


def test_failed_records_go_back_to_the_fifo_queue_with_their_attempt_incremented(aws, clock, run, run_data):
    load_with_failures(run_data, aws, run)

    track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock)

    messages = aws.queue_messages(aws.config.retry_queue_url)
    assert len(messages) == 1
    attributes = messages[0]["Attributes"]
    assert attributes["MessageDeduplicationId"] == dedup_id(run["run_id"], "0")
    assert attributes["MessageGroupId"] == f"{run['run_id']}/0"
    records = retry.unpack(messages[0]["Body"], aws.fetch)
    assert [(r.raw["order_id"], r.origin.kind, r.origin.attempt) for r in records] == [
        ("O-1", "retry", 1),
        ("O-2", "retry", 1),
    ]
    assert {r.origin.first_failed_run for r in records} == {run["run_id"]}
    assert {r.origin.last_error for r in records} == {WRITE_ERROR}


def test_a_record_out_of_attempts_is_quarantined_in_s3_and_announced_on_the_dlq(aws, clock, run, run_data):
    load_with_failures(run_data, aws, run)

    answer = track_result(
        aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock
    )

    key = f"tracking/quarantine/{run['run_id']}/records.jsonl.gz"
    assert answer["quarantine_key"] == key
    assert answer["quarantine_reasons"] == {"max_attempts": 1}
    [record] = [StagedRecord.from_json(line) for line in decode_lines(aws.read(key))]
    assert (record.raw["order_id"], record.origin.attempt, record.origin.first_failed_run) == (
        "O-old",
        3,
        EARLIER_RUN,
    )
    [announcement] = aws.queue_messages(aws.config.retry_dlq_url)
    assert json.loads(announcement["Body"]) == {
        "v": 1,
        "run_id": run["run_id"],
        "s3": {"bucket": aws.config.staging_bucket, "key": key},
        "count": 1,
    }
    assert announcement["Attributes"]["MessageDeduplicationId"] == dedup_id(run["run_id"], "s3-0")


def test_the_run_item_holds_the_counts_reasons_aggregates_backlog_and_stages(aws, clock, run, run_data):
    load_with_failures(run_data, aws, run)
    aws.dynamodb.put_item(
        TableName=aws.config.runs_table,
        Item={"run_date": {"S": "2026-11-21"}, "quarantine_total": {"N": "4"}},
    )

    answer = track_result(
        aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock
    )

    counts = {
        "extracted": 10,
        "retried_in": 2,
        "loaded": 5,
        "rejected": 4,
        "queued_for_retry": 2,
        "quarantined": 1,
        "duplicates_dropped": 0,
    }
    item = aws.store.get(run_data.RUN_DATE)
    assert item["status"] == answer["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["counts"] == answer["counts"] == counts
    assert item["identity_ok"] is True
    assert "lock" not in item
    assert item["rejection_reasons"] == {"unknown_product": 3, "negative_amount": 1}
    assert item["examples"]["negative_amount"] == ["O-9 (row 9 of orders.csv)"]
    assert item["failure_errors"] == {"ProvisionedThroughputExceededException": 3}
    assert item["aggregates"] == {
        "orders": 5,
        "quantity": 10,
        "revenue": {"EUR": "99.50"},
        "by_category": {"books": {"orders": 5, "revenue": {"EUR": "99.50"}}},
    }
    assert (item["retry_backlog"], item["retry_backlog_messages"]) == (2, 1)
    assert item["quarantine_total"] == answer["quarantine_total"] == 5
    assert item["report_key"] == answer["report_key"] == f"runs/{run['run_id']}/report.json"
    assert item["finished_at"] == "2026-11-22T06:00:02.250Z"
    assert set(item["stages"]) == {"BeginRun", "Extract", "Load", "TrackResult"}
    assert item["stages"]["TrackResult"] == {
        "status": "SUCCEEDED",
        "started_at": "2026-11-22T06:00:02.250Z",
        "finished_at": "2026-11-22T06:00:02.250Z",
    }
    assert item["stages"]["Extract"]["started_at"] == "2026-11-22T06:00:01.250Z"
    assert item["stages"]["Load"]["status"] == "SUCCEEDED"
    assert answer["run"] == run


def test_tracking_the_same_result_twice_queues_nothing_twice_and_writes_the_same_item(
    aws, clock, run, run_data
):
    load_with_failures(run_data, aws, run)
    event = {"run": run, "extract": extract_result(run)}

    first = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)
    item = aws.store.get(run_data.RUN_DATE)
    clock.advance(30)
    second = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)

    assert second == first
    assert aws.store.get(run_data.RUN_DATE) == item
    assert len(aws.queue_messages(aws.config.retry_queue_url)) == 1
    assert len(aws.queue_messages(aws.config.retry_dlq_url)) == 1


def test_six_rejected_rows_with_120000_character_order_ids_leave_the_run_succeeded_with_errors(
    aws, clock, run, run_data
):
    # The rows of the scenario: six order_ids of 120,000 characters beside four valid rows.
    report = run_data.sample_report(
        run["run_id"], staged=10, loaded=4, rejected=6, failed=0, rejection_reasons={}, failure_errors={}
    )
    summary = report.rejection_reasons.setdefault("invalid_order_id", ReasonSummary())
    for line in range(1, 7):
        summary.add(example(run_data.fresh_record(f"{line}{'A' * 119_999}", line)))
    run_data.put_load_output(aws, run["run_id"], report, [])
    event = {"run": run, "extract": extract_result(run, staged_records=10, extracted=10, retried_in=0)}

    first = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)
    again = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)

    assert first["status"] == again["status"] == "SUCCEEDED_WITH_ERRORS"
    assert first["counts"]["rejected"] == 6 and first["counts"]["loaded"] == 4
    item = aws.store.get(run_data.RUN_DATE)
    assert item["rejection_reasons"] == {"invalid_order_id": 6}
    assert item["examples"]["invalid_order_id"] == [
        f"{n}{'A' * 59}…[+119,940 chars] (row {n} of {run_data.SOURCE})" for n in range(1, 6)
    ]
    raw = aws.dynamodb.get_item(
        TableName=aws.config.runs_table, Key={"run_date": {"S": run_data.RUN_DATE}}, ConsistentRead=True
    )["Item"]
    assert emulator_item_size(raw) < 4 * 1024


def test_the_run_item_of_a_worst_case_report_stays_under_dynamodbs_400_kb(aws, clock, run, run_data):
    report = worst_case_report(run["run_id"], run_data.RUN_DATE)
    run_data.put_load_output(aws, run["run_id"], report, [])
    staged = report.staged
    extract = extract_result(run, staged_records=staged, extracted=staged, retried_in=0)

    answer = track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract}, clock)

    assert answer["status"] == "SUCCEEDED_WITH_ERRORS"
    raw = aws.dynamodb.get_item(
        TableName=aws.config.runs_table, Key={"run_date": {"S": run_data.RUN_DATE}}, ConsistentRead=True
    )["Item"]
    item = aws.store.get(run_data.RUN_DATE)
    # Attribute names plus values by DynamoDB's rules, counted by two independent implementations.
    size = budgets.item_size(item)
    assert size == emulator_item_size(raw) == 133_414
    assert budgets.RUN_ITEM_VALUES_BYTES + 8 * 1024 < budgets.DYNAMODB_ITEM_LIMIT == 409_600
    assert item["other_reasons"] == {"failure_errors": {"reasons": 20, "records": sum(range(10, 30))}}
    assert len(item["failure_errors"]) == budgets.REASONS_KEPT


def test_a_record_too_large_for_a_message_is_queued_behind_an_s3_pointer(aws, clock, run, run_data):
    huge = StagedRecord(
        raw={**run_data.fresh_record("O-1", 1).raw, "customer": "x" * 300_000},
        origin=run_data.fresh_record("O-1", 1).origin,
    )
    report = run_data.sample_report(run["run_id"], staged=12, loaded=7, rejected=4, failed=1)
    run_data.put_load_output(aws, run["run_id"], report, [(huge, WRITE_ERROR)])

    track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock)

    [message] = aws.queue_messages(aws.config.retry_queue_url)
    body = json.loads(message["Body"])
    assert body["s3"] == {
        "bucket": aws.config.staging_bucket,
        "key": f"tracking/retry/{run['run_id']}/batch-00000.jsonl.gz",
    }
    [record] = retry.unpack(message["Body"], aws.fetch)
    assert (len(record.raw["customer"]), record.origin.attempt) == (300_000, 1)


def test_a_report_that_does_not_match_the_extract_fails_the_run_before_anything_is_queued(
    aws, clock, run, run_data
):
    load_with_failures(run_data, aws, run)

    with pytest.raises(AccountingError, match="counts 12 staged records but the extract staged 13"):
        track_result(
            aws.config,
            aws.store,
            aws.s3,
            aws.sqs,
            {"run": run, "extract": extract_result(run, staged_records=13, extracted=11)},
            clock,
        )

    assert aws.queue_messages(aws.config.retry_queue_url) == []
    assert aws.store.get(run_data.RUN_DATE)["status"] == "RUNNING"


def test_failed_parts_that_do_not_match_the_report_fail_the_run(aws, clock, run, run_data):
    run_data.put_load_output(
        aws,
        run["run_id"],
        run_data.sample_report(run["run_id"]),
        [(run_data.fresh_record("O-1", 1), WRITE_ERROR)],
    )

    with pytest.raises(AccountingError, match="counts 3 failed records but its failed parts hold 1"):
        track_result(
            aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock
        )


def test_counts_that_break_the_identity_fail_the_run_and_nothing_is_queued(aws, clock, run, run_data):
    run_data.put_load_output(
        aws,
        run["run_id"],
        run_data.sample_report(run["run_id"], loaded=6),
        [(run_data.fresh_record(f"O-{i}", i), WRITE_ERROR) for i in (1, 2, 3)],
    )

    with pytest.raises(AccountingError, match="extracted 10 \\+ retried_in 2 = 12, but loaded 6"):
        track_result(
            aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock
        )

    assert aws.queue_messages(aws.config.retry_queue_url) == []
    assert aws.queue_messages(aws.config.retry_dlq_url) == []


def test_a_run_that_staged_nothing_is_recorded_as_no_data_with_zero_counts(aws, clock, run, run_data):
    extract = extract_result(run, staged_records=0, extracted=0, retried_in=0)

    answer = track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract}, clock)

    item = aws.store.get(run_data.RUN_DATE)
    assert item["status"] == answer["status"] == "NO_DATA"
    assert set(item["counts"].values()) == {0}
    assert answer["report_key"] is None
    assert "report_key" not in item
    assert item["stages"]["Load"] == {"status": "SKIPPED", "started_at": None, "finished_at": None}
    assert aws.queue_messages(aws.config.retry_queue_url) == []


# --- RecordFailure ------------------------------------------------------------------------------

HEADER_MESSAGE = (
    "s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv has a wrong header: missing amount "
    "(found order_id, order_date, customer, product_id, quantity, currency; expected order_id, order_date, "
    "customer, product_id, quantity, amount, currency)"
)
LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": HEADER_MESSAGE,
        "errorType": "HeaderError",
        "requestId": "0f3b",
        "stackTrace": ['  File "/var/task/handler.py", line 20, in lambda_handler\n'],
    }
)
GLUE_CAUSE = json.dumps(
    {
        "Id": "jr_4f9c",
        "JobName": "nightly-etl-load-orders",
        "JobRunState": "FAILED",
        "ErrorMessage": "AccountingError: 12 staged records but 11 written, rejected or failed",
        "ExecutionTime": 61,
    }
)


def test_a_lambda_error_is_described_by_its_type_and_message():
    assert describe_failure("Extract", "HeaderError", LAMBDA_CAUSE) == {
        "state": "Extract",
        "error": "HeaderError",
        "cause": LAMBDA_CAUSE,
        "message": f"Extract failed: HeaderError: {HEADER_MESSAGE}",
    }


def test_a_glue_failure_is_described_by_the_job_runs_error_message():
    described = describe_failure("Load", "States.TaskFailed", GLUE_CAUSE)

    assert described["error"] == "AccountingError"
    assert described["message"] == (
        "Load failed: the Glue job nightly-etl-load-orders (run jr_4f9c) ended FAILED: "
        "AccountingError: 12 staged records but 11 written, rejected or failed"
    )


def test_a_glue_timeout_without_an_exception_name_is_named_for_the_job_state():
    cause = json.dumps(
        {"Id": "jr_1", "JobName": "load", "JobRunState": "TIMEOUT", "ErrorMessage": "Job timed out"}
    )
    assert describe_failure("Load", "States.TaskFailed", cause)["error"] == "GlueJobTimeout"


def test_a_state_timeout_is_described_in_words():
    assert describe_failure("Load", "States.Timeout", "")["message"] == (
        "Load failed: States.Timeout: the state did not finish within its time limit"
    )


def test_recording_an_extract_failure_fails_the_run_and_releases_the_lock(aws, clock, run, run_data):
    state = {
        "run_date": run_data.RUN_DATE,
        "begin": {"value": {"run": run}},
        "error": {"Error": "HeaderError", "Cause": LAMBDA_CAUSE},
        "failed_state": "Extract",
    }

    answer = record_failure(aws.store, {"state": state, "execution_arn": run_data.EXECUTION_ARN}, clock)

    item = aws.store.get(run_data.RUN_DATE)
    expected = {"run": run, "status": "FAILED", "error": item["error"], "recorded": True, "tracked": False}
    assert answer == expected
    assert item["error"]["message"] == f"Extract failed: HeaderError: {HEADER_MESSAGE}"
    assert (item["status"], item["finished_at"]) == ("FAILED", "2026-11-22T06:00:02.250Z")
    assert "lock" not in item
    assert item["stages"]["Extract"] == {
        "status": "FAILED",
        "started_at": "2026-11-22T06:00:01.250Z",
        "finished_at": "2026-11-22T06:00:02.250Z",
    }
    # The lock is free: the next execution can claim the date without --force.
    begin_run(
        aws.store,
        {"input": {"run_date": run_data.RUN_DATE}, "execution_arn": run_data.EXECUTION_ARN + "-2"},
        clock,
    )


def test_recording_a_load_failure_marks_the_extract_as_done(aws, clock, run, run_data):
    state = {
        "run_date": run_data.RUN_DATE,
        "begin": {"value": {"run": run}},
        "extract": {"value": extract_result(run)},
        "error": {"Error": "States.TaskFailed", "Cause": GLUE_CAUSE},
        "failed_state": "Load",
    }

    answer = record_failure(aws.store, {"state": state, "execution_arn": run_data.EXECUTION_ARN}, clock)

    stages = aws.store.get(run_data.RUN_DATE)["stages"]
    assert (stages["Extract"]["status"], stages["Load"]["status"]) == ("SUCCEEDED", "FAILED")
    assert answer["error"]["error"] == "AccountingError"


def test_a_begin_run_failure_derives_the_run_from_the_execution_input(aws, clock, run_data):
    cause = json.dumps(
        {"errorType": "ResourceNotFoundException", "errorMessage": "Requested resource not found"}
    )
    state = {
        "run_date": "2026-11-22T06:00:00Z",
        "force": True,
        "error": {"Error": "ResourceNotFoundException", "Cause": cause},
        "failed_state": "BeginRun",
    }
    event = {"state": state, "execution_arn": run_data.EXECUTION_ARN, "started_at": run_data.STARTED_AT}

    answer = record_failure(aws.store, event, clock)

    run = Run(
        layout.run_id_for(parse_run_date(run_data.RUN_DATE), run_data.EXECUTION_ARN),
        run_data.RUN_DATE,
        run_data.EXECUTION_ARN,
        run_data.STARTED_AT,
        True,
    )
    assert answer["run"] == run.to_dict()
    assert answer["recorded"] is True
    item = aws.store.get(run_data.RUN_DATE)
    assert (item["status"], item["run_id"], item["attempts"], item["started_at"]) == (
        "FAILED",
        run.run_id,
        1,
        run_data.STARTED_AT,
    )
    assert (
        item["error"]["message"] == "BeginRun failed: ResourceNotFoundException: Requested resource not found"
    )


def test_a_begin_run_failure_on_a_bad_date_is_reported_without_writing_the_table(aws, clock, run_data):
    cause = json.dumps({"errorType": "ValueError", "errorMessage": "run_date '2026-13-45' is neither ..."})
    state = {
        "run_date": "2026-13-45",
        "error": {"Error": "ValueError", "Cause": cause},
        "failed_state": "BeginRun",
    }

    answer = record_failure(aws.store, {"state": state, "execution_arn": run_data.EXECUTION_ARN}, clock)

    assert (answer["recorded"], answer["run"]["run_date"], answer["run"]["run_id"]) == (
        False,
        "2026-13-45",
        "",
    )
    assert aws.dynamodb.scan(TableName=aws.config.runs_table)["Items"] == []


def test_a_late_failure_of_an_older_execution_does_not_touch_the_newer_run(aws, clock, run, run_data):
    newer = begin_run(
        aws.store,
        {
            "input": {"run_date": run_data.RUN_DATE, "force": True},
            "execution_arn": run_data.EXECUTION_ARN + "-2",
        },
        clock,
    )
    before = aws.store.get(run_data.RUN_DATE)
    state = {
        "begin": {"value": {"run": run}},
        "error": {"Error": "States.Timeout", "Cause": ""},
        "failed_state": "Load",
    }

    answer = record_failure(aws.store, {"state": state, "execution_arn": run_data.EXECUTION_ARN}, clock)

    assert answer["recorded"] is False
    assert aws.store.get(run_data.RUN_DATE) == before
    assert before["lock"] == newer["run"]["execution_arn"]


# --- etl requeue --------------------------------------------------------------------------------


def test_requeue_moves_quarantined_records_back_with_their_attempts_reset(aws, clock, run, run_data):
    load_with_failures(run_data, aws, run)
    track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock)
    aws.queue_messages(aws.config.retry_queue_url)  # the run's own retries: out of the way

    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, wait_seconds=0) == 1

    [message] = aws.queue_messages(aws.config.retry_queue_url)
    [record] = retry.unpack(message["Body"], aws.fetch)
    assert (record.raw["order_id"], record.origin.attempt, record.origin.first_failed_run) == (
        "O-old",
        0,
        EARLIER_RUN,
    )
    assert aws.queue_messages(aws.config.retry_dlq_url) == []
    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, wait_seconds=0) == 0


def test_requeue_of_one_run_leaves_other_runs_dead_letters_visible(aws, run_data):
    def dead_letter(run_id: str, order_id: str) -> None:
        [message] = retry.pack([run_data.retried_record(order_id, 3, run_id)], run_id)
        aws.sqs.send_message(
            QueueUrl=aws.config.retry_dlq_url,
            MessageBody=message.body,
            MessageGroupId=message.group_id,
            MessageDeduplicationId=message.deduplication_id,
        )

    dead_letter("2026-11-20-aaaaaaaaaa", "O-20")
    dead_letter("2026-11-21-bbbbbbbbbb", "O-21")

    assert (
        requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id="2026-11-21-bbbbbbbbbb", wait_seconds=0) == 1
    )

    [requeued] = aws.queue_messages(aws.config.retry_queue_url)
    assert [r.raw["order_id"] for r in retry.unpack(requeued["Body"], aws.fetch)] == ["O-21"]
    [left] = aws.queue_messages(aws.config.retry_dlq_url)
    assert json.loads(left["Body"])["run_id"] == "2026-11-20-aaaaaaaaaa"


def test_requeue_leaves_an_unreadable_dead_letter_visible_and_requeues_the_others(aws, run_data):
    [message] = retry.pack([run_data.retried_record("O-21", 3, EARLIER_RUN)], EARLIER_RUN)
    for body, dedup in ((message.body, "readable"), ("not json at all", "unreadable")):
        aws.sqs.send_message(
            QueueUrl=aws.config.retry_dlq_url,
            MessageBody=body,
            MessageGroupId=dedup,
            MessageDeduplicationId=dedup,
        )

    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, wait_seconds=0) == 1
    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id=EARLIER_RUN, wait_seconds=0) == 0

    [left] = aws.queue_messages(aws.config.retry_dlq_url)
    assert left["Body"] == "not json at all"


def test_requeue_of_a_run_whose_announcement_expired_reads_its_durable_quarantine_once(
    aws, clock, run, run_data
):
    load_with_failures(run_data, aws, run)
    track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock)
    aws.queue_messages(aws.config.retry_queue_url)  # the run's own retries: out of the way
    [announcement] = aws.queue_messages(aws.config.retry_dlq_url)
    aws.sqs.delete_message(QueueUrl=aws.config.retry_dlq_url, ReceiptHandle=announcement["ReceiptHandle"])

    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id=run["run_id"], wait_seconds=0) == 1
    [message] = aws.queue_messages(aws.config.retry_queue_url)
    [record] = retry.unpack(message["Body"], aws.fetch)
    assert (record.raw["order_id"], record.origin.attempt) == ("O-old", 0)
    marker = json.loads(aws.read(f"tracking/quarantine/{run['run_id']}/requeued.json"))
    assert marker == {"run_id": run["run_id"], "records": 1, "from": "s3"}

    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id=run["run_id"], wait_seconds=0) == 0


def test_a_run_requeued_from_the_dlq_is_not_requeued_again_from_its_quarantine_object(
    aws, clock, run, run_data
):
    load_with_failures(run_data, aws, run)
    track_result(aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock)

    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id=run["run_id"], wait_seconds=0) == 1
    assert json.loads(aws.read(f"tracking/quarantine/{run['run_id']}/requeued.json"))["from"] == "dlq"
    assert requeue_quarantined(aws.config, aws.s3, aws.sqs, run_id=run["run_id"], wait_seconds=0) == 0


# --- messages SQS moved to the DLQ, unreadable messages -------------------------------------------


@pytest.fixture
def redrive(aws):
    """The retry queue redrives to the DLQ after one receive, and SQS marks the moves as AWS does."""
    from emulator import sqs_redrive

    dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.config.retry_dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.sqs.set_queue_attributes(
        QueueUrl=aws.config.retry_queue_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})},
    )
    originals = sqs_redrive.patch()

    def redrive_to_dlq(body: str, group: str = "g") -> None:
        aws.sqs.send_message(
            QueueUrl=aws.config.retry_queue_url,
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=group,
        )
        for _ in range(2):  # the first receive counts, the second moves it
            aws.sqs.receive_message(QueueUrl=aws.config.retry_queue_url, VisibilityTimeout=0)

    yield redrive_to_dlq
    sqs_redrive.unpatch(originals)


NOTHING_STAGED = {"staged_records": 0, "extracted": 0, "retried_in": 0}


def test_records_sqs_redrove_to_the_dlq_are_counted_quarantined_dlq_and_announced_in_their_place(
    aws, clock, run, run_data, redrive
):
    records = [
        run_data.retried_record("O-30", 1, EARLIER_RUN),
        run_data.retried_record("O-31", 2, EARLIER_RUN),
    ]
    [message] = retry.pack(records, EARLIER_RUN)
    redrive(message.body)
    event = {"run": run, "extract": extract_result(run, **NOTHING_STAGED)}

    answer = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)

    assert answer["status"] == "SUCCEEDED_WITH_ERRORS"
    assert answer["counts"] == {
        "extracted": 0,
        "retried_in": 2,
        "loaded": 0,
        "rejected": 0,
        "queued_for_retry": 0,
        "quarantined": 2,
        "duplicates_dropped": 0,
    }
    assert answer["identity_ok"] is True
    item = aws.store.get(run_data.RUN_DATE)
    assert item["quarantine_reasons"] == answer["quarantine_reasons"] == {"dlq": 2}
    assert item["quarantine_total"] == 2
    key = f"tracking/quarantine/{run['run_id']}/records.jsonl.gz"
    assert [StagedRecord.from_json(line).raw["order_id"] for line in decode_lines(aws.read(key))] == [
        "O-30",
        "O-31",
    ]
    [announcement] = aws.queue_messages(aws.config.retry_dlq_url)
    assert "DeadLetterQueueSourceArn" not in announcement["Attributes"]
    assert json.loads(announcement["Body"])["s3"]["key"] == key

    # A repeated TrackResult counts the same two records and announces them once.
    clock.advance(30)
    again = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)
    assert (again["counts"], again["quarantine_reasons"]) == (answer["counts"], {"dlq": 2})
    assert aws.queue_messages(aws.config.retry_dlq_url) == []  # still the one, hidden by the line above


def test_redriven_and_out_of_attempts_records_share_the_runs_quarantine_object(
    aws, clock, run, run_data, redrive
):
    [message] = retry.pack([run_data.retried_record("O-40", 1, EARLIER_RUN)], EARLIER_RUN)
    redrive(message.body)
    load_with_failures(run_data, aws, run)

    answer = track_result(
        aws.config, aws.store, aws.s3, aws.sqs, {"run": run, "extract": extract_result(run)}, clock
    )

    assert answer["quarantine_reasons"] == {"max_attempts": 1, "dlq": 1}
    assert (answer["counts"]["retried_in"], answer["counts"]["quarantined"]) == (3, 2)
    lines = decode_lines(aws.read(layout.quarantine_key(run["run_id"])))
    assert sorted(StagedRecord.from_json(line).raw["order_id"] for line in lines) == ["O-40", "O-old"]


def test_an_unreadable_redriven_message_is_kept_raw_and_counted_as_one_record(
    aws, clock, run, run_data, redrive
):
    redrive("{broken", group="bad")
    event = {"run": run, "extract": extract_result(run, **NOTHING_STAGED)}

    answer = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)

    assert (answer["counts"]["retried_in"], answer["counts"]["quarantined"]) == (1, 1)
    assert answer["quarantine_reasons"] == {"dlq": 1}
    assert answer["quarantine_key"] is None
    listed = aws.s3.list_objects_v2(
        Bucket=aws.config.staging_bucket, Prefix=layout.quarantine_prefix(run["run_id"])
    )
    [key] = [o["Key"] for o in listed["Contents"]]
    assert key.startswith(f"tracking/quarantine/{run['run_id']}/unreadable/dlq-")
    kept = json.loads(aws.read(key))
    assert (kept["body"], kept["source"]) == ("{broken", "dlq")
    assert kept["attributes"]["DeadLetterQueueSourceArn"].endswith(":nightly-etl-retry.fifo")
    assert kept["error"].startswith("the body is not JSON")
    assert aws.queue_messages(aws.config.retry_dlq_url) == []


def test_unreadable_retry_messages_the_extract_kept_are_counted_as_quarantined_unreadable(
    aws, clock, run, run_data
):
    event = {"run": run, "extract": extract_result(run, **NOTHING_STAGED, retry_messages_unreadable=2)}

    answer = track_result(aws.config, aws.store, aws.s3, aws.sqs, event, clock)

    assert answer["status"] == "SUCCEEDED_WITH_ERRORS"
    assert (answer["counts"]["retried_in"], answer["counts"]["quarantined"]) == (2, 2)
    assert aws.store.get(run_data.RUN_DATE)["quarantine_reasons"] == {"unreadable": 2}
    assert aws.queue_messages(aws.config.retry_dlq_url) == []


# --- sending ------------------------------------------------------------------------------------


class RecordingSqs:
    """A hand-written SQS that keeps every SendMessageBatch call and fails the entries it is told to."""

    def __init__(self, failing_ids: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[dict]] = []
        self.failing_ids = failing_ids

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.calls.append(Entries)
        failed = [
            {"Id": e["Id"], "Code": "InvalidParameterValue", "Message": "too big", "SenderFault": True}
            for e in Entries
            if e["MessageDeduplicationId"] in self.failing_ids
        ]
        return {"Successful": [], "Failed": failed}


def messages(count: int, body_bytes: int) -> list[retry.OutgoingMessage]:
    return [retry.OutgoingMessage("x" * body_bytes, f"dedup-{i}", "run-r", 2) for i in range(count)]


def test_messages_are_sent_ten_to_a_call():
    sqs = RecordingSqs()

    sent = send_messages(sqs, "queue", messages(23, 100))

    assert [len(call) for call in sqs.calls] == [10, 10, 3]
    assert sent == 46
    assert sqs.calls[2][0] == {
        "Id": "0",
        "MessageBody": "x" * 100,
        "MessageGroupId": "run-r",
        "MessageDeduplicationId": "dedup-20",
    }


def test_a_call_carries_no_more_than_256_kib_of_bodies():
    sqs = RecordingSqs()

    send_messages(sqs, "queue", messages(3, 150 * 1024))

    assert [len(call) for call in sqs.calls] == [1, 1, 1]


def test_messages_sqs_refuses_fail_the_task_with_its_reason():
    with pytest.raises(
        QueueSendError, match="SQS refused 1 message\\(s\\) for queue: InvalidParameterValue: too big"
    ):
        send_messages(RecordingSqs(frozenset({"dedup-1"})), "queue", messages(2, 10))


def test_a_run_failing_after_extract_puts_its_retried_records_back_unchanged(aws):
    run_id = "2026-11-22-failed"
    staged_retries(aws, run_id, "2026-11-22")

    sent = requeue_retried_after_failure(aws.config, aws.s3, aws.sqs, run_id)

    assert sent == 3
    back = [
        r for m in aws.queue_messages(aws.config.retry_queue_url) for r in retry.unpack(m["Body"], aws.fetch)
    ]
    assert sorted(r.raw["order_id"] for r in back) == ["R-0", "R-1", "R-2"]
    assert {r.origin.attempt for r in back} == {1}


def test_a_run_that_failed_before_staging_has_nothing_to_put_back(aws):

    assert requeue_retried_after_failure(aws.config, aws.s3, aws.sqs, "2026-11-22-none") == 0
    assert aws.queue_messages(aws.config.retry_queue_url) == []


# --- the lock's holder, and a failed run's retries put back once --------------------------------


class _DescribingStepFunctions:
    """DescribeExecution answering one status, or refusing with one error code."""

    def __init__(self, status: str | None = None, code: str | None = None):
        self.status, self.code = status, code

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        from botocore.exceptions import ClientError

        if self.code:
            message = f"User: x is not authorized to perform: states:DescribeExecution on {executionArn}"
            raise ClientError({"Error": {"Code": self.code, "Message": message}}, "DescribeExecution")
        return {"executionArn": executionArn, "status": str(self.status)}


@pytest.mark.parametrize(
    ("answer", "state", "detail"),
    [
        ({"status": "RUNNING"}, "RUNNING", "RUNNING"),
        ({"status": "PENDING_REDRIVE"}, "RUNNING", "PENDING_REDRIVE"),
        ({"status": "ABORTED"}, "ENDED", "ABORTED"),
        ({"status": "TIMED_OUT"}, "ENDED", "TIMED_OUT"),
        ({"status": "FAILED"}, "ENDED", "FAILED"),
        ({"code": "ExecutionDoesNotExist"}, "ENDED", "the execution does not exist"),
        (
            {"code": "AccessDeniedException"},
            "UNKNOWN",
            "DescribeExecution answered AccessDeniedException: User: x is not authorized to perform: "
            "states:DescribeExecution on arn:aws:states:us-east-1:210987654321:execution:nightly-etl:h",
        ),
        ({"code": "ThrottlingException"}, "UNKNOWN", None),
    ],
)
def test_the_holder_of_a_lock_is_running_ended_or_unknown_as_step_functions_answers(answer, state, detail):
    arn = "arn:aws:states:us-east-1:210987654321:execution:nightly-etl:h"

    holder = execution_holder(_DescribingStepFunctions(**answer), arn)

    assert holder.state == state
    if detail is not None:
        assert holder.detail == detail
    else:
        assert holder.detail.startswith("DescribeExecution answered ThrottlingException: ")


def test_a_failed_runs_retries_are_put_back_once_and_the_marker_says_how_many(aws):
    run_id = "2026-11-22-twice"
    retried = [
        StagedRecord(
            {"order_id": f"R-{n}"}, Origin("retry", "2026-11-21-x", n, attempt=2, first_failed_run="x")
        )
        for n in range(2)
    ]
    key = layout.staging_chunk_key(run_id, 0)
    aws.s3.put_object(
        Bucket=aws.config.staging_bucket, Key=key, Body=encode_lines(r.to_json() for r in retried)
    )
    manifest = Manifest(run_id, "2026-11-22", [Chunk(key, 2, 0)], extracted=0, retried_in=2)
    aws.s3.put_object(
        Bucket=aws.config.staging_bucket, Key=layout.manifest_key(run_id), Body=manifest.to_json()
    )

    first = requeue_retried_after_failure(aws.config, aws.s3, aws.sqs, run_id)
    queued = aws.queue_messages(aws.config.retry_queue_url)
    second = requeue_retried_after_failure(aws.config, aws.s3, aws.sqs, run_id)

    assert (first, second) == (2, 0)
    assert len(queued) == 1
    assert aws.queue_messages(aws.config.retry_queue_url) == []
    assert json.loads(aws.read(requeued_marker_key(run_id))) == {"run_id": run_id, "records": 2}
