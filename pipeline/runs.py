"""The run model: statuses, counts, the accounting identity, and the etl_runs item.

Every record of a run ends up in exactly one outcome, and the identity
``extracted + retried_in = loaded + rejected + queued_for_retry + quarantined + duplicates_dropped``
is checked and stored with the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SUCCEEDED_WITH_ERRORS = "SUCCEEDED_WITH_ERRORS"
    NO_DATA = "NO_DATA"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING


class Stage(StrEnum):
    BEGIN = "BeginRun"
    EXTRACT = "Extract"
    LOAD = "Load"
    TRACK = "TrackResult"
    NOTIFY = "Notify"


class RunLockedError(Exception):
    """Another execution holds the run lock for this date. The state machine stops at once on this name."""


class AccountingError(Exception):
    """The accounting identity does not hold: records would be lost or duplicated. The run fails loudly."""


@dataclass(frozen=True)
class Counts:
    extracted: int = 0
    retried_in: int = 0
    loaded: int = 0
    rejected: int = 0
    queued_for_retry: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0

    @property
    def received(self) -> int:
        return self.extracted + self.retried_in

    @property
    def accounted(self) -> int:
        return (
            self.loaded + self.rejected + self.queued_for_retry + self.quarantined + self.duplicates_dropped
        )

    @property
    def balanced(self) -> bool:
        return self.received == self.accounted

    def check(self) -> Counts:
        if any(getattr(self, f.name) < 0 for f in fields(self)):
            raise AccountingError(f"negative count in {self}")
        if not self.balanced:
            raise AccountingError(
                f"accounting identity broken: extracted {self.extracted} + retried_in {self.retried_in} = "
                f"{self.received}, but loaded {self.loaded} + rejected {self.rejected} + queued_for_retry "
                f"{self.queued_for_retry} + quarantined {self.quarantined} + duplicates_dropped "
                f"{self.duplicates_dropped} = {self.accounted}"
            )
        return self

    def status(self) -> RunStatus:
        """The outcome of a run that completed its load."""
        if self.received == 0:
            return RunStatus.NO_DATA
        if self.rejected or self.queued_for_retry or self.quarantined:
            return RunStatus.SUCCEEDED_WITH_ERRORS
        return RunStatus.SUCCEEDED

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


def parse_run_date(value: str) -> date:
    """A run date from a date or a timestamp (the schedule's input transformer passes the event time)."""
    text = str(value).strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"run_date {value!r} is neither YYYY-MM-DD nor an ISO timestamp") from None
