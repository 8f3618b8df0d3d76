"""Function logs into the emulator's CloudWatch Logs, written to moto's backend in-process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

log = logging.getLogger("emulator.lambda")

# moto's logs backend is not thread-safe and invocations finish on many request threads at once.
_lock = threading.Lock()


def put_events(account: str, region: str, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
    """Append ``(timestamp_ms, message)`` events, creating the group and stream as Lambda does."""
    if not events:
        return
    from moto.logs.models import logs_backends

    backend = logs_backends[account][region]
    try:
        with _lock:
            backend.ensure_log_group(group)
            backend.ensure_log_stream(group, stream)
            backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in events])
    except Exception:  # losing a log line must not fail the invocation that produced it
        log.exception("writing %d log events to %s %s", len(events), group, stream)
