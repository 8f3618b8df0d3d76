"""The byte budgets: cutting with a marker, DynamoDB's item size, the email's byte cut, and the report's
bounded summaries and run-item values."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer

from emulator.dynamodb_capacity import item_size as emulator_item_size
from pipeline import budgets
from pipeline.budgets import clip, fit_utf8, item_size, safe_text
from pipeline.contract import Reason
from pipeline.report import LoadReport, Others, ReasonSummary, bounded_summaries

from .worst_case import worst_case_report

LONG_ID = "A" * 120_000


def test_a_long_text_is_cut_with_a_marker_that_counts_what_was_cut():
    assert clip(LONG_ID, 60) == "A" * 60 + "…[+119,940 chars]"
    assert clip("ORD-1", 60) == "ORD-1"
    # Cutting no more than a marker's length would not shorten it: such a text stays whole.
    assert clip("B" * 84, 60) == "B" * 84
    assert clip(clip(LONG_ID, 60), 60) == clip(LONG_ID, 60)
    assert clip("B" * 90, 60) == "B" * 60 + "…[+30 chars]"
    with pytest.raises(ValueError, match="keep must be at least 0"):
        clip("x", -1)


def test_safe_text_escapes_what_aws_refuses_before_cutting():
    assert safe_text("O-\ufffe-1", 60) == "O-\\ufffe-1"
    assert safe_text("\ud800" + "x" * 100, 10) == "\\ud800xxxx…[+96 chars]"


def test_item_size_follows_dynamodbs_rules():
    item = {"a": "xyz", "n": 1000, "m": {"k": True}, "l": [1, "ab"], "é": None, "d": Decimal("0.01")}
    # a: 1+3; n: 1+(1 digit: 2); m: 1+3+(1+1+1); l: 1+3+(1+2)+(1+2); é: 2+1; d: 1+2
    assert item_size(item) == 4 + 3 + 7 + 10 + 3 + 3 == 30


def test_item_size_agrees_with_the_emulators_independent_count():
    serializer = TypeSerializer()
    item = {
        "run_date": "2026-11-22",
        "counts": {"loaded": 123456789, "rejected": 0},
        "examples": {"invalid_order_id": ["😀" * 50 + " (row 3 of s3://b/k.csv)", "Zoë"]},
        "revenue": {"EUR": "1234.50"},
        "amount": Decimal("-12.3400"),
        "identity_ok": True,
        "nothing": None,
        "empty": {},
        "list": [],
    }
    wire = {name: serializer.serialize(value) for name, value in item.items()}
    assert item_size(item) == emulator_item_size(wire) == 377


def test_an_email_over_its_byte_budget_keeps_its_first_lines_and_says_where_the_rest_is():
    body = "".join(f"line {n} {'é' * 100}\n" for n in range(1000))  # 209,890 bytes
    cut = fit_utf8(body, 64 * 1024, "the rest is in the load report")
    assert len(cut.encode()) <= 64 * 1024
    assert cut.startswith("line 0 ")
    assert cut.endswith(" more line(s); the rest is in the load report]\n")
    kept = cut.count("\n") - 1
    assert f"…[cut at 65,536 bytes: {1000 - kept:,} more line(s);" in cut
    assert fit_utf8("short\n", 64 * 1024, "x") == "short\n"
    one_line = fit_utf8("x" * 300_000, 1024, "see the report")
    assert len(one_line.encode()) <= 1024 and "…[+" in one_line


def test_reason_summaries_keep_n_cut_examples():
    summary = ReasonSummary()
    for n in range(8):
        summary.add(f"{LONG_ID}{n} (row {n} of s3://landing/orders.csv)")
    assert summary.count == 8
    assert len(summary.examples) == budgets.EXAMPLES_PER_REASON == 5
    assert summary.examples[0] == "A" * 200 + "…[+119,836 chars]"
    # Read back from JSON, a summary meets the same bounds.
    assert ReasonSummary(2, [LONG_ID] * 9).examples == ["A" * 200 + "…[+119,800 chars]"] * 5


def test_only_k_reasons_are_kept_by_name_and_the_others_counted():
    summaries = {f"Error{n:02d}: " + "x" * 500: ReasonSummary(n + 1, [f"O-{n}"]) for n in range(23)}
    kept, others = bounded_summaries(summaries, Others(1, 7))

    assert len(kept) == budgets.REASONS_KEPT == 20
    # The most records first; the three smallest (1, 2 and 3 records) are counted, with those already counted.
    assert min(s.count for s in kept.values()) == 4
    assert others == Others(reasons=3 + 1, records=1 + 2 + 3 + 7)
    name = next(iter(kept))
    assert name == "Error22: " + "x" * 91 + "…[+409 chars]"


def test_the_run_items_report_values_fit_their_budget_whatever_the_report_holds():
    report = worst_case_report()
    values = report.run_values()
    size = item_size(values)

    assert size == 132_564 <= budgets.RUN_ITEM_VALUES_BYTES == 160 * 1024
    assert len(values["rejection_reasons"]) == len(Reason)
    assert sum(values["rejection_reasons"].values()) == len(Reason) * 1_000_000  # counts are never cut
    assert len(values["failure_errors"]) == 20
    assert values["other_reasons"] == {"failure_errors": {"reasons": 20, "records": sum(range(10, 30))}}
    assert {len(e) for e in values["examples"].values()} == {budgets.EXAMPLES_PER_REASON}
    assert values["examples"]["invalid_order_id"][1] == "😀" * 200 + "…[+119,801 chars]"
    by_category = values["aggregates"]["by_category"]
    assert len(by_category) == budgets.CATEGORIES_KEPT + 1
    assert sum(group["orders"] for group in by_category.values()) == sum(range(1000, 1500))
    assert by_category["(other categories)"]["orders"] == sum(range(1000, 1450))


def test_over_budget_the_examples_go_first_then_the_categories_by_name():
    report = worst_case_report()
    report.aggregates.by_category = {
        f"{n:03d}{'😀' * 1000}": {"orders": n, "revenue": {"EUR": "1.00"}} for n in range(60)
    }
    values = report.run_values()

    # 50 categories of 4 KB each cannot fit with or without examples: no example, ten categories by name.
    assert item_size(values) <= budgets.RUN_ITEM_VALUES_BYTES
    assert values["examples"] == {}
    by_category = values["aggregates"]["by_category"]
    assert sorted(name[:3] for name in by_category) == ["(ot", *[f"{n:03d}" for n in range(50, 60)]]
    assert by_category["(other categories)"] == {"orders": sum(range(50)), "revenue": {"EUR": "50.00"}}
    assert values["aggregates"]["orders"] == 10**9  # totals are never cut


def test_values_within_budget_are_written_as_they_are():
    report = LoadReport(
        run_id="r",
        run_date="2026-11-22",
        rejection_reasons={"negative_amount": ReasonSummary(2, ["O-9 (row 9 of orders.csv)", "O-10"])},
        failure_errors={"UnprocessedItems after 5 attempts": ReasonSummary(1, ["O-1"])},
    )
    assert report.run_values() == {
        "rejection_reasons": {"negative_amount": 2},
        "examples": {"negative_amount": ["O-9 (row 9 of orders.csv)", "O-10"]},
        "failure_errors": {"UnprocessedItems after 5 attempts": 1},
        "aggregates": {"orders": 0, "quantity": 0, "revenue": {}, "by_category": {}},
    }


def test_the_report_json_keeps_k_names_and_reads_back_its_counted_others():
    report = worst_case_report()
    text = report.to_json()
    again = LoadReport.from_json(text)

    assert len(again.failure_errors) == 20
    assert again.other_failure_errors == Others(20, sum(range(10, 30)))
    written = json.loads(text)
    summaries = [written["rejection_reasons"], written["failure_errors"]]
    assert len(json.dumps(summaries, ensure_ascii=False).encode()) == 79_208  # of 2 × 120,000 × 4-byte rows
    assert all(len(e) <= 220 for s in again.rejection_reasons.values() for e in s.examples)
