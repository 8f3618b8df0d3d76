"""The load report (report.json) the Glue job writes and TrackResult, the notifier and the CLI read.

Its summaries are bounded whatever the rows hold (``pipeline.budgets``): an example is cut to
``EXAMPLE_CHARS`` with a visible marker and escaped, at most ``EXAMPLES_PER_REASON`` are kept per reason,
and the report keeps ``REASONS_KEPT`` reasons and write errors by name, the others counted together in
``other_rejection_reasons`` / ``other_failure_errors``. The counts themselves are never cut.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

from pipeline import budgets
from pipeline.budgets import (
    CATEGORIES_KEPT,
    EXAMPLE_CHARS,
    EXAMPLES_PER_REASON,
    OTHER_CATEGORIES,
    REASON_NAME_CHARS,
    REASONS_KEPT,
    RUN_ITEM_VALUES_BYTES,
    BudgetError,
    safe_text,
)
from pipeline.runs import AccountingError

MAX_EXAMPLES = EXAMPLES_PER_REASON


@dataclass
class ReasonSummary:
    count: int = 0
    examples: list[str] = field(default_factory=list)  # "order_id (row N of source)" for a person to find

    def __post_init__(self) -> None:
        # Summaries read back from JSON or built by hand meet the same bounds as those built by add().
        self.examples = [safe_text(e, EXAMPLE_CHARS) for e in self.examples[:MAX_EXAMPLES]]

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(safe_text(example, EXAMPLE_CHARS))

    def merge(self, other: ReasonSummary) -> None:
        self.count += other.count
        self.examples = (self.examples + other.examples)[:MAX_EXAMPLES]


@dataclass
class Others:
    """The reasons (or write errors) beyond the ``REASONS_KEPT`` kept by name: how many, and their records."""

    reasons: int = 0
    records: int = 0

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def add(self, other: Others) -> None:
        self.reasons += other.reasons
        self.records += other.records


def bounded_summaries(
    summaries: dict[str, ReasonSummary], others: Others
) -> tuple[dict[str, ReasonSummary], Others]:
    """The ``REASONS_KEPT`` summaries with the most records (names cut to ``REASON_NAME_CHARS`` and
    escaped), and the others counted together with those already counted in ``others``."""
    named: dict[str, ReasonSummary] = {}
    for name, summary in summaries.items():
        named.setdefault(safe_text(name, REASON_NAME_CHARS), ReasonSummary()).merge(summary)
    ranked = sorted(named.items(), key=lambda kv: (-kv[1].count, kv[0]))
    rest = ranked[REASONS_KEPT:]
    total = Others(others.reasons, others.records)
    total.add(Others(len(rest), sum(s.count for _, s in rest)))
    return dict(ranked[:REASONS_KEPT]), total


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

    def with_categories(self, kept: int) -> Aggregates:
        """The same figures with only the ``kept`` categories of most orders by name, the others added up
        under ``(other categories)``: totals are unchanged."""
        ranked = sorted(self.by_category.items(), key=lambda kv: (-kv[1]["orders"], kv[0]))
        if len(ranked) <= kept:
            return Aggregates(self.orders, self.quantity, dict(self.revenue), dict(self.by_category))
        folded = Aggregates(by_category=dict(ranked[:kept]))
        other: dict[str, Any] = {"orders": 0, "revenue": {}}
        for _, group in ranked[kept:]:
            other["orders"] += group["orders"]
            for currency, amount in group["revenue"].items():
                _add_revenue(other["revenue"], currency, Decimal(amount))
        folded.by_category[OTHER_CATEGORIES] = other
        return Aggregates(self.orders, self.quantity, dict(self.revenue), folded.by_category)

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
    other_rejection_reasons: Others = field(default_factory=Others)
    other_failure_errors: Others = field(default_factory=Others)

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
        self.other_rejection_reasons.add(other.other_rejection_reasons)
        self.other_failure_errors.add(other.other_failure_errors)

    def bounded(self) -> LoadReport:
        """This report with at most ``REASONS_KEPT`` reasons and write errors by name (the others counted)."""
        reasons, other_reasons = bounded_summaries(self.rejection_reasons, self.other_rejection_reasons)
        errors, other_errors = bounded_summaries(self.failure_errors, self.other_failure_errors)
        return replace(
            self,
            rejection_reasons=reasons,
            failure_errors=errors,
            other_rejection_reasons=other_reasons,
            other_failure_errors=other_errors,
        )

    def run_values(self) -> dict[str, Any]:
        """The report's part of the run's etl_runs item, within ``RUN_ITEM_VALUES_BYTES`` by DynamoDB's
        sizing rules: as it is if it fits, else with one example per reason, then none, then the
        aggregates' categories folded to ten, then to none by name. ``other_reasons`` is written only
        when reasons or write errors were counted together."""
        report = self.bounded()
        attempts = (
            (MAX_EXAMPLES, CATEGORIES_KEPT),
            (1, CATEGORIES_KEPT),
            (0, CATEGORIES_KEPT),
            (0, 10),
            (0, 0),
        )
        for examples, categories in attempts:
            values = report._item_values(examples, categories)
            size = budgets.item_size(values)
            if size <= RUN_ITEM_VALUES_BYTES:
                return values
        raise BudgetError(
            f"the load report of run {self.run_id} needs {size:,} bytes in the run item even without "
            f"examples and categories, over its budget of {RUN_ITEM_VALUES_BYTES:,}"
        )

    def _item_values(self, examples: int, categories: int) -> dict[str, Any]:
        values: dict[str, Any] = {
            "rejection_reasons": {reason: s.count for reason, s in self.rejection_reasons.items()},
            "examples": {reason: s.examples[:examples] for reason, s in self.rejection_reasons.items()},
            "failure_errors": {error: s.count for error, s in self.failure_errors.items()},
            "aggregates": asdict(self.aggregates.with_categories(categories)),
        }
        if not examples:
            values["examples"] = {}
        others = {
            name: asdict(counted)
            for name, counted in (
                ("rejection_reasons", self.other_rejection_reasons),
                ("failure_errors", self.other_failure_errors),
            )
            if counted
        }
        if others:
            values["other_reasons"] = others
        return values

    def to_json(self) -> str:
        return json.dumps(asdict(self.bounded()), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadReport:
        data = json.loads(text)
        data["rejection_reasons"] = {
            k: ReasonSummary(**v) for k, v in data.get("rejection_reasons", {}).items()
        }
        data["failure_errors"] = {k: ReasonSummary(**v) for k, v in data.get("failure_errors", {}).items()}
        data["aggregates"] = Aggregates(**data.get("aggregates", {}))
        for name in ("other_rejection_reasons", "other_failure_errors"):
            data[name] = Others(**data.get(name, {}))
        return cls(**data)


def _merge_summaries(ours: dict[str, ReasonSummary], theirs: dict[str, ReasonSummary]) -> None:
    for name, summary in theirs.items():
        ours.setdefault(name, ReasonSummary()).merge(summary)
