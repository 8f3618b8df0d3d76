"""The load report (report.json) the Glue job writes and TrackResult, the notifier and the CLI read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from pipeline.runs import AccountingError

MAX_EXAMPLES = 5


@dataclass
class ReasonSummary:
    count: int = 0
    examples: list[str] = field(default_factory=list)  # "order_id (row N of source)" for a person to find

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def merge(self, other: ReasonSummary) -> None:
        self.count += other.count
        self.examples = (self.examples + other.examples)[:MAX_EXAMPLES]


@dataclass
class Aggregates:
    """Per-day figures the dashboard reads from the runs table instead of scanning orders."""

    orders: int = 0
    quantity: int = 0
    revenue: dict[str, str] = field(default_factory=dict)  # currency → decimal text
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)  # category → {orders, revenue{}}

    def add(self, category: str, currency: str, quantity: int, amount: Decimal) -> None:
        """Count one loaded order."""
        self.orders += 1
        self.quantity += quantity
        _add_revenue(self.revenue, currency, amount)
        group = self.by_category.setdefault(category, {"orders": 0, "revenue": {}})
        group["orders"] += 1
        _add_revenue(group["revenue"], currency, amount)

    def merge(self, other: Aggregates) -> None:
        self.orders += other.orders
        self.quantity += other.quantity
        for currency, amount in other.revenue.items():
            _add_revenue(self.revenue, currency, Decimal(amount))
        for category, theirs in other.by_category.items():
            group = self.by_category.setdefault(category, {"orders": 0, "revenue": {}})
            group["orders"] += theirs["orders"]
            for currency, amount in theirs["revenue"].items():
                _add_revenue(group["revenue"], currency, Decimal(amount))


def _add_revenue(revenue: dict[str, str], currency: str, amount: Decimal) -> None:
    # Decimal text, not float: revenue must add up to the cent however many orders there are.
    revenue[currency] = str(Decimal(revenue.get(currency, "0")) + amount)


@dataclass
class LoadReport:
    run_id: str
    run_date: str
    job_run_id: str = ""
    staged: int = 0
    loaded: int = 0
    rejected: int = 0
    failed: int = 0
    duplicates_dropped: int = 0
    rejection_reasons: dict[str, ReasonSummary] = field(default_factory=dict)
    failure_errors: dict[str, ReasonSummary] = field(default_factory=dict)
    rejected_prefix: str = ""
    failed_prefix: str = ""
    failed_keys: list[str] = field(default_factory=list)  # S3 keys of the failed/*.jsonl.gz parts
    rejected_keys: list[str] = field(default_factory=list)  # S3 keys of the rejected/*.jsonl.gz parts
    aggregates: Aggregates = field(default_factory=Aggregates)
    duration_s: float = 0.0

    @property
    def accounted(self) -> int:
        return self.loaded + self.rejected + self.failed + self.duplicates_dropped

    def check(self) -> LoadReport:
        """Every staged record is loaded, rejected, failed or a dropped duplicate: exactly one of them."""
        if self.staged != self.accounted:
            raise AccountingError(
                f"load of run {self.run_id} does not add up: staged {self.staged}, but loaded {self.loaded} "
                f"+ rejected {self.rejected} + failed {self.failed} + duplicates_dropped "
                f"{self.duplicates_dropped} = {self.accounted}"
            )
        return self

    def merge(self, other: LoadReport) -> None:
        """Add the counts, summaries and part keys of another share of the same load (one partition)."""
        self.staged += other.staged
        self.loaded += other.loaded
        self.rejected += other.rejected
        self.failed += other.failed
        self.duplicates_dropped += other.duplicates_dropped
        _merge_summaries(self.rejection_reasons, other.rejection_reasons)
        _merge_summaries(self.failure_errors, other.failure_errors)
        self.failed_keys.extend(other.failed_keys)
        self.rejected_keys.extend(other.rejected_keys)
        self.aggregates.merge(other.aggregates)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadReport:
        data = json.loads(text)
        data["rejection_reasons"] = {
            k: ReasonSummary(**v) for k, v in data.get("rejection_reasons", {}).items()
        }
        data["failure_errors"] = {k: ReasonSummary(**v) for k, v in data.get("failure_errors", {}).items()}
        data["aggregates"] = Aggregates(**data.get("aggregates", {}))
        return cls(**data)


def _merge_summaries(ours: dict[str, ReasonSummary], theirs: dict[str, ReasonSummary]) -> None:
    for name, summary in theirs.items():
        ours.setdefault(name, ReasonSummary()).merge(summary)
