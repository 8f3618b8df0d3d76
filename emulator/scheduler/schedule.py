"""EventBridge schedule expressions: ``rate(...)`` and AWS's six-field ``cron(...)``, and when they fire next.

AWS's cron is not Unix cron: it has a Year field, day-of-week counts 1-7 from Sunday, exactly one of
day-of-month and day-of-week must be ``?``, and it has Quartz's ``L``, ``W`` and ``#``. All times are UTC,
as they are for EventBridge rules. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MIN_YEAR, MAX_YEAR = 1970, 2199

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
DAY_NAMES = {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge would reject; the message names the part that is wrong."""


@dataclass(frozen=True)
class RateSchedule:
    """``rate(N unit)``: every N units, counted from when the rule was created."""

    expression: str
    period: timedelta

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first firing strictly after ``after``; firings fall on ``anchor + k * period``, k >= 1."""
        after = _utc(after)
        anchor = _utc(anchor) if anchor is not None else after
        if after < anchor + self.period:
            return anchor + self.period
        periods = (after - anchor) // self.period + 1
        return anchor + periods * self.period


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_of_month: DayOfMonth | None
    day_of_week: DayOfWeek | None

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first minute strictly after ``after`` that matches, or None once the Year field has run out."""
        start = _utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for year in (y for y in self.years if y >= start.year):
            first_year = year == start.year
            for month in (m for m in self.months if not first_year or m >= start.month):
                first_month = first_year and month == start.month
                for day in self.days_in(year, month):
                    if first_month and day < start.day:
                        continue
                    first_day = first_month and day == start.day
                    for hour in (h for h in self.hours if not first_day or h >= start.hour):
                        first_hour = first_day and hour == start.hour
                        for minute in self.minutes:
                            if first_hour and minute < start.minute:
                                continue
                            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        return None

    def days_in(self, year: int, month: int) -> list[int]:
        """The days of this month the day-of-month or day-of-week field selects, in order."""
        if self.day_of_month is not None:
            return self.day_of_month.days(year, month)
        assert self.day_of_week is not None
        return self.day_of_week.days(year, month)


@dataclass(frozen=True)
class DayOfMonth:
    values: tuple[int, ...] = ()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: int | None = None  # nW

    def days(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        if self.last:
            return [length]
        if self.last_weekday:
            return [_nearest_weekday(year, month, length)]
        if self.nearest_weekday is not None:
            # A day the month does not have (31W in April) selects nothing, as in Quartz.
            if self.nearest_weekday > length:
                return []
            return [_nearest_weekday(year, month, self.nearest_weekday)]
        return [d for d in self.values if d <= length]


@dataclass(frozen=True)
class DayOfWeek:
    values: tuple[int, ...] = ()  # 1 = Sunday ... 7 = Saturday
    last_of: int | None = None  # nL: the last weekday n of the month
    nth: tuple[int, int] | None = None  # d#n: the n-th weekday d of the month

    def days(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        all_days = range(1, length + 1)
        if self.last_of is not None:
            return [max(d for d in all_days if aws_day_of_week(date(year, month, d)) == self.last_of)]
        if self.nth is not None:
            weekday, instance = self.nth
            matching = [d for d in all_days if aws_day_of_week(date(year, month, d)) == weekday]
            return [matching[instance - 1]] if instance <= len(matching) else []
        return [d for d in all_days if aws_day_of_week(date(year, month, d)) in self.values]


Schedule = RateSchedule | CronSchedule


def aws_day_of_week(day: date) -> int:
    """1 for Sunday through 7 for Saturday, as AWS cron counts."""
    return (day.weekday() + 1) % 7 + 1


def parse_schedule(expression: str) -> Schedule:
    text = expression.strip()
    if rate := _RATE.match(text):
        return _parse_rate(text, int(rate.group(1)), rate.group(2))
    if cron := _CRON.match(text):
        return _parse_cron(text, cron.group(1))
    raise ScheduleExpressionError(
        f"{expression!r} is not a schedule expression: use rate(N minute|minutes|hour|hours|day|days) "
        "or cron(Minutes Hours Day-of-month Month Day-of-week Year)"
    )


def _parse_rate(text: str, value: int, unit: str) -> RateSchedule:
    if value <= 0:
        raise ScheduleExpressionError(f"{text}: the rate must be a positive number")
    singular = unit.rstrip("s")
    if (value == 1) != (unit == singular):
        raise ScheduleExpressionError(
            f"{text}: use the singular unit for 1 and the plural for more (rate(1 {singular}), "
            f"rate({max(value, 2)} {singular}s))"
        )
    return RateSchedule(text, timedelta(seconds=value * _UNIT_SECONDS[singular]))


def _parse_cron(text: str, body: str) -> CronSchedule:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{text}: cron takes 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), "
            f"got {len(fields)}"
        )
    minute, hour, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"{text}: exactly one of Day-of-month ({dom}) and Day-of-week ({dow}) must be '?'"
        )
    return CronSchedule(
        expression=text,
        minutes=_values(minute, 0, 59, "Minutes", text),
        hours=_values(hour, 0, 23, "Hours", text),
        months=_values(month, 1, 12, "Month", text, MONTH_NAMES),
        years=_values(year, MIN_YEAR, MAX_YEAR, "Year", text),
        day_of_month=None if dom == "?" else _day_of_month(dom, text),
        day_of_week=None if dow == "?" else _day_of_week(dow, text),
    )


