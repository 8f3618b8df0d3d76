"""A client for the emulator's control API (``/_emulator/...``), for the CLI, the tests and `etl`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class EmulatorUnavailable(Exception):
    pass


class EmulatorClient:
    def __init__(self, endpoint: str, timeout: float = 30.0):
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator/{path.strip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            try:
                message = json.loads(body).get("error", body)
            except ValueError:
                message = body
            raise RuntimeError(f"emulator {method} {path}: {message}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise EmulatorUnavailable(f"no emulator answers at {self.endpoint} ({exc})") from None

    def get(self, path: str, timeout: float | None = None) -> Any:
        return self._call("GET", path, timeout=timeout)

    def post(self, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        return self._call("POST", path, payload if payload is not None else {}, timeout=timeout)

    def delete(self, path: str, timeout: float | None = None) -> Any:
        return self._call("DELETE", path, timeout=timeout)

    def status(self, timeout: float | None = None) -> dict[str, Any]:
        return self.get("status", timeout=timeout)

    def fire(
        self,
        rule: str,
        at: str | None = None,
        event_bus: str = "default",
        force: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Fire a scheduled EventBridge rule (as of ``at``, ISO 8601; default now); see emulator.scheduler."""
        payload: dict[str, Any] = {"rule": rule, "event_bus": event_bus, "force": force}
        if at:
            payload["time"] = at
        return self.post("scheduler/fire", payload, timeout=timeout)

    def faults(self) -> dict[str, Any]:
        return self.get("faults")

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change the named fault knobs (see emulator.faults); the others keep their values."""
        return self.post("faults", knobs)

    def clear_faults(self) -> dict[str, Any]:
        return self.delete("faults")

    def outbox(self) -> list[dict[str, Any]]:
        """The emails SNS sent, oldest first: [{"path", "to", "subject", "date", ...}]."""
        return self.get("outbox")

    def is_up(self) -> bool:
        # A stopped emulator refuses the connection at once; a running one may take seconds to answer its
        # status while a Spark job and a load keep both cores busy.
        try:
            self.status(timeout=10.0)
        except (EmulatorUnavailable, RuntimeError):
            return False
        return True
