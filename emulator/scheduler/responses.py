"""Control routes of the scheduler: fire a rule now or as of a given time; run schedules in the background.

``POST /_emulator/scheduler/fire`` with
``{"rule": "daily", "event_bus": "default", "time": "2026-11-22T06:00:00Z", "region": "us-east-1",
"force": false}`` (only ``rule`` is required; ``time`` defaults to now) answers
``{"rule", "rule_arn", "schedule", "time", "event", "targets": [{"id", "arn", "input",
"execution_arn" | "status_code" | "message_id" | "error"}], "failed"}``.
``GET /_emulator/scheduler`` answers whether schedules run and each scheduled rule's next fire time.
``GET /_emulator/events?wait=10`` waits until the service events put so far (Step Functions execution status
changes) were delivered, then answers ``{"idle", "events", "delivered", "failed", "deliveries": [{"time",
"event_id", "source", "detail_type", "resources", "rule", "rule_arn", "target_id", "target_arn", "input",
"status": "delivered" | "failed", "result" | "error"}]}``.
PutEvents is answered by moto (which delivers to SQS, CloudWatch Logs and event-bus targets); the same events
then go through the router to the other targets (Lambda, Step Functions, SNS) and are listed there too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import ControlError, EmulatorApp, control_body, control_json, target_is
from emulator.scheduler import events
from emulator.scheduler.events import EventRouter
from emulator.scheduler.models import (
    RuleFirer,
    ScheduledRule,
    SchedulerError,
    ScheduleRunner,
    scheduled_rules,
)
from emulator.scheduler.targets import TargetDelivery
from emulator.settings import ACCOUNT_ID


class SchedulerExtension:
    name = "scheduler"

    def __init__(self) -> None:
        self.firer: RuleFirer | None = None
        self.runner: ScheduleRunner | None = None
        self.router: EventRouter | None = None
        self.region = ""

    def install(self, app: EmulatorApp) -> None:
        self.region = app.settings.region
        delivery = TargetDelivery(app.settings)
        self.firer = RuleFirer(delivery)
        self.router = events.install_router(EventRouter(delivery))
        events.install_put_events_split()
        self.runner = ScheduleRunner(rules=scheduled_rules, fire=self._fire_on_schedule)
        app.route("POST", "scheduler/fire", self._fire)
        app.route("GET", "scheduler", lambda _request: control_json(self.status()["scheduler"]))
        app.route("GET", "events", self._events)
        app.intercept(
            "events.put", target_is("AWSEvents.PutEvents"), lambda request: self._put_events(app, request)
        )
        app.status_providers.append(self.status)
        app.status_providers.append(lambda: {"events": self.router.counts() if self.router else {}})
        if app.settings.run_schedules:
            self.runner.start()

    def shutdown(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.router is not None:
            self.router.stop()

    def _put_events(self, app: EmulatorApp, request: Request) -> Response:
        """moto's PutEvents delivers to SQS, CloudWatch Logs and event-bus targets; the router delivers the same
        events to the rest (Lambda, Step Functions, SNS)."""
        assert self.router is not None
        response = app.forward(request)
        if response.status_code != 200:
            return response
        try:
            entries = json.loads(request.get_data() or b"{}").get("Entries") or []
            answers = json.loads(response.get_data() or b"{}").get("Entries") or []
        except ValueError:
            return response
        region = _signed_region(request) or self.region
        for event, bus in events.put_events_entries(entries, answers, ACCOUNT_ID, region):
            self.router.put(event, bus, skip=events.MOTO_DELIVERED)
        return response

    def _events(self, request: Request) -> Response:
        """Every recorded delivery of a service event to a rule's target, after the ones already put were
        delivered (``?wait=SECONDS``, default 10)."""
        assert self.router is not None
        try:
            wait = float(request.args.get("wait", "10"))
        except ValueError:
            raise ControlError(
                f"wait must be a number of seconds, got {request.args.get('wait')!r}"
            ) from None
        idle = self.router.wait_idle(wait)
        return control_json({"idle": idle, **self.router.counts(), "deliveries": self.router.deliveries()})

    def status(self) -> dict[str, Any]:
        assert self.runner is not None
        rules = self.runner.upcoming(datetime.now(UTC))
        return {
            "scheduler": {
                "running": self.runner.running,
                "next_fire": next((row["next_fire"] for row in rules if row["state"] == "ENABLED"), None),
                "rules": rules,
            }
        }

    def _fire(self, request: Request) -> Response:
        assert self.firer is not None
        body = control_body(request)
        rule = body.get("rule")
        if not isinstance(rule, str) or not rule:
            raise ControlError('give the rule to fire: {"rule": "<name>"}')
        try:
            result = self.firer.fire(
                rule,
                account=ACCOUNT_ID,
                region=body.get("region") or self.region,
                event_bus=body.get("event_bus") or "default",
                moment=parse_time(body["time"]) if body.get("time") else None,
                force=bool(body.get("force")),
            )
        except SchedulerError as exc:
            raise ControlError(str(exc), exc.status) from None
        return control_json(result)

    def _fire_on_schedule(self, rule: ScheduledRule, moment: datetime) -> None:
        assert self.firer is not None
        self.firer.fire(rule.name, rule.account, rule.region, rule.event_bus, moment)


def _signed_region(request: Request) -> str | None:
    """The region of the request's SigV4 credential scope (Credential=KEY/DATE/REGION/SERVICE/aws4_request)."""
    authorization = request.headers.get("Authorization", "")
    _, _, scope = authorization.partition("Credential=")
    parts = scope.split(",", 1)[0].split("/")
    return parts[2] if len(parts) >= 5 else None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC, like every EventBridge schedule."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ControlError(f"time must be ISO 8601 like 2026-11-22T06:00:00Z, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
