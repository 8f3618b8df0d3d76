"""The status email: exact subjects and bodies for every outcome, and its publication on the status topic."""

from __future__ import annotations

from pipeline.notification import notify, render, render_subject
from pipeline.tracking import record_failure

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
