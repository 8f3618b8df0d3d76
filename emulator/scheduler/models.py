"""Firing EventBridge scheduled rules: read the rule from moto's events backend, build the Scheduled Event,
shape each target's input and deliver it; and a runner that fires rules on their own schedule.

Delivery (emulator.scheduler.targets) starts a Step Functions execution with the target role's credentials
and invokes a Lambda function only when its resource-based policy allows the rule, as EventBridge does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulator.scheduler.schedule import Schedule, ScheduleExpressionError, parse_schedule
from emulator.scheduler.targets import DeliveryError, TargetDelivery
from emulator.scheduler.transform import TransformError, event_time, scheduled_event, target_input

log = logging.getLogger("emulator.scheduler")


class SchedulerError(Exception):
    status = 400


class RuleNotFound(SchedulerError):
    status = 404


class RuleNotFireable(SchedulerError):
    status = 409


@dataclass(frozen=True)
class ScheduledRule:
    """A rule with a ScheduleExpression, as the runner sees it."""

    name: str
    event_bus: str
    arn: str
    expression: str
    state: str
    account: str
    region: str


def events_backend(account: str, region: str) -> Any:
    from moto.events.models import events_backends

    return events_backends[account][region]


def find_rule(account: str, region: str, name: str, event_bus: str = "default") -> Any:
    backend = events_backend(account, region)
    bus_name = event_bus.rsplit("event-bus/", 1)[-1]
    bus = backend.event_buses.get(bus_name)
    if bus is None:
        raise RuleNotFound(f"event bus {bus_name} does not exist in {account}/{region}")
    rule = bus.rules.get(name)
    if rule is None:
        known = ", ".join(sorted(bus.rules)) or "none"
        raise RuleNotFound(f"rule {name} does not exist on event bus {bus_name} (rules: {known})")
    return rule


def scheduled_rules() -> list[ScheduledRule]:
    """Every rule with a schedule expression, in every account and region moto has state for."""
    from moto.events.models import events_backends

    found = []
    for account, regional in list(events_backends.items()):
        for region, backend in list(regional.items()):
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    if rule.scheduled_expression:
                        found.append(
                            ScheduledRule(
                                name=rule.name,
                                event_bus=rule.event_bus_name,
                                arn=rule.arn,
                                expression=rule.scheduled_expression,
                                state=rule.state,
                                account=account,
                                region=region,
                            )
                        )
    return found


class RuleFirer:
    """Fires one rule as EventBridge would when its schedule comes due."""

    def __init__(self, delivery: TargetDelivery):
        self.delivery = delivery

    def fire(
        self,
        name: str,
        account: str,
        region: str,
        event_bus: str = "default",
        moment: datetime | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Deliver the rule's Scheduled Event for ``moment`` (default now) to each of its targets.

        A disabled rule is refused unless ``force``: EventBridge never fires one, so firing it is
        almost always a mistake in the caller's setup. Each target's outcome is reported on its own;
        one failing target does not stop the others, as in EventBridge.
        """
        rule = find_rule(account, region, name, event_bus)
        if not rule.scheduled_expression:
            raise RuleNotFireable(
                f"rule {name} has no schedule expression (it matches events by pattern); "
                "send it an event with PutEvents instead"
            )
        if rule.state != "ENABLED" and not force:
            raise RuleNotFireable(f"rule {name} is {rule.state}; enable it, or fire it with force")
        targets = list(rule.targets)
        if not targets:
            raise RuleNotFireable(f"rule {name} has no targets; add one with PutTargets")
        event = scheduled_event(rule.arn, rule.account_id, rule.region_name, moment or datetime.now(UTC))
        results = [self._deliver(rule, target, event) for target in targets]
        failed = sum(1 for result in results if "error" in result)
        log.info("fired rule %s as of %s: %d target(s), %d failed", name, event["time"], len(results), failed)
        return {
            "rule": rule.name,
            "rule_arn": rule.arn,
            "schedule": rule.scheduled_expression,
            "time": event["time"],
            "event": event,
            "targets": results,
            "failed": failed,
        }

    def _deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"id": target.get("Id"), "arn": target["Arn"]}
        try:
            text = target_input(target, event, rule.name, rule.arn)
            result["input"] = text
            result.update(self.delivery.deliver(rule, target, text))
        except (TransformError, DeliveryError) as exc:
            log.warning("rule %s: target %s failed: %s", rule.name, target.get("Id"), exc)
            result["error"] = str(exc)
        return result


@dataclass
class _Plan:
    expression: str
    schedule: Schedule | None
    anchor: datetime
    next_fire: datetime | None
    error: str | None = None


@dataclass
class ScheduleRunner:
    """Keeps each scheduled rule's next fire time and fires the rules that come due.

    ``tick(now)`` is the whole behaviour; ``start()`` calls it about once a second from a thread.
    A rate schedule counts from when the runner first saw the rule (about when it was created).
    """

    rules: Callable[[], list[ScheduledRule]]
    fire: Callable[[ScheduledRule, datetime], Any]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    interval: float = 1.0
    _plans: dict[str, _Plan] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def tick(self, now: datetime) -> list[tuple[ScheduledRule, datetime]]:
        """Fire every enabled rule whose next fire time is at or before ``now``; return what was fired."""
        due = self._advance(now)
        for rule, moment in due:
            try:
                self.fire(rule, moment)
            except Exception:  # one broken rule must not stop the others or the thread
                log.exception("firing %s for %s", rule.name, event_time(moment))
        return due

    def upcoming(self, now: datetime) -> list[dict[str, Any]]:
        """Each scheduled rule with its next fire time, soonest first."""
        if not self.running:
            self._advance(now, fire=False)
        with self._lock:
            plans = dict(self._plans)
        rows = []
        for rule in self.rules():
            plan = plans.get(rule.arn)
            if plan is None:
                continue
            row = {
                "rule": rule.name,
                "event_bus": rule.event_bus,
                "schedule": rule.expression,
                "state": rule.state,
                "next_fire": event_time(plan.next_fire) if plan.next_fire else None,
            }
            if plan.error:
                row["error"] = plan.error
            rows.append(row)
        return sorted(rows, key=lambda row: (row["next_fire"] is None, row["next_fire"] or ""))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emulator-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick(self.clock())
            except Exception:
                log.exception("scheduler tick")

    def _advance(self, now: datetime, fire: bool = True) -> list[tuple[ScheduledRule, datetime]]:
        due = []
        rules = self.rules()
        with self._lock:
            for rule in rules:
                plan = self._plans.get(rule.arn)
                if plan is None or plan.expression != rule.expression:
                    plan = self._plans[rule.arn] = _new_plan(rule.expression, now)
                missed = []
                while plan.schedule is not None and plan.next_fire is not None and plan.next_fire <= now:
                    missed.append(plan.next_fire)
                    plan.next_fire = plan.schedule.next_after(plan.next_fire, plan.anchor)
                # A stalled process fires once for the latest missed time, not a burst of stale ones;
                # a disabled rule lets its times pass without firing.
                if missed and fire and rule.state == "ENABLED":
                    due.append((rule, missed[-1]))
            for gone in set(self._plans) - {rule.arn for rule in rules}:
                del self._plans[gone]
        return due


def _new_plan(expression: str, now: datetime) -> _Plan:
    try:
        schedule = parse_schedule(expression)
    except ScheduleExpressionError as exc:
        log.warning("not scheduling: %s", exc)
        return _Plan(expression, None, now, None, error=str(exc))
    return _Plan(expression, schedule, now, schedule.next_after(now, now))
