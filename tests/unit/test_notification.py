"""The status email: exact subjects and bodies for every outcome, and its publication on the status topic."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from pipeline.budgets import EMAIL_BYTES
from pipeline.notification import (
    PublishError,
    SimulatedCrash,
    notify,
    record_notify_error,
    render,
    render_subject,
)
from pipeline.report import LoadReport, Others, ReasonSummary
from pipeline.run_store import Run
from pipeline.runs import RunStatus
from pipeline.text import first_refused
from pipeline.tracking import record_failure
from pipeline.transforms import example

BUCKET = "nightly-etl-staging"
RUN_DATE = "2026-11-22"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22"
STARTED_AT = "2026-11-22T06:00:00.000Z"
RUN_ID = "2026-11-22-5d41402abc"
STAGES = {
    "BeginRun": {
        "status": "SUCCEEDED",
        "started_at": "2026-11-22T06:00:00.000Z",
        "finished_at": "2026-11-22T06:00:01.200Z",
    },
    "Extract": {
        "status": "SUCCEEDED",
        "started_at": "2026-11-22T06:00:01.200Z",
        "finished_at": "2026-11-22T06:00:31.200Z",
    },
    "Load": {
        "status": "SUCCEEDED",
        "started_at": "2026-11-22T06:00:31.200Z",
        "finished_at": "2026-11-22T06:04:05.000Z",
    },
    "TrackResult": {
        "status": "SUCCEEDED",
        "started_at": "2026-11-22T06:04:05.100Z",
        "finished_at": "2026-11-22T06:04:07.600Z",
    },
}
BASE = {
    "run_date": RUN_DATE,
    "run_id": RUN_ID,
    "execution_arn": EXECUTION_ARN,
    "force": False,
    "attempts": 1,
    "started_at": STARTED_AT,
    "finished_at": "2026-11-22T06:04:07.600Z",
    "stages": STAGES,
    "identity_ok": True,
}
HEADER = (
    "Run date:   2026-11-22\n"
    "Run id:     2026-11-22-5d41402abc\n"
    "Execution:  arn:aws:states:us-east-1:123456789012:execution:nightly-etl:daily-2026-11-22\n"
    "Started:    2026-11-22T06:00:00.000Z\n"
)
ALL_STAGES = """\
Stages:
  BeginRun     SUCCEEDED  1.2 s
  Extract      SUCCEEDED  30.0 s
  Load         SUCCEEDED  3 min 34 s
  TrackResult  SUCCEEDED  2.5 s
