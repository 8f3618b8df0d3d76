"""Days the partner sends nothing, or something that is not the agreed file: the run says so and loads nothing."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

HEADER = "order_id,order_date,customer,product_id,quantity,amount,currency\n"


def test_a_day_without_a_partner_file_is_no_data(stack: E2EStack) -> None:
    run_date = date(2026, 11, 2)

    started, execution = stack.run_scheduled(run_date)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    assert item["status"] == "NO_DATA"
    assert item["execution_arn"] == started.execution_arn
    assert "lock" not in item
    assert stack.orders(run_date) == {}
    [message] = stack.emails(run_date)
    assert message["Subject"] == "[nightly-etl] NO_DATA 2026-11-02: nothing to load"
    body = email_text(message)
    assert body.startswith("Nightly ETL NO_DATA for 2026-11-02\n")
    assert "Nothing was loaded: the day had no rows to extract and no records were waiting for retry." in body


def test_a_file_with_a_wrong_header_fails_the_run(stack: E2EStack) -> None:
    run_date = date(2026, 11, 3)
    body = HEADER.replace("customer,", "client,") + "ORD-3001,2026-11-03,Ada Lovelace,P-1001,1,19.99,EUR\n"
    stack.put_landing(run_date, "orders.csv", body.encode())

    started, execution = stack.run_direct(run_date)

    assert execution["status"] == "FAILED"
    item = stack.run_item(run_date)
    assert item["status"] == "FAILED"
    assert item["execution_arn"] == started.execution_arn
    assert "lock" not in item
    error = item["error"]
    assert error["state"] == "Extract"
    assert error["error"] == "HeaderError"
    assert error["message"].startswith("Extract failed: HeaderError: s3://")
    assert "orders.csv has a wrong header: missing customer" in error["message"]
    assert stack.orders(run_date) == {}
    [message] = stack.emails(run_date)
    assert message["Subject"] == "[nightly-etl] FAILED 2026-11-03 at Extract: HeaderError"
    text = email_text(message)
    assert "The run stopped at Extract." in text
    assert "missing customer" in text
    assert "The lock on 2026-11-03 is released" in text


def test_a_file_that_is_not_csv_fails_the_run_cleanly(stack: E2EStack) -> None:
    run_date = date(2026, 11, 4)
    stack.put_landing(run_date, "orders.csv", gzip.compress(HEADER.encode() * 10))

    started, execution = stack.run_direct(run_date)

    assert execution["status"] == "FAILED"
    item = stack.run_item(run_date)
    assert item["status"] == "FAILED"
    assert "lock" not in item
    error = item["error"]
    assert error["state"] == "Extract"
    assert error["error"] == "NotCsvError"
    assert "orders.csv is not a CSV file: it is gzip-compressed data" in error["message"]
    assert stack.orders(run_date) == {}
    [message] = stack.emails(run_date)
    assert message["Subject"] == "[nightly-etl] FAILED 2026-11-04 at Extract: NotCsvError"
