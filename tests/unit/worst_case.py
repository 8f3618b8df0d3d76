"""A load report at its worst for the budgets: every text far over its length, in 4-byte characters."""

from __future__ import annotations

from pipeline.contract import Reason
from pipeline.report import Aggregates, LoadReport, ReasonSummary

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN"]
HUGE = "😀" * 120_000
REJECTED_PER_REASON = 1_000_000
WRITE_ERRORS = 40  # each failing 10 + n records


def worst_case_report(run_id: str = "2026-11-22-5d41402abc", run_date: str = "2026-11-22") -> LoadReport:
    """More reasons, write errors and categories than are kept, every example and name far over its
    length; counts consistent (``staged`` = loaded + rejected, no failed records in parts)."""
    reasons = {
        reason.value: ReasonSummary(REJECTED_PER_REASON, [f"{HUGE}{n}" for n in range(9)])
        for reason in Reason
    }
    errors = {f"Error{n:02d} {HUGE}": ReasonSummary(10 + n, [HUGE]) for n in range(WRITE_ERRORS)}
    categories = {
        f"{'😀' * 300}{n}": {"orders": 1000 + n, "revenue": {c: "999999999.99" for c in CURRENCIES}}
        for n in range(500)
    }
    aggregates = Aggregates(10**9, 10**9, {c: "123456789012.34" for c in CURRENCIES}, categories)
    rejected = REJECTED_PER_REASON * len(Reason)
    return LoadReport(
        run_id=run_id,
        run_date=run_date,
        staged=rejected + 10**9,
        loaded=10**9,
        rejected=rejected,
        rejection_reasons=reasons,
        failure_errors=errors,
        aggregates=aggregates,
    )
