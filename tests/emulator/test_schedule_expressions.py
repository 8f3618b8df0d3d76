import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from emulator.scheduler.schedule import (
    CronSchedule,
    RateSchedule,
    ScheduleExpressionError,
    aws_day_of_week,
    parse_schedule,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def next_fire(expression: str, after: str) -> datetime | None:
    return parse_schedule(expression).next_after(at(after))


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # the daily run: strictly after, so firing at 06:00 plans the next day
        ("cron(0 6 * * ? *)", "2026-11-22T05:59:59", "2026-11-22T06:00:00"),
        ("cron(0 6 * * ? *)", "2026-11-22T06:00:00", "2026-11-23T06:00:00"),
        ("cron(0 6 * * ? *)", "2026-12-31T07:00:00", "2027-01-01T06:00:00"),
        # steps and ranges
        ("cron(0/15 * * * ? *)", "2026-11-22T10:07:00", "2026-11-22T10:15:00"),
        ("cron(0/15 * * * ? *)", "2026-11-22T10:45:00", "2026-11-22T11:00:00"),
        ("cron(5-40/10 * * * ? *)", "2026-11-22T10:36:00", "2026-11-22T11:05:00"),
        ("cron(*/20 9-10 * * ? *)", "2026-11-22T10:41:00", "2026-11-23T09:00:00"),
        ("cron(0 8,20 * * ? *)", "2026-11-22T08:00:00", "2026-11-22T20:00:00"),
        # day-of-week counts 1 (SUN) to 7 (SAT); names in either case; Friday 18:00 -> Monday
        ("cron(0 18 ? * MON-FRI *)", "2026-11-27T18:00:00", "2026-11-30T18:00:00"),
        ("cron(0 9 ? * mon,wed *)", "2026-11-24T09:00:00", "2026-11-25T09:00:00"),
        ("cron(0 0 ? * 1 *)", "2026-11-23T00:00:00", "2026-11-29T00:00:00"),
        ("cron(0 0 ? * 7 *)", "2026-11-23T00:00:00", "2026-11-28T00:00:00"),
        # months by name and number
        ("cron(0 8 1 JAN,JUL ? *)", "2026-11-22T00:00:00", "2027-01-01T08:00:00"),
        ("cron(0 8 1 * ? *)", "2026-11-22T00:00:00", "2026-12-01T08:00:00"),
        # L: last day of month, leap years included
        ("cron(0 12 L * ? *)", "2026-02-01T00:00:00", "2026-02-28T12:00:00"),
        ("cron(0 12 L * ? *)", "2028-02-01T00:00:00", "2028-02-29T12:00:00"),
        # W: nearest weekday without leaving the month
        ("cron(0 9 15W * ? *)", "2026-08-01T00:00:00", "2026-08-14T09:00:00"),  # 15th is a Saturday
        ("cron(0 9 1W * ? *)", "2026-07-31T00:00:00", "2026-08-03T09:00:00"),  # 1st is a Saturday
        ("cron(0 9 1W * ? *)", "2026-01-31T00:00:00", "2026-02-02T09:00:00"),  # 1st is a Sunday
        ("cron(0 9 31W * ? *)", "2026-05-01T00:00:00", "2026-05-29T09:00:00"),  # 31st: a month-end Sunday
        ("cron(0 9 LW * ? *)", "2026-01-01T00:00:00", "2026-01-30T09:00:00"),  # 31st is a Saturday
        # nL: last given weekday; d#n: n-th given weekday
        ("cron(15 10 ? * 6L *)", "2026-11-01T00:00:00", "2026-11-27T10:15:00"),
        ("cron(0 10 ? * FRIL *)", "2026-11-28T00:00:00", "2026-12-25T10:00:00"),
        ("cron(0 10 ? * 2#1 *)", "2026-11-22T00:00:00", "2026-12-07T10:00:00"),
        ("cron(0 9 ? * TUE#2 *)", "2026-11-21T00:00:00", "2026-12-08T09:00:00"),
        # a fifth Monday exists only in some months
        ("cron(0 9 ? * MON#5 *)", "2026-08-31T09:00:00", "2026-11-30T09:00:00"),
        # 31 skips the months without one
        ("cron(0 0 31 * ? *)", "2026-03-31T00:00:00", "2026-05-31T00:00:00"),
        # the Year field
        ("cron(0 0 1 JAN ? 2027)", "2026-11-22T00:00:00", "2027-01-01T00:00:00"),
        ("cron(30 4 1 1 ? 2099)", "2026-11-22T00:00:00", "2099-01-01T04:30:00"),
    ],
)
def test_cron_next_fire_time(expression, after, expected):
    assert next_fire(expression, after) == at(expected)