"""


def test_a_clean_run_says_everything_was_loaded(run_data):
    item = {
        **BASE,
        "status": "SUCCEEDED",
        "counts": {
            "extracted": 12,
            "retried_in": 0,
            "loaded": 11,
            "rejected": 0,
            "queued_for_retry": 0,
            "quarantined": 0,
            "duplicates_dropped": 1,
        },
        "retry_backlog": 0,
        "retry_backlog_messages": 0,
        "quarantine_total": 0,
        "report_key": f"runs/{RUN_ID}/report.json",
    }
    report = run_data.sample_report(RUN_ID, staged=12, loaded=11, rejected=0, failed=0, duplicates_dropped=1)
    report.rejection_reasons, report.failure_errors = {}, {}

    message = render(item, report, BUCKET)

    assert message.subject == "[nightly-etl] SUCCEEDED 2026-11-22: 11 loaded, 0 rejected, 0 retrying"
    assert message.body == (
        "Nightly ETL SUCCEEDED for 2026-11-22\n"
        "Every record was loaded.\n"
        "\n" + HEADER + "Finished:   2026-11-22T06:04:07.600Z\n"
        "Duration:   4 min 8 s\n"
        "\n" + ALL_STAGES + "\n"
        "Records:\n"
        "  extracted                 12\n"
        "  retried in                 0\n"
        "  loaded                    11\n"
        "  rejected                   0\n"
        "  queued for retry           0\n"
        "  quarantined                0\n"
        "  duplicates dropped         1\n"
        "Identity (holds): extracted + retried in = 12 + 0 = 12\n"
        "  loaded + rejected + queued + quarantined + duplicates = 11 + 0 + 0 + 0 + 1 = 12\n"
        "\n"
        "Retry queue: 0 records waiting for the next run (0 messages in the queue)\n"
        "Quarantine:  0 records this run, 0 records in total\n"
        "\n"
        "Where to look:\n"
        "  Load report:       s3://nightly-etl-staging/runs/2026-11-22-5d41402abc/report.json\n"
        "  Glue job run:      jr_0123456789abcdef\n"
    )


def test_a_run_with_errors_lists_reasons_examples_backlog_quarantine_and_locations(run_data):
    item = {
        **BASE,
        "status": "SUCCEEDED_WITH_ERRORS",
        "counts": {
            "extracted": 10,
            "retried_in": 2,
            "loaded": 5,
            "rejected": 4,
            "queued_for_retry": 2,
            "quarantined": 1,
            "duplicates_dropped": 0,
        },
        "rejection_reasons": {"unknown_product": 3, "negative_amount": 1},
        "examples": {
            "unknown_product": ["O-7 (row 7 of orders.csv)", "O-8 (row 8 of orders.csv)"],
            "negative_amount": ["O-9 (row 9 of orders.csv)"],
        },
        "failure_errors": {"ProvisionedThroughputExceededException": 3},
        "retry_backlog": 2,
        "retry_backlog_messages": 1,
        "quarantine_total": 5,
        "quarantine_key": f"runs/{RUN_ID}/quarantine/records.jsonl.gz",
        "report_key": f"runs/{RUN_ID}/report.json",
    }

    message = render(item, run_data.sample_report(RUN_ID), BUCKET)

    assert message.subject == (
        "[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-11-22: 5 loaded, 4 rejected, 2 retrying, 1 quarantined"
    )
    assert message.body == (
        "Nightly ETL SUCCEEDED_WITH_ERRORS for 2026-11-22\n"
        "The run finished, but not every record was loaded: see the rejection reasons and the retry queue below.\n"
        "\n" + HEADER + "Finished:   2026-11-22T06:04:07.600Z\n"
        "Duration:   4 min 8 s\n"
        "\n" + ALL_STAGES + "\n"
        "Records:\n"
        "  extracted                 10\n"
        "  retried in                 2\n"
        "  loaded                     5\n"
        "  rejected                   4\n"
        "  queued for retry           2\n"
        "  quarantined                1\n"
        "  duplicates dropped         0\n"
        "Identity (holds): extracted + retried in = 10 + 2 = 12\n"
        "  loaded + rejected + queued + quarantined + duplicates = 5 + 4 + 2 + 1 + 0 = 12\n"
        "\n"
        "Retry queue: 2 records waiting for the next run (1 message in the queue)\n"
        "Quarantine:  1 record this run, 5 records in total\n"
        "\n"
        "Top rejection reasons:\n"
        "       3  unknown_product: product_id is not in the product catalog\n"
        "          e.g. O-7 (row 7 of orders.csv); O-8 (row 8 of orders.csv)\n"
        "       1  negative_amount: amount is negative\n"
        "          e.g. O-9 (row 9 of orders.csv)\n"
        "\n"
        "Failed writes (queued for retry or quarantined):\n"
        "       3  ProvisionedThroughputExceededException\n"
        "          e.g. O-1; O-2; O-old\n"
        "\n"
        "Where to look:\n"
        "  Load report:       s3://nightly-etl-staging/runs/2026-11-22-5d41402abc/report.json\n"
        "  Glue job run:      jr_0123456789abcdef\n"
        "  Rejected records:  s3://nightly-etl-staging/runs/2026-11-22-5d41402abc/rejected/\n"
        "  Failed records:    s3://nightly-etl-staging/runs/2026-11-22-5d41402abc/failed/\n"
        "  Quarantined:       s3://nightly-etl-staging/runs/2026-11-22-5d41402abc/quarantine/records.jsonl.gz\n"
    )


def test_a_day_without_data_says_nothing_was_loaded():
    item = {
        **BASE,
        "status": "NO_DATA",
        "stages": {
            **STAGES,
            "Load": {"status": "SKIPPED", "started_at": None, "finished_at": None},
        },
        "counts": dict.fromkeys(
            (
                "extracted",
                "retried_in",
                "loaded",
                "rejected",
                "queued_for_retry",
                "quarantined",
                "duplicates_dropped",
            ),
            0,
        ),
        "retry_backlog": 0,
        "retry_backlog_messages": 0,
        "quarantine_total": 5,
    }

    message = render(item, None, BUCKET)

    assert message.subject == "[nightly-etl] NO_DATA 2026-11-22: nothing to load"
    assert message.body == (
        "Nightly ETL NO_DATA for 2026-11-22\n"
        "Nothing was loaded: the day had no rows to extract and no records were waiting for retry.\n"
        "\n" + HEADER + "Finished:   2026-11-22T06:04:07.600Z\n"
        "Duration:   4 min 8 s\n"
        "\n"
        "Stages:\n"
        "  BeginRun     SUCCEEDED  1.2 s\n"
        "  Extract      SUCCEEDED  30.0 s\n"
        "  Load         SKIPPED\n"
        "  TrackResult  SUCCEEDED  2.5 s\n"
        "\n"
        "Records:\n"
        "  extracted                  0\n"
        "  retried in                 0\n"
        "  loaded                     0\n"
        "  rejected                   0\n"
        "  queued for retry           0\n"
        "  quarantined                0\n"
        "  duplicates dropped         0\n"
        "Identity (holds): extracted + retried in = 0 + 0 = 0\n"
        "  loaded + rejected + queued + quarantined + duplicates = 0 + 0 + 0 + 0 + 0 = 0\n"
        "\n"
        "Retry queue: 0 records waiting for the next run (0 messages in the queue)\n"
        "Quarantine:  0 records this run, 5 records in total\n"
    )


FAILED_ITEM = {
    **BASE,
    "status": "FAILED",
    "finished_at": "2026-11-22T06:00:02.000Z",
    "stages": {
        "BeginRun": STAGES["BeginRun"],
        "Extract": {
            "status": "FAILED",
            "started_at": "2026-11-22T06:00:01.200Z",
            "finished_at": "2026-11-22T06:00:02.000Z",
        },
    },
    "error": {
        "state": "Extract",
        "error": "HeaderError",
        "cause": '{"errorType": "HeaderError"}',
        "message": "Extract failed: HeaderError: s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv "
        "has a wrong header: missing amount",
    },
}


def test_a_failed_run_names_the_state_and_the_cause_in_words():
    message = render(FAILED_ITEM, None, BUCKET)

    assert message.subject == "[nightly-etl] FAILED 2026-11-22 at Extract: HeaderError"
    assert message.body == (
        "Nightly ETL FAILED for 2026-11-22\n"
        "The run stopped at Extract.\n"
        "\n" + HEADER + "Finished:   2026-11-22T06:00:02.000Z\n"
        "Duration:   2.0 s\n"
        "\n"
        "What went wrong:\n"
        "  Extract failed: HeaderError: s3://nightly-etl-landing/landing/orders/dt=2026-11-22/orders.csv "
        "has a wrong header: missing amount\n"
        "  The lock on 2026-11-22 is released: once the cause is fixed, run the date again.\n"
        "\n"
        "Stages:\n"
        "  BeginRun     SUCCEEDED  1.2 s\n"
        "  Extract      FAILED     0.8 s\n"
        "\n"
        "Records: not counted (the run stopped before its records were accounted for).\n"
    )


def test_three_rows_with_120000_character_order_ids_under_one_reason_give_a_short_email(run_data):
    examples = [
        example(run_data.fresh_record(f"{n}{'A' * 119_999}", n)) for n in range(1, 4)
    ]  # as the load writes them into the report and TrackResult into the item
    item = {
        **BASE,
        "status": "SUCCEEDED_WITH_ERRORS",
        "counts": {"extracted": 5, "retried_in": 0, "loaded": 2, "rejected": 3},
        "rejection_reasons": {"invalid_order_id": 3},
        "examples": {"invalid_order_id": examples},
        "report_key": f"runs/{RUN_ID}/report.json",
    }

    body = render(item, None, BUCKET).body

    assert len(body.encode()) < 2 * 1024
    assert (
        f"          e.g. 1{'A' * 59}…[+119,940 chars] (row 1 of {run_data.SOURCE}); "
        f"2{'A' * 59}…[+119,940 chars] (row 2 of {run_data.SOURCE}); "
        f"3{'A' * 59}…[+119,940 chars] (row 3 of {run_data.SOURCE})\n"
    ) in body


def test_the_email_stays_within_its_byte_budget_whatever_the_item_and_report_hold(run_data):
    huge = "😀" * 120_000
    reasons = {f"reason_{n}": 1000 + n for n in range(8)}
    item = {
        **BASE,
        "status": "FAILED",
        "stages": {f"{huge}{n}": {"status": huge} for n in range(300)},
        "error": {"state": huge, "error": huge, "cause": huge, "message": "Load failed: " + "\ufffe" + huge},
        "counts": {"extracted": 10_000, "rejected": 8_028 + 1_234},
        "rejection_reasons": reasons,
        "examples": {name: [huge] * 9 for name in reasons},
        "other_reasons": {"rejection_reasons": {"reasons": 0, "records": 1_234}},
        "report_key": f"runs/{RUN_ID}/report.json",
    }
    report = run_data.sample_report(
        RUN_ID,
        failure_errors={f"Error{n:02d} {huge}": ReasonSummary(10, [huge] * 5) for n in range(30)},
        other_failure_errors=Others(2, 7),
    )

    message = render(item, report, BUCKET)

    assert len(message.body.encode()) <= EMAIL_BYTES == 64 * 1024
    assert len(message.subject) < 100
    assert first_refused(message.body) is None
    assert "  Load failed: \\ufffe" + "😀" * 1981 + "…[+118,019 chars]\n" in message.body
    assert message.body.endswith(
        f" more line(s); the rest is in the run's item in etl_runs (2026-11-22) and "
        f"s3://{BUCKET}/runs/{RUN_ID}/report.json]\n"
    )


def test_reasons_beyond_those_shown_are_counted_in_one_line():
    reasons = {f"reason_{n}": 100 - n for n in range(8)}
    item = {
        **BASE,
        "status": "SUCCEEDED_WITH_ERRORS",
        "counts": {"extracted": 2_000, "rejected": sum(reasons.values()) + 1_000},
        "rejection_reasons": reasons,
        "other_reasons": {"rejection_reasons": {"reasons": 2, "records": 1_000}},
    }
    report = run_data_report_with_errors(12)

    body = render(item, report, BUCKET).body

    # Five reasons shown; three more (95 + 94 + 93 rows) and the two the load only counted (1,000 rows).
    assert "  and 5 more reasons, 1,282 rows\n" in body
    assert "  and 7 more errors, 7 rows\n" in body


def run_data_report_with_errors(errors: int) -> LoadReport:
    return LoadReport(
        run_id=RUN_ID,
        run_date=RUN_DATE,
        failure_errors={f"Error{n:02d}": ReasonSummary(1, [f"O-{n}"]) for n in range(errors)},
    )


def test_subjects_are_ascii_and_shorter_than_100_characters():
    item = {
        **FAILED_ITEM,
        "error": {**FAILED_ITEM["error"], "state": "Lö\nad", "error": "Ünicode" + "E" * 120},
    }

    subject = render_subject(item)

    assert subject.startswith("[nightly-etl] FAILED 2026-11-22 at Lo ad: UnicodeEEE")
    assert subject.endswith("...")
    assert len(subject) == 99
    assert subject.isascii()


def test_the_email_is_published_on_the_status_topic_with_its_subject(aws, clock, run):
    record_failure(
        aws.store,
        {
            "state": {
                "begin": {"value": {"run": run}},
                "error": {"Error": "States.Timeout", "Cause": ""},
                "failed_state": "Load",
            },
            "execution_arn": EXECUTION_ARN,
        },
        clock,
    )

    answer = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": {}})

    [email] = aws.emails()
    assert email["Subject"] == answer["subject"] == "[nightly-etl] FAILED 2026-11-22 at Load: States.Timeout"
    assert email["TopicArn"] == aws.config.status_topic_arn
    assert (
        "  Load failed: States.Timeout: the state did not finish within its time limit\n" in email["Message"]
    )
    assert email["MessageId"] == answer["message_id"]


def test_without_an_item_for_the_execution_the_email_is_rendered_from_the_result(aws, clock):
    result = record_failure(
        aws.store,
        {
            "state": {
                "run_date": "2026-13-45",
                "error": {"Error": "ValueError", "Cause": "bad date"},
                "failed_state": "BeginRun",
            },
            "execution_arn": EXECUTION_ARN,
        },
        clock,
    )

    answer = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": result["run"], "result": result})

    [email] = aws.emails()
    assert email["Subject"] == answer["subject"] == "[nightly-etl] FAILED 2026-13-45 at BeginRun: ValueError"
    assert "  BeginRun failed: ValueError: bad date\n" in email["Message"]


# --- one email per outcome -----------------------------------------------------------------------


def finished(aws, run, status="SUCCEEDED"):
    """The run as TrackResult leaves it: its outcome recorded, the lock released."""
    aws.store.finish(
        Run.from_dict(run),
        RunStatus(status),
        {"counts": {"extracted": 5, "loaded": 5}, "identity_ok": True},
        "2026-11-22T06:04:07.600Z",
    )
    return {"status": status, "run": run, "counts": {"extracted": 5, "loaded": 5}}


class FailingTopic:
    """SNS that refuses the first ``failures`` publishes the way SNS throttles, then publishes for real."""

    def __init__(self, sns, failures: int):
        self._sns = sns
        self.failures = failures

    def publish(self, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "Throttled", "Message": "Rate exceeded"}}, "Publish")
        return self._sns.publish(**kwargs)


def test_a_repeated_notify_publishes_nothing_and_answers_already_sent(aws, run):
    result = finished(aws, run)

    first = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": result})
    again = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": result})

    [email] = aws.emails()
    assert (
        email["Subject"]
        == first["subject"]
        == "[nightly-etl] SUCCEEDED 2026-11-22: 5 loaded, 0 rejected, 0 retrying"
    )
    assert (first["sent"], first["message_id"]) == (True, email["MessageId"])
    assert again == {"status": "SUCCEEDED", "sent": False, "subject": None, "message_id": None}
    item = aws.store.get(RUN_DATE)
    assert (item["notified"], item["status"]) == (["SUCCEEDED"], "SUCCEEDED")


def test_the_failure_tracker_after_notify_failure_sends_no_second_failed_email(aws, clock, run):
    failure = record_failure(
        aws.store,
        {
            "state": {
                "begin": {"value": {"run": run}},
                "error": {"Error": "HeaderError", "Cause": "no header"},
                "failed_state": "Extract",
            },
            "execution_arn": EXECUTION_ARN,
        },
        clock,
    )
    event = {"run": failure["run"], "result": failure}

    sent = notify(aws.config, aws.store, aws.s3, aws.sns, event)
    repeated = notify(aws.config, aws.store, aws.s3, aws.sns, event)

    [email] = aws.emails()
    assert email["Subject"] == sent["subject"] == "[nightly-etl] FAILED 2026-11-22 at Extract: HeaderError"
    assert (sent["sent"], repeated["sent"], repeated["status"]) == (True, False, "FAILED")


def test_a_failure_reported_after_the_success_email_sends_nothing_more(aws, run):
    """The failure tracker's event for a run TrackResult finished: the item's outcome is the one emailed."""
    result = finished(aws, run, "SUCCEEDED_WITH_ERRORS")
    notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": result})
    late_failure = {"run": run, "status": "FAILED", "error": {"state": "Notify", "error": "States.Timeout"}}

    answer = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": late_failure})

    assert (answer["status"], answer["sent"]) == ("SUCCEEDED_WITH_ERRORS", False)
    assert [e["Subject"] for e in aws.emails()] == [
        "[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-11-22: 5 loaded, 0 rejected, 0 retrying"
    ]


def test_a_refused_publish_takes_the_marker_back_so_that_the_retry_sends(aws, run):
    result = finished(aws, run)
    topic = FailingTopic(aws.sns, failures=1)

    with pytest.raises(PublishError) as refused:
        notify(aws.config, aws.store, aws.s3, topic, {"run": run, "result": result})
    assert str(refused.value) == (
        "the status email of 2026-11-22 (SUCCEEDED) was not published: ClientError: An error occurred "
        "(Throttled) when calling the Publish operation: Rate exceeded"
    )
    assert "notified" not in aws.store.get(RUN_DATE)
    assert aws.emails() == []

    retried = notify(aws.config, aws.store, aws.s3, topic, {"run": run, "result": result})

    [email] = aws.emails()
    assert (retried["sent"], retried["message_id"]) == (True, email["MessageId"])
    assert aws.store.get(RUN_DATE)["notified"] == ["SUCCEEDED"]


def test_the_crash_hook_fails_the_attempt_that_published_and_the_retry_finds_it_sent(aws, run):
    result = finished(aws, run)
    crashing = replace(aws.config, notify_crash_after_publish=1)

    with pytest.raises(SimulatedCrash, match=f"after publishing the SUCCEEDED email of run {run['run_id']}"):
        notify(crashing, aws.store, aws.s3, aws.sns, {"run": run, "result": result})
    retried = notify(crashing, aws.store, aws.s3, aws.sns, {"run": run, "result": result})

    assert len(aws.emails()) == 1
    assert retried["sent"] is False


def test_a_run_without_an_item_holds_no_marker_and_is_emailed_each_time(aws, clock):
    result = record_failure(
        aws.store,
        {
            "state": {"run_date": "2026-13-45", "error": {"Error": "ValueError", "Cause": "bad date"}},
            "execution_arn": EXECUTION_ARN,
        },
        clock,
    )
    event = {"run": result["run"], "result": result}

    answers = [notify(aws.config, aws.store, aws.s3, aws.sns, event) for _ in range(2)]

    assert [a["sent"] for a in answers] == [True, True]
    assert len(aws.emails()) == 2
    assert aws.dynamodb.scan(TableName=aws.config.runs_table)["Items"] == []


def test_a_newer_executions_date_is_left_unmarked_and_the_older_email_still_goes(aws, clock, run):
    finished(aws, run)
    newer = {**run, "execution_arn": EXECUTION_ARN + "-rerun", "run_id": "2026-11-22-0000000000"}
    aws.store.claim(Run.from_dict({**newer, "force": True}), {})
    result = {"status": "SUCCEEDED", "run": run, "counts": {"extracted": 5, "loaded": 5}}

    answer = notify(aws.config, aws.store, aws.s3, aws.sns, {"run": run, "result": result})

    assert answer["sent"] is True
    assert "notified" not in aws.store.get(RUN_DATE)


def test_a_notify_whose_retries_ran_out_is_recorded_beside_the_outcome(aws, run):
    finished(aws, run)
    before = aws.store.get(RUN_DATE)
    cause = json.dumps({"errorType": "PublishError", "errorMessage": "SNS is down", "stackTrace": []})

    answer = record_notify_error(
        aws.store, {"run": run, "notify_error": {"Error": "PublishError", "Cause": cause}}
    )

    expected = {
        "state": "Notify",
        "error": "PublishError",
        "cause": cause,
        "message": "Notify failed: PublishError: SNS is down",
    }
    assert answer == {"notify_error": expected, "recorded": True}
    assert aws.store.get(RUN_DATE) == {**before, "notify_error": expected}
    other = {**run, "execution_arn": EXECUTION_ARN + "-other"}
    assert record_notify_error(aws.store, {"run": other, "notify_error": {}})["recorded"] is False
