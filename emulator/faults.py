"""Fault knobs for tests: make the emulator misbehave the way AWS sometimes does.

Set over the control API (``POST /_emulator/faults``) or the CLI (``emulator fault``):
- ``dynamodb_unprocessed``: share (0..1) of BatchWriteItem items returned as UnprocessedItems
  (applied by ``emulator.dynamodb_faults``, drawing from ``FaultRegistry.random``);
- ``dynamodb_unprocessed_keys``: partition-key values whose BatchWriteItem requests (puts and deletes, in
  any table) are always returned as UnprocessedItems: one record that can never be written, however
  often the caller retries it;
- ``fail_lambda``: function name → error message, the function raises ``EmulatedFault`` instead of running;
- ``fail_glue``: job name → error message, the job run FAILS with it instead of running its script.
Extensions read the current knobs from ``FaultRegistry.current()``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import ControlError, EmulatorApp, control_body, control_json


@dataclass(frozen=True)
class Faults:
    dynamodb_unprocessed: float = 0.0
    # The share applies to items instead of requests: the same items come back on every attempt.
    dynamodb_unprocessed_sticky: bool = False
    dynamodb_unprocessed_keys: list[str] = field(default_factory=list)
    fail_lambda: dict[str, str] = field(default_factory=dict)
    fail_glue: dict[str, str] = field(default_factory=dict)
    seed: int | None = None

    def validate(self) -> None:
        if not 0.0 <= self.dynamodb_unprocessed <= 1.0:
            raise ControlError(f"dynamodb_unprocessed must be within 0..1, got {self.dynamodb_unprocessed}")
        if not isinstance(self.dynamodb_unprocessed_sticky, bool):
            raise ControlError(
                f"dynamodb_unprocessed_sticky must be true or false, got {self.dynamodb_unprocessed_sticky!r}"
            )
        keys = self.dynamodb_unprocessed_keys
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ControlError(f"dynamodb_unprocessed_keys must be a list of strings, got {keys!r}")


class FaultRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self.random = random.Random()

    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def update(self, changes: dict[str, Any]) -> Faults:
        unknown = set(changes) - set(Faults.__dataclass_fields__)
        if unknown:
            raise ControlError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        with self._lock:
            faults = replace(self._faults, **changes)
            faults.validate()
            self._faults = faults
            if "seed" in changes:
                self.random.seed(faults.seed)
            return faults

    def clear(self) -> Faults:
        with self._lock:
            self._faults = Faults()
            return self._faults


class FaultsExtension:
    name = "faults"

    def __init__(self, registry: FaultRegistry):
        self.registry = registry

    def install(self, app: EmulatorApp) -> None:
        app.route("GET", "faults", lambda _r: control_json(asdict(self.registry.current())))
        app.route("POST", "faults", self._set)
        app.route("DELETE", "faults", lambda _r: control_json(asdict(self.registry.clear())))
        app.status_providers.append(lambda: {"faults": asdict(self.registry.current())})

    def _set(self, request: Request) -> Response:
        return control_json(asdict(self.registry.update(control_body(request, "faults"))))