def test_a_cron_whose_years_have_passed_never_fires_again():
    assert next_fire("cron(0 0 1 JAN ? 2027)", "2027-01-01T00:00:00") is None


def test_a_date_that_never_exists_never_fires():
    assert next_fire("cron(0 0 30 FEB ? *)", "2026-01-01T00:00:00") is None


def test_seconds_of_the_reference_time_do_not_delay_the_next_minute():
    assert next_fire("cron(* * * * ? *)", "2026-11-22T10:00:59.999999") == at("2026-11-22T10:01:00")


def test_reference_times_in_other_zones_are_read_as_the_same_instant():
    schedule = parse_schedule("cron(0 6 * * ? *)")
    half_past_six_in_paris = datetime(2026, 11, 22, 6, 30, tzinfo=timezone(timedelta(hours=1)))
    assert schedule.next_after(half_past_six_in_paris) == at("2026-11-22T06:00:00")


def test_times_without_a_zone_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        parse_schedule("cron(0 6 * * ? *)").next_after(datetime(2026, 11, 22, 6, 0))


def test_aws_counts_weekdays_from_sunday():
    sunday = datetime(2026, 11, 22).date()
    assert [aws_day_of_week(sunday + timedelta(days=n)) for n in range(7)] == [1, 2, 3, 4, 5, 6, 7]


def test_cron_fields_are_parsed_into_sorted_values():
    schedule = parse_schedule("cron(0/20 8-10 ? JAN-MAR MON-FRI 2026-2027)")
    assert isinstance(schedule, CronSchedule)
    assert schedule.minutes == (0, 20, 40)
    assert schedule.hours == (8, 9, 10)
    assert schedule.months == (1, 2, 3)
    assert schedule.years == (2026, 2027)
    assert schedule.day_of_month is None
    assert schedule.day_of_week is not None and schedule.day_of_week.values == (2, 3, 4, 5, 6)


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_rate_periods(expression, period):
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule)
    assert schedule.period == period


def test_a_rate_fires_one_period_after_its_anchor_and_every_period_after():
    schedule = parse_schedule("rate(5 minutes)")
    anchor = at("2026-11-22T10:00:30")
    assert schedule.next_after(at("2026-11-22T10:00:30"), anchor) == at("2026-11-22T10:05:30")
    assert schedule.next_after(at("2026-11-22T10:05:30"), anchor) == at("2026-11-22T10:10:30")
    assert schedule.next_after(at("2026-11-22T10:07:00"), anchor) == at("2026-11-22T10:10:30")
    assert schedule.next_after(at("2026-11-22T12:00:31"), anchor) == at("2026-11-22T12:05:30")


def test_a_rate_without_an_anchor_counts_from_the_reference_time():
    assert parse_schedule("rate(2 hours)").next_after(at("2026-11-22T10:00:00")) == at("2026-11-22T12:00:00")


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("rate(1 minutes)", "singular unit for 1"),
        ("rate(5 minute)", "singular unit for 1"),
        ("rate(0 minutes)", "positive"),
        ("rate(5 weeks)", "not a schedule expression"),
        ("every(5 minutes)", "not a schedule expression"),
        ("cron(0 6 * * ?)", "6 fields"),
        ("cron(0 6 * * * *)", "exactly one of Day-of-month"),
        ("cron(0 6 ? * ? *)", "exactly one of Day-of-month"),
        ("cron(60 6 * * ? *)", "Minutes value 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "Hours value 24"),
        ("cron(0 6 32 * ? *)", "Day-of-month value 32"),
        ("cron(0 6 * 13 ? *)", "Month value 13"),
        ("cron(0 6 ? * 8 *)", "Day-of-week value 8"),
        ("cron(0 6 ? * MON#6 *)", "instance after # value 6"),
        ("cron(0 6 * * ? 1969)", "Year value 1969"),
        ("cron(0 18-9 * * ? *)", "runs backwards"),
        ("cron(0 6 * FOO ? *)", "'FOO' is not a valid Month"),
        ("cron(0/0 6 * * ? *)", "Minutes step value 0"),
    ],
)
def test_invalid_expressions_are_refused_with_the_reason(expression, complaint):
    with pytest.raises(ScheduleExpressionError, match=re.escape(complaint)):
        parse_schedule(expression)
