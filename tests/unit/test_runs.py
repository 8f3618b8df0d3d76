from datetime import date

import pytest

from pipeline.runs import AccountingError, Counts, RunStatus, parse_run_date


def test_the_identity_holds_when_every_record_has_one_outcome():
    counts = Counts(
        extracted=10,
        retried_in=2,
        loaded=7,
        rejected=2,
        queued_for_retry=1,
        quarantined=1,
        duplicates_dropped=1,
    )
    assert counts.check() is counts
    assert (counts.received, counts.accounted) == (12, 12)


def test_a_lost_record_breaks_the_identity_loudly():
    counts = Counts(extracted=10, loaded=8, rejected=1)
    with pytest.raises(AccountingError, match="= 10, but .* = 9"):
        counts.check()


def test_negative_counts_are_refused():
    with pytest.raises(AccountingError, match="negative"):
        Counts(extracted=-1, loaded=-1).check()


@pytest.mark.parametrize(
    ("counts", "status"),
    [
        (Counts(), RunStatus.NO_DATA),
        (Counts(extracted=3, loaded=3), RunStatus.SUCCEEDED),
        (Counts(extracted=3, loaded=2, duplicates_dropped=1), RunStatus.SUCCEEDED),
        (Counts(extracted=3, loaded=2, rejected=1), RunStatus.SUCCEEDED_WITH_ERRORS),
        (Counts(extracted=3, loaded=2, queued_for_retry=1), RunStatus.SUCCEEDED_WITH_ERRORS),
        (Counts(retried_in=1, quarantined=1), RunStatus.SUCCEEDED_WITH_ERRORS),
    ],
)
def test_status_follows_from_the_counts(counts, status):
    assert counts.status() is status


def test_counts_round_trip_through_a_dict():
    counts = Counts(extracted=5, loaded=4, rejected=1)
    assert Counts.from_dict(counts.as_dict()) == counts
    assert Counts.from_dict({"loaded": "3"}).loaded == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22", date(2026, 11, 22)),
        ("2026-11-22T06:00:00Z", date(2026, 11, 22)),
        ("2026-11-22T23:59:59+00:00", date(2026, 11, 22)),
    ],
)
def test_run_dates_come_from_dates_or_event_times(text, expected):
    assert parse_run_date(text) == expected


def test_a_bad_run_date_says_what_is_expected():
    with pytest.raises(ValueError, match="neither YYYY-MM-DD nor an ISO timestamp"):
        parse_run_date("yesterday")


@pytest.mark.parametrize("text", ["20261123", "2026-W48-1", "20261123T060000Z", "2026-327", "٢٠٢٦-١١-٢٣"])
def test_run_dates_in_other_iso_forms_are_refused(text):
    with pytest.raises(ValueError, match=rf"run_date '{text}' is neither YYYY-MM-DD nor an ISO timestamp"):
        parse_run_date(text)
