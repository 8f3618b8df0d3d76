"""The run model: statuses, counts, the accounting identity, and the etl_runs item.

Every record of a run ends up in exactly one outcome, and the identity
``extracted + retried_in = loaded + rejected + queued_for_retry + quarantined + duplicates_dropped``
is checked and stored with the run.

``retried_in`` counts every record the run took from the queues, not only those it staged. Two kinds are
set aside at once instead of being staged: messages SQS moved to the dead-letter queue after
maxReceiveCount (their records, reason ``dlq``), and retry messages whose records cannot be read (one
record each, reason ``unreadable``: what they hold cannot be counted). Each was received by this run and
ends quarantined by it, so it counts once on each side, as ``retried_in`` and as ``quarantined``, and the
identity still says that nothing taken in was lost. The run item's ``quarantine_reasons`` splits
``quarantined`` into ``max_attempts``, ``dlq`` and ``unreadable``.
"""

from __future__ import annotations

import re
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
    """A run date from a date or a timestamp (the schedule's input transformer passes the event time).

    Only ``YYYY-MM-DD`` and ISO timestamps that start with one (``2026-11-23T02:00:00Z``) are taken:
    ``fromisoformat`` alone would also read ``20261123`` and week dates such as ``2026-W48-1``.
    """
    text = str(value).strip()
    if not _RUN_DATE.fullmatch(text):
        raise ValueError(f"run_date {value!r} is neither YYYY-MM-DD nor an ISO timestamp")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"run_date {value!r} is neither YYYY-MM-DD nor an ISO timestamp") from None


# YYYY-MM-DD, optionally followed by a time (seconds and fraction optional) and a UTC offset; ASCII digits.
_RUN_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
