"""The load report's arithmetic: partition shares merge into one report whose counts must add up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.report import MAX_EXAMPLES, Aggregates, LoadReport, Others, ReasonSummary
from pipeline.runs import AccountingError
from pipeline.staging import Origin, StagedRecord
from pipeline.transforms import example


def share(**counts: int) -> LoadReport:
    return LoadReport(run_id="", run_date="", **counts)


def test_aggregates_add_up_to_the_cent_per_currency_and_category():
    totals = Aggregates()
    totals.add("lighting", "USD", 2, Decimal("0.10"))
    totals.add("lighting", "USD", 1, Decimal("0.20"))
    totals.add("furniture", "EUR", 3, Decimal("149.00"))

    assert (totals.orders, totals.quantity) == (3, 6)
    assert totals.revenue == {"USD": "0.30", "EUR": "149.00"}
    assert totals.by_category == {
        "lighting": {"orders": 2, "revenue": {"USD": "0.30"}},
        "furniture": {"orders": 1, "revenue": {"EUR": "149.00"}},
    }


def test_merged_aggregates_equal_the_aggregates_of_all_orders():
    first, second = Aggregates(), Aggregates()
    first.add("lighting", "USD", 2, Decimal("59.90"))
    second.add("lighting", "USD", 1, Decimal("0.10"))
    second.add("lighting", "GBP", 1, Decimal("5.00"))
    second.add("garden", "USD", 4, Decimal("10.00"))

    first.merge(second)

    assert (first.orders, first.quantity) == (4, 8)
    assert first.revenue == {"USD": "70.00", "GBP": "5.00"}
    assert first.by_category == {
        "lighting": {"orders": 3, "revenue": {"USD": "60.00", "GBP": "5.00"}},
        "garden": {"orders": 1, "revenue": {"USD": "10.00"}},
    }


def test_partition_reports_merge_counts_examples_and_part_keys():
    first = share(staged=4, loaded=2, rejected=1, duplicates_dropped=1)
    first.rejection_reasons["invalid_amount"] = ReasonSummary(4, [f"A-{n}" for n in range(4)])
    first.failed_keys.append("runs/r/failed/part-00000.jsonl.gz")
    second = share(staged=3, loaded=1, rejected=1, failed=1)
    second.rejection_reasons["invalid_amount"] = ReasonSummary(3, ["B-1", "B-2", "B-3"])
    second.rejection_reasons["unknown_product"] = ReasonSummary(1, ["C-1"])
    second.failure_errors["UnprocessedItems after 5 attempts"] = ReasonSummary(1, ["D-1"])
    second.failed_keys.append("runs/r/failed/part-00001.jsonl.gz")
    second.rejected_keys.append("runs/r/rejected/part-00001.jsonl.gz")

    total = share()
    total.merge(first)
    total.merge(second)

    assert (total.staged, total.loaded, total.rejected, total.failed, total.duplicates_dropped) == (
        7,
        3,
        2,
        1,
        1,
    )
    assert total.rejection_reasons["invalid_amount"] == ReasonSummary(7, ["A-0", "A-1", "A-2", "A-3", "B-1"])
    assert len(total.rejection_reasons["invalid_amount"].examples) == MAX_EXAMPLES
    assert total.rejection_reasons["unknown_product"] == ReasonSummary(1, ["C-1"])
    assert total.failure_errors == {"UnprocessedItems after 5 attempts": ReasonSummary(1, ["D-1"])}
    assert total.failed_keys == ["runs/r/failed/part-00000.jsonl.gz", "runs/r/failed/part-00001.jsonl.gz"]
    assert total.rejected_keys == ["runs/r/rejected/part-00001.jsonl.gz"]
    assert total.check() is total


def test_a_report_whose_counts_do_not_add_up_fails_the_check():
    broken = LoadReport(run_id="2026-11-22-x", run_date="2026-11-22", staged=5, loaded=3, rejected=1)

    with pytest.raises(AccountingError, match=r"staged 5, but loaded 3 \+ rejected 1 .* = 4"):
        broken.check()


def test_the_report_round_trips_through_json():
    report = LoadReport(run_id="r", run_date="2026-11-22", staged=2, loaded=1, failed=1)
    report.failure_errors["UnprocessedItems after 5 attempts"] = ReasonSummary(1, ["A-1 (row 1 of s3://b/k)"])
    report.rejected_keys.append("runs/r/rejected/part-00000.jsonl.gz")
    report.aggregates.add("lighting", "USD", 1, Decimal("9.99"))

    assert LoadReport.from_json(report.to_json()) == report


def test_an_example_names_any_record_briefly_with_its_place_kept_readable():
    source = "s3://landing/landing/orders/dt=2026-11-22/orders.csv"
    long_id = StagedRecord(
        {"order_id": "A" * 120_000, "customer": "x" * 1_000_000}, Origin("file", source, 3)
    )
    refused = StagedRecord({"order_id": "O-\ufffe"}, Origin("file", source, 4))
    retried = StagedRecord(
        {"order_id": "O-7"}, Origin("retry", source, 5, attempt=2, first_failed_run="2026-11-21-0a1b2c3d4e")
    )

    assert example(long_id) == f"{'A' * 60}…[+119,940 chars] (row 3 of {source})"
    assert example(refused) == f"O-\\ufffe (row 4 of {source})"
    assert example(retried) == f"O-7 (row 5 of {source}, retry 2 (first failed in run 2026-11-21-0a1b2c3d4e))"
    assert example(StagedRecord({}, Origin("file", "https://x/" + "p" * 500, 1))) == (
        "(empty) (row 1 of https://x/" + "p" * 172 + "…[+329 chars]"
    )


def test_a_partitions_report_keeps_bounded_examples_whatever_the_rows_hold():
    report = share(staged=0)
    for n in range(6):
        report.rejection_reasons.setdefault("invalid_order_id", ReasonSummary()).add("A" * 120_000 + str(n))
    summary = report.rejection_reasons["invalid_order_id"]
    assert summary.count == 6
    assert summary.examples == ["A" * 200 + "…[+119,801 chars]"] * MAX_EXAMPLES
    others = report.bounded()
    assert others.other_rejection_reasons == Others(0, 0)
    assert LoadReport.from_json(report.to_json()).rejection_reasons == report.rejection_reasons