def _day_of_month(field: str, text: str) -> DayOfMonth:
    if field == "L":
        return DayOfMonth(last=True)
    if field == "LW":
        return DayOfMonth(last_weekday=True)
    if field.endswith("W"):
        day = _number(field[:-1], 1, 31, "Day-of-month", text)
        return DayOfMonth(nearest_weekday=day)
    return DayOfMonth(values=_values(field, 1, 31, "Day-of-month", text))


def _day_of_week(field: str, text: str) -> DayOfWeek:
    if field == "L":
        return DayOfWeek(values=(7,))  # the last day of the week: Saturday
    if field.endswith("L"):
        return DayOfWeek(last_of=_number(field[:-1], 1, 7, "Day-of-week", text, DAY_NAMES))
    if "#" in field:
        weekday, _, instance = field.partition("#")
        return DayOfWeek(
            nth=(
                _number(weekday, 1, 7, "Day-of-week", text, DAY_NAMES),
                _number(instance, 1, 5, "Day-of-week instance after #", text),
            )
        )
    return DayOfWeek(values=_values(field, 1, 7, "Day-of-week", text, DAY_NAMES))


def _values(
    field: str, low: int, high: int, name: str, text: str, names: dict[str, int] | None = None
) -> tuple[int, ...]:
    """A field of lists, ranges and steps (``*``, ``5``, ``1-5``, ``MON-FRI``, ``0/15``, ``*/5``, ``1,3,5``)."""
    selected: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, 1, high - low + 1, f"{name} step", text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first = _number(first_text, low, high, name, text, names)
            last = _number(last_text, low, high, name, text, names)
            if first > last:
                raise ScheduleExpressionError(f"{text}: the {name} range {base} runs backwards")
        else:
            first = _number(base, low, high, name, text, names)
            # "5/15" means from 5 every 15 to the end of the field; a bare "5" is just 5.
            last = high if slash else first
        selected.update(range(first, last + 1, step))
    return tuple(sorted(selected))


def _number(
    token: str, low: int, high: int, name: str, text: str, names: dict[str, int] | None = None
) -> int:
    if names and token in names:
        return names[token]
    if not token.isdigit():
        raise ScheduleExpressionError(f"{text}: {token!r} is not a valid {name} value")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{text}: {name} value {value} is outside {low}-{high}")
    return value


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday (Mon-Fri) nearest to ``day`` without leaving the month, as Quartz's ``W`` picks it."""
    length = calendar.monthrange(year, month)[1]
    weekday = date(year, month, day).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when the month ends that day
        return day + 1 if day < length else day - 2
    return day


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; schedules are evaluated in UTC")
    return moment.astimezone(UTC)
