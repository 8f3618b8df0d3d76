"""The load report (report.json) the Glue job writes and TrackResult, the notifier and the CLI read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

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
    aggregates: Aggregates = field(default_factory=Aggregates)
    duration_s: float = 0.0

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
