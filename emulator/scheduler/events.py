"""Events AWS services put on an EventBridge bus (Step Functions execution status changes), and the events of
PutEvents requests, matched against the bus's rules with moto's event-pattern matcher and delivered to each
matching rule's targets (for PutEvents, those moto's own PutEvents does not deliver to).

Delivery is asynchronous, as in EventBridge: ``put`` returns at once and a worker thread hands the event to
the targets (Input/InputPath/InputTransformer applied as for scheduled rules). Every delivery is recorded:
``delivered`` with the service's answer, or ``failed`` with the reason (a missing Lambda permission, a role
that may not start the execution, ...). EventBridge would retry a failed delivery for up to 24 hours and then
drop it or send it to the target's dead-letter queue; the emulator makes one attempt and, when the target
has a DeadLetterConfig, sends the event there at once.
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from emulator.scheduler.targets import DeliveryError, TargetDelivery
from emulator.scheduler.transform import TransformError, event_time, target_input

log = logging.getLogger("emulator.events")

RECORDED_DELIVERIES = 500


def service_event(
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
    account: str,
    region: str,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """An event as an AWS service puts it on the default bus."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": event_time(moment or datetime.now(UTC)),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def matching_rules(event: dict[str, Any], event_bus: str = "default") -> list[Any]:
    """The enabled rules of the event's account/region bus whose event pattern matches ``event``."""
    from moto.events.models import events_backends

    backend = events_backends[event["account"]][event["region"]]
    bus = backend.event_buses.get(event_bus)
    if bus is None:
        return []
    return [
        rule
        for rule in list(bus.rules.values())
        if rule.state == "ENABLED"
        and rule.event_pattern.dump()
        and not rule.scheduled_expression
        and rule.event_pattern.matches_event(event)
    ]


class EventRouter:
    """Matches put events to rules and delivers them on a worker thread; keeps a record of deliveries."""

    def __init__(self, delivery: TargetDelivery):
        self.delivery = delivery
        self._queue: queue.Queue[tuple[dict[str, Any], str, frozenset[str]] | None] = queue.Queue()
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=RECORDED_DELIVERIES)
        self._counts = {"events": 0, "delivered": 0, "failed": 0}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="emulator-events", daemon=True)
        self._thread.start()

    def put(
        self, event: dict[str, Any], event_bus: str = "default", skip: frozenset[str] = frozenset()
    ) -> None:
        """Deliver ``event`` to the matching rules' targets, except those of the services in ``skip``."""
        with self._lock:
            self._pending += 1
            self._counts["events"] += 1
        self._queue.put((event, event_bus, skip))

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._deliveries)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def wait_idle(self, timeout: float) -> bool:
        """Until every event put so far has been delivered (or failed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, event_bus, skip = item
            try:
                for rule in matching_rules(event, event_bus):
                    for target in list(rule.targets):
                        if _service_of(target["Arn"]) not in skip:
                            self._record(self._deliver(rule, target, event))
            except Exception:  # one broken event must not stop the worker
                log.exception("routing event %s", event.get("id"))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "time": event_time(datetime.now(UTC)),
            "event_id": event["id"],
            "source": event["source"],
            "detail_type": event["detail-type"],
            "resources": event["resources"],
            "rule": rule.name,
            "rule_arn": rule.arn,
            "target_id": target.get("Id"),
            "target_arn": target["Arn"],
        }
        try:
            text = target_input(target, event, rule.name, rule.arn)
            record["input"] = text
            record["result"] = self.delivery.deliver(rule, target, text)
            record["status"] = "delivered"
        except Exception as exc:
            if isinstance(exc, (TransformError, DeliveryError)):
                log.warning("rule %s: target %s failed: %s", rule.name, target.get("Id"), exc)
            else:
                log.exception("rule %s: delivering to target %s", rule.name, target.get("Id"))
            record["status"] = "failed"
            record["error"] = str(exc)
            if (target.get("DeadLetterConfig") or {}).get("Arn"):
                try:
                    record["dead_letter_message_id"] = self.delivery.send_to_dead_letter_queue(
                        target, rule, json.dumps(event), str(exc)
                    )
                except Exception as dlq_error:
                    record["dead_letter_error"] = str(dlq_error)
        return record

    def _record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._deliveries.append(record)
            self._counts[record["status"]] += 1


# The target services moto's own PutEvents delivers to.
MOTO_DELIVERED = frozenset({"sqs", "logs", "events"})


def install_put_events_split() -> None:
    """moto's PutEvents raises NotImplementedError at the first target it cannot deliver to (Lambda, Step
    Functions, SNS): it delivers only to its own kinds here, and the router to the rest."""
    from moto.events.models import Rule

    send = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        own = [target for target in self.targets if _service_of(target["Arn"]) in MOTO_DELIVERED]
        if len(own) == len(self.targets):
            return send(self, original_event, transform_input)
        view = copy.copy(self)
        view.targets = own
        return send(view, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _service_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def put_events_entries(
    entries: list[dict[str, Any]], answers: list[dict[str, Any]], account: str, region: str
) -> list[tuple[dict[str, Any], str]]:
    """The events a PutEvents request put (the entries moto accepted, with the EventId it gave them), each with
    the name of its bus."""
    events = []
    for entry, answer in zip(entries, answers, strict=False):
        if "EventId" not in answer:
            continue
        try:
            detail = json.loads(entry.get("Detail") or "{}")
        except ValueError:
            continue
        moment = entry.get("Time")  # epoch seconds, as the JSON protocol sends a timestamp
        events.append(
            (
                {
                    "version": "0",
                    "id": answer["EventId"],
                    "detail-type": entry.get("DetailType"),
                    "source": entry.get("Source"),
                    "account": account,
                    "time": _entry_time(moment),
                    "region": region,
                    "resources": entry.get("Resources") or [],
                    "detail": detail,
                },
                (entry.get("EventBusName") or "default").rsplit("event-bus/", 1)[-1],
            )
        )
    return events


def _entry_time(moment: Any) -> str:
    try:
        return event_time(datetime.fromtimestamp(float(moment), UTC))
    except (TypeError, ValueError):
        return event_time(datetime.now(UTC))


_router: EventRouter | None = None


def install_router(router: EventRouter) -> EventRouter:
    """The router services put their events through (one per emulator process)."""
    global _router
    _router = router
    return router


def put_service_event(event: dict[str, Any]) -> None:
    """Put a service's event on the default bus; without a router (moto used alone) it goes nowhere."""
    if _router is not None:
        _router.put(event)
