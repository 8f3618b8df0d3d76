"""Known runs for the dashboard tests, as the tracking Lambdas write them (see pipeline/run_store.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

REGION = "eu-west-1"
RUNS_TABLE = "test-etl-runs"
AS_OF = "2026-11-21"  # the seeded window ends here


def _counts(extracted, retried_in, loaded, rejected, queued, quarantined, duplicates) -> dict[str, int]:
    return {
        "extracted": extracted,
        "retried_in": retried_in,
        "loaded": loaded,
        "rejected": rejected,
        "queued_for_retry": queued,
        "quarantined": quarantined,
        "duplicates_dropped": duplicates,
    }


# Five days of runs as the tracking Lambdas write them (see pipeline/run_store.py), plus one long before the
# window that no query may count.
RUNS: list[dict[str, Any]] = [
    {
        "run_date": "2026-11-17",
        "run_id": "2026-11-17-aaaaaaaaaa",
        "status": "SUCCEEDED",
        "attempts": 1,
        "started_at": "2026-11-17T06:00:02+00:00",
        "finished_at": "2026-11-17T06:03:12+00:00",
        "counts": _counts(120, 0, 118, 0, 0, 0, 2),
        "identity_ok": True,
        "rejection_reasons": {},
        "aggregates": {
            "orders": 118,
            "quantity": 240,
            "revenue": {"EUR": "5230.40"},
            "by_category": {
                "Books": {"orders": 60, "revenue": {"EUR": "1800.00"}},
                "Garden": {"orders": 58, "revenue": {"EUR": "3430.40"}},
            },
        },
        "retry_backlog": 0,
        "quarantine_total": 0,
    },
    {
        "run_date": "2026-11-18",
        "run_id": "2026-11-18-bbbbbbbbbb",
        "status": "SUCCEEDED_WITH_ERRORS",
        "attempts": 1,
        "started_at": "2026-11-18T06:00:01+00:00",
        "finished_at": "2026-11-18T06:02:31.500000+00:00",
        "counts": _counts(130, 0, 120, 6, 4, 0, 0),
        "identity_ok": True,
        "rejection_reasons": {"unknown_product": 4, "invalid_amount": 2},
        "aggregates": {
            "orders": 120,
            "quantity": 250,
            "revenue": {"EUR": "4100.10", "USD": "950.00"},
            "by_category": {
                "Books": {"orders": 70, "revenue": {"EUR": "2100.10", "USD": "950.00"}},
                "Garden": {"orders": 50, "revenue": {"EUR": "2000.00"}},
            },
        },
        "retry_backlog": 4,
        "quarantine_total": 0,
    },
    {
        "run_date": "2026-11-19",
        "run_id": "2026-11-19-cccccccccc",
        "status": "FAILED",
        "attempts": 2,
        "started_at": "2026-11-19T06:00:00+00:00",
        "finished_at": "2026-11-19T06:10:00+00:00",
        "error": {
            "state": "Load",
            "error": "States.TaskFailed",
            "cause": "Glue job run failed",
            "message": "load_orders ran out of memory",
        },
    },
    {
        "run_date": "2026-11-20",
        "run_id": "2026-11-20-dddddddddd",
        "status": "SUCCEEDED_WITH_ERRORS",
        "attempts": 1,
        "started_at": "2026-11-20T06:00:00+00:00",
        "finished_at": "2026-11-20T06:01:00+00:00",
        "counts": _counts(100, 4, 99, 3, 0, 1, 1),
        "identity_ok": True,
        "rejection_reasons": {"unknown_product": 1, "invalid_date": 2},
        "aggregates": {
            "orders": 99,
            "quantity": 180,
            "revenue": {"EUR": "3999.99"},
            "by_category": {
                "Books": {"orders": 40, "revenue": {"EUR": "1500.00"}},
                "Toys": {"orders": 59, "revenue": {"EUR": "2499.99"}},
            },
        },
        "retry_backlog": 0,
        "quarantine_total": 1,
    },
    {
        "run_date": "2026-11-21",
        "run_id": "2026-11-21-eeeeeeeeee",
        "status": "NO_DATA",
        "attempts": 1,
        "started_at": "2026-11-21T06:00:00+00:00",
        "finished_at": "2026-11-21T06:00:04+00:00",
        "counts": _counts(0, 0, 0, 0, 0, 0, 0),
        "identity_ok": True,
        "rejection_reasons": {},
        "retry_backlog": 0,
        "quarantine_total": 1,
    },
    {
        "run_date": "2026-09-01",
        "run_id": "2026-09-01-ffffffffff",
        "status": "SUCCEEDED_WITH_ERRORS",
        "attempts": 1,
        "counts": _counts(1000, 0, 900, 100, 0, 0, 0),
        "identity_ok": True,
        "rejection_reasons": {"invalid_currency": 100},
        "aggregates": {
            "orders": 900,
            "quantity": 900,
            "revenue": {"EUR": "99999.00"},
            "by_category": {"Books": {"orders": 900, "revenue": {"EUR": "99999.00"}}},
        },
        "retry_backlog": 7,
        "quarantine_total": 0,
    },
]


def as_dynamodb(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {k: as_dynamodb(v) for k, v in value.items()}
    return value
