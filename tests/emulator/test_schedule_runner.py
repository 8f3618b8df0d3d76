"""The background runner's decisions, driven tick by tick with a hand-written clock and rule list."""

import time
from datetime import UTC, datetime

from emulator.scheduler.models import ScheduledRule, ScheduleRunner


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rule(name: str, expression: str, state: str = "ENABLED") -> ScheduledRule:
    return ScheduledRule(
        name=name,
        event_bus="default",
        arn=f"arn:aws:events:us-east-1:123456789012:rule/{name}",
        expression=expression,
        state=state,
        account="123456789012",
        region="us-east-1",
    )


class FakeRules:
    def __init__(self, *rules: ScheduledRule):
        self.rules = list(rules)

    def __call__(self) -> list[ScheduledRule]:
        return list(self.rules)


class FiredLog:
    def __init__(self, failing: set[str] = frozenset()):
        self.fired: list[tuple[str, datetime]] = []
        self.failing = failing

    def __call__(self, rule: ScheduledRule, moment: datetime) -> None:
        self.fired.append((rule.name, moment))
        if rule.name in self.failing:
            raise RuntimeError(f"{rule.name} is broken")


def test_a_cron_rule_fires_once_when_its_minute_comes():
    fired = FiredLog()
    runner = ScheduleRunner(rules=FakeRules(rule("daily", "cron(0 6 * * ? *)")), fire=fired)

    runner.tick(at("2026-11-22T05:59:30"))
    runner.tick(at("2026-11-22T06:00:00.4"))
    runner.tick(at("2026-11-22T06:00:01.4"))

    assert fired.fired == [("daily", at("2026-11-22T06:00:00"))]
    assert runner.upcoming(at("2026-11-22T06:00:02"))[0]["next_fire"] == "2026-11-23T06:00:00Z"


def test_a_rate_rule_counts_from_when_it_was_first_seen():
    fired = FiredLog()
    runner = ScheduleRunner(rules=FakeRules(rule("often", "rate(5 minutes)")), fire=fired)

    runner.tick(at("2026-11-22T10:00:20"))
    runner.tick(at("2026-11-22T10:05:19"))
    runner.tick(at("2026-11-22T10:05:20"))
    runner.tick(at("2026-11-22T10:10:21"))

    assert fired.fired == [("often", at("2026-11-22T10:05:20")), ("often", at("2026-11-22T10:10:20"))]


def test_a_disabled_rule_lets_its_times_pass_without_firing():
    rules = FakeRules(rule("daily", "cron(0 6 * * ? *)", state="DISABLED"))
    fired = FiredLog()
    runner = ScheduleRunner(rules=rules, fire=fired)

    runner.tick(at("2026-11-22T05:00:00"))
    runner.tick(at("2026-11-22T06:00:00"))
    rules.rules = [rule("daily", "cron(0 6 * * ? *)")]
    runner.tick(at("2026-11-22T06:30:00"))
    runner.tick(at("2026-11-23T06:00:00"))

    assert fired.fired == [("daily", at("2026-11-23T06:00:00"))]


def test_after_a_stall_a_rule_fires_once_for_the_latest_missed_time():
    fired = FiredLog()
    runner = ScheduleRunner(rules=FakeRules(rule("daily", "cron(0 6 * * ? *)")), fire=fired)

    runner.tick(at("2026-11-22T05:00:00"))
    runner.tick(at("2026-11-25T07:00:00"))

    assert fired.fired == [("daily", at("2026-11-25T06:00:00"))]


def test_a_changed_expression_is_planned_afresh():
    rules = FakeRules(rule("r", "cron(0 6 * * ? *)"))
    runner = ScheduleRunner(rules=rules, fire=FiredLog())
    runner.tick(at("2026-11-22T05:00:00"))

    rules.rules = [rule("r", "cron(30 5 * * ? *)")]
    runner.tick(at("2026-11-22T05:10:00"))

    assert runner.upcoming(at("2026-11-22T05:10:00"))[0]["next_fire"] == "2026-11-22T05:30:00Z"


def test_one_failing_rule_does_not_stop_the_others():
    fired = FiredLog(failing={"broken"})
    rules = FakeRules(rule("broken", "cron(0 6 * * ? *)"), rule("fine", "cron(0 6 * * ? *)"))
    runner = ScheduleRunner(rules=rules, fire=fired)

    runner.tick(at("2026-11-22T05:00:00"))
    runner.tick(at("2026-11-22T06:00:00"))

    assert sorted(fired.fired) == [("broken", at("2026-11-22T06:00:00")), ("fine", at("2026-11-22T06:00:00"))]


def test_upcoming_lists_rules_soonest_first_and_reports_bad_expressions():
    rules = FakeRules(
        rule("late", "cron(0 23 * * ? *)"),
        rule("bad", "cron(0 6 * * * *)"),
        rule("early", "cron(0 7 * * ? *)"),
    )
    runner = ScheduleRunner(rules=rules, fire=FiredLog())

    rows = runner.upcoming(at("2026-11-22T06:00:00"))

    assert [(row["rule"], row["next_fire"]) for row in rows] == [
        ("early", "2026-11-22T07:00:00Z"),
        ("late", "2026-11-22T23:00:00Z"),
        ("bad", None),
    ]
    assert "exactly one of Day-of-month" in rows[2]["error"]


def test_a_deleted_rule_is_forgotten():
    rules = FakeRules(rule("gone", "cron(0 6 * * ? *)"))
    fired = FiredLog()
    runner = ScheduleRunner(rules=rules, fire=fired)
    runner.tick(at("2026-11-22T05:00:00"))

    rules.rules = []
    runner.tick(at("2026-11-22T06:00:00"))

    assert fired.fired == []
    assert runner.upcoming(at("2026-11-22T06:00:00")) == []


def test_the_thread_ticks_until_stopped():
    moments = iter([at("2026-11-22T05:59:59"), at("2026-11-22T06:00:00")])
    fired = FiredLog()
    runner = ScheduleRunner(
        rules=FakeRules(rule("daily", "cron(0 6 * * ? *)")),
        fire=fired,
        clock=lambda: next(moments, at("2026-11-22T06:00:01")),
        interval=0.01,
    )

    runner.start()
    try:
        deadline = time.monotonic() + 5
        while not fired.fired and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        runner.stop()

    assert fired.fired == [("daily", at("2026-11-22T06:00:00"))]
    assert not runner.running
