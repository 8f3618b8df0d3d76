"""The nightly run of the sample partner file, fired by the schedule, end to end on the deployed stack."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from etl import operations

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

RUN_DATE = date(2026, 11, 1)
LOADED = {"ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1008"}
REJECTED = {  # reason -> (data row, order_id)
    "missing_order_id": (5, ""),
    "negative_amount": (6, "ORD-1005"),
    "invalid_customer": (7, "ORD-1006"),
    "unknown_product": (8, "ORD-1007"),
    "missing_field": (11, "ORD-1009"),
}
COUNTS = {
    "extracted": 11,
    "retried_in": 0,
    "loaded": 5,
    "rejected": 5,
    "queued_for_retry": 0,
    "quarantined": 0,
    "duplicates_dropped": 1,
}


def catalog() -> dict[str, tuple[str, str, Decimal]]:
    """product_id -> (name, category, unit_price) from data/products.csv."""
    with operations.SAMPLE_CATALOG.open(encoding="utf-8", newline="") as f:
        return {
            row["product_id"]: (row["name"], row["category"], Decimal(row["unit_price"]))
            for row in csv.DictReader(f)
        }


def test_scheduled_run_of_the_sample_file(stack: E2EStack) -> None:
    operations.upload_partner_file(stack, RUN_DATE)

    started, execution = stack.run_scheduled(RUN_DATE)

    assert started.run_date == RUN_DATE
    assert execution["status"] == "SUCCEEDED"

    # The orders table: exactly the five valid orders, enriched from the catalog.
    orders = stack.orders(RUN_DATE)
    assert set(orders) == LOADED
    sample = {}
    with operations.SAMPLE_ORDERS.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            sample[row["order_id"]] = row  # the later row of a duplicate wins
    products = catalog()
    for order_id, order in orders.items():
        row = sample[order_id]
        name, category, unit_price = products[row["product_id"]]
        assert order["run_date"] == "2026-11-01"
        assert order["product_id"] == row["product_id"]
        assert order["product_name"] == name
        assert order["category"] == category
        assert Decimal(str(order["unit_price"])) == unit_price
        assert order["customer"] == row["customer"]
        assert order["currency"] == row["currency"]
    assert orders["ORD-1003"]["quantity"] == 2
    assert Decimal(str(orders["ORD-1003"]["amount"])) == Decimal("238.00")
    assert orders["ORD-1004"]["customer"] == "Zoë Ñúñez 👩\u200d💻"

    # The run item: counts, status, identity, lock released.
    item = stack.run_item(RUN_DATE)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["execution_arn"] == started.execution_arn
    assert {name: item["counts"][name] for name in COUNTS} == COUNTS
    assert item["identity_ok"] is True
    assert "lock" not in item
    assert item["rejection_reasons"] == dict.fromkeys(REJECTED, 1)
    run_id = item["run_id"]

    # The rejected report lists each bad row with its reason.
    rejected = stack.staged_lines(f"runs/{run_id}/rejected/")
    assert sorted(r["reason"] for r in rejected) == sorted(REJECTED)
    by_reason = {r["reason"]: r for r in rejected}
    for reason, (line, order_id) in REJECTED.items():
        assert by_reason[reason]["origin"]["line"] == line
        assert (by_reason[reason]["raw"].get("order_id") or "") == order_id
        assert by_reason[reason]["origin"]["source"] == (
            f"s3://{stack.outputs.landing_bucket_name}/landing/orders/dt=2026-11-01/orders_sample.csv"
        )

    # The status email.
    emails = stack.emails(RUN_DATE)
    assert len(emails) == 1
    message = emails[0]
    assert message["Subject"] == (
        "[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-11-01: 5 loaded, 5 rejected, 0 retrying"
    )
    body = email_text(message)
    assert "Nightly ETL SUCCEEDED_WITH_ERRORS for 2026-11-01" in body
    assert f"Run id:     {run_id}" in body
    assert "Identity (holds): extracted + retried in = 11 + 0 = 11" in body
    assert "loaded + rejected + queued + quarantined + duplicates = 5 + 5 + 0 + 0 + 1 = 11" in body
    for reason in REJECTED:
        assert f"     1  {reason}: " in body

    # The same date again: succeeds, and the table still has exactly the five orders for it.
    again, execution = stack.run_direct(RUN_DATE)
    assert execution["status"] == "SUCCEEDED"
    assert set(stack.orders(RUN_DATE)) == LOADED
    item = stack.run_item(RUN_DATE)
    assert item["execution_arn"] == again.execution_arn
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert {name: item["counts"][name] for name in COUNTS} == COUNTS
    assert len(stack.emails(RUN_DATE)) == 2
