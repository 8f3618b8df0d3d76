"""Rejected rows with fields of any length: the run ends SUCCEEDED_WITH_ERRORS, its item and its email within
their byte budgets (pipeline.budgets), on the emulator that refuses what AWS refuses (emulator.size_limits)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from emulator.dynamodb_capacity import item_size
from pipeline import layout
from pipeline.budgets import EMAIL_BYTES

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

HEADER = "order_id,order_date,customer,product_id,quantity,amount,currency\n"
LONG = 120_000


def valid_rows(run_date: date, count: int) -> str:
    return "".join(f"BND-{n},{run_date},Ada Lovelace,P-1001,1,249.00,EUR\n" for n in range(1, count + 1))


def long_id_rows(run_date: date, count: int, first_line: int) -> str:
    """Rows whose order_id is 120,000 characters long, each a different id (none is a duplicate)."""
    return "".join(
        f"{n:02d}{'A' * (LONG - 2)},{run_date},Ada Lovelace,P-1001,1,249.00,EUR\n"
        for n in range(first_line, first_line + count)
    )


def source_of(stack: E2EStack, run_date: date) -> str:
    return f"s3://{stack.outputs.landing_bucket_name}/{layout.orders_prefix(run_date)}orders.csv"


def stored_item_size(stack: E2EStack, run_date: date) -> int:
    """The run item's size by DynamoDB's rules, as stored."""
    raw = stack.client("dynamodb").get_item(
        TableName=stack.outputs.runs_table_name,
        Key={"run_date": {"S": run_date.isoformat()}},
        ConsistentRead=True,
    )["Item"]
    return item_size(raw)


def eml_size(stack: E2EStack, run_date: date) -> list[int]:
    return [
        Path(m["path"]).stat().st_size
        for m in stack.emulator.control.outbox()
        if run_date.isoformat() in m.get("subject", "")
    ]


def test_six_rows_with_120000_character_order_ids_are_rejected_and_the_valid_rows_loaded(
    stack: E2EStack,
) -> None:
    run_date = date(2026, 7, 21)
    body = HEADER + valid_rows(run_date, 4) + long_id_rows(run_date, 6, first_line=5)
    stack.put_landing(run_date, "orders.csv", body.encode())

    for attempt in (1, 2):  # the day re-run gives the same outcome
        started, execution = stack.run_direct(run_date)

        assert execution["status"] == "SUCCEEDED", attempt
        item = stack.run_item(run_date)
        assert item["execution_arn"] == started.execution_arn
        assert item["status"] == "SUCCEEDED_WITH_ERRORS"
        assert (item["counts"]["extracted"], item["counts"]["loaded"], item["counts"]["rejected"]) == (
            10,
            4,
            6,
        )
        assert item["rejection_reasons"] == {"invalid_order_id": 6}
        shown = item["examples"]["invalid_order_id"]
        rows = {
            f"{n:02d}{'A' * 58}…[+119,940 chars] (row {n} of {source_of(stack, run_date)})"
            for n in range(5, 11)
        }
        assert len(shown) == 5 and set(shown) <= rows  # which five: the load's partitioning decides
        assert stored_item_size(stack, run_date) < 8 * 1024

    assert sorted(stack.orders(run_date)) == ["BND-1", "BND-2", "BND-3", "BND-4"]
    messages = stack.emails(run_date)
    assert len(messages) == 2
    text = email_text(messages[-1])
    assert "       6  invalid_order_id: " in text
    assert f"{'A' * 58}…[+119,940 chars] (row " in text
    assert max(len(text.encode()), *eml_size(stack, run_date)) < EMAIL_BYTES


def test_three_long_ids_under_one_reason_and_megabyte_fields_still_send_the_email(stack: E2EStack) -> None:
    run_date = date(2026, 7, 22)
    megabyte = 1024 * 1024
    body = (
        HEADER
        + valid_rows(run_date, 2)
        + long_id_rows(run_date, 3, first_line=3)
        + f"BND-CUST,{run_date},{'c' * megabyte},P-1001,1,249.00,EUR\n"
        + f"BND-EXTRA,{run_date},Ada Lovelace,P-1001,1,249.00,EUR,{','.join(['x' * 1023] * 1024)}\n"
    )
    stack.put_landing(run_date, "orders.csv", body.encode())

    _, execution = stack.run_direct(run_date)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["rejection_reasons"] == {"invalid_order_id": 3, "invalid_customer": 1, "unexpected_field": 1}
    assert item["examples"]["invalid_customer"] == [f"BND-CUST (row 6 of {source_of(stack, run_date)})"]
    assert sorted(stack.orders(run_date)) == ["BND-1", "BND-2"]
    assert stored_item_size(stack, run_date) < 8 * 1024
    [message] = stack.emails(run_date)
    text = email_text(message)
    assert "       3  invalid_order_id: " in text
    assert "       1  unexpected_field: " in text
    assert max(len(text.encode()), *eml_size(stack, run_date)) < EMAIL_BYTES
