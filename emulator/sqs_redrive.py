"""SQS dead-letter queue moves as AWS makes them.

moto moves a message to the dead-letter queue when a receive finds it at the redrive policy's
maxReceiveCount, as AWS does, but the moved message then looks like any message sent to the dead-letter
queue. AWS marks it:

- ReceiveMessage returns the ``DeadLetterQueueSourceArn`` system attribute (the source queue's ARN) for a
  moved message when ``All`` or that name is asked for; a message sent to the queue has none.
- FIFO queues: the moved message's enqueue timestamp resets (its retention counts from the move), and its
  deduplication id becomes its message id, so that the DLQ's deduplication keeps two moved messages that
  shared an id.
- The moved message is no longer in flight on its source queue (moto left it among the source's pending
  messages, which blocked its FIFO group there).

Patched: ``SQSBackend.receive_message`` (marks the moves it makes, through ``Queue.add_message`` on the
dead-letter queue during that call) and ``SQSResponse.receive_message`` (adds the attribute).
"""

from __future__ import annotations

import threading
from typing import Any

from emulator.app import EmulatorApp

SOURCE_ATTRIBUTE = "DeadLetterQueueSourceArn"
# Where the source queue's ARN is kept on a moved moto Message.
_MARK = "_emulator_dlq_source_arn"


class SqsRedriveExtension:
    name = "sqs_redrive"

    def __init__(self) -> None:
        self._originals: dict[str, Any] = {}

    def install(self, app: EmulatorApp) -> None:
        self._originals = patch()

    def shutdown(self) -> None:
        unpatch(self._originals)
        self._originals = {}


def patch() -> dict[str, Any]:
    """Patch moto's SQS; return what ``unpatch`` needs to undo it."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue, SQSBackend
    from moto.sqs.responses import SQSResponse

    originals = {
        "backend_receive": SQSBackend.receive_message,
        "add_message": Queue.add_message,
        "response_receive": SQSResponse.receive_message,
    }
    moving = threading.local()

    def backend_receive(backend: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        source = backend.get_queue(queue_name)
        previous = getattr(moving, "source", None)
        moving.source = source
        try:
            return originals["backend_receive"](backend, queue_name, *args, **kwargs)
        finally:
            moving.source = previous

    def add_message(queue: Any, message: Any) -> None:
        source = getattr(moving, "source", None)
        if source is not None and queue is source.dead_letter_queue:
            setattr(message, _MARK, source.queue_arn)
            source.pending_messages.discard(message)
            if queue.fifo_queue:
                message.sent_timestamp = int(unix_time_millis())
                message.deduplication_id = message.id
        originals["add_message"](queue, message)

    def response_receive(response: Any) -> Any:
        result = originals["response_receive"](response)
        asked = set(response._get_param("MessageSystemAttributeNames", []) or []) | set(
            response._get_param("AttributeNames", []) or []
        )
        messages = (getattr(result, "result", None) or {}).get("Messages") or []
        if not messages or not asked & {"All", SOURCE_ATTRIBUTE}:
            return result
        queue = response.sqs_backend.get_queue(response._get_queue_name())
        sources = {m.id: getattr(m, _MARK) for m in queue._messages if hasattr(m, _MARK)}
        for message in messages:
            arn = sources.get(message["MessageId"])
            if arn is not None:
                message.setdefault("Attributes", {})[SOURCE_ATTRIBUTE] = arn
        return result

    SQSBackend.receive_message = backend_receive  # type: ignore[method-assign]
    Queue.add_message = add_message  # type: ignore[method-assign]
    SQSResponse.receive_message = response_receive  # type: ignore[method-assign]
    return originals


def unpatch(originals: dict[str, Any]) -> None:
    if not originals:
        return
    from moto.sqs.models import Queue, SQSBackend
    from moto.sqs.responses import SQSResponse

    SQSBackend.receive_message = originals["backend_receive"]  # type: ignore[method-assign]
    Queue.add_message = originals["add_message"]  # type: ignore[method-assign]
    SQSResponse.receive_message = originals["response_receive"]  # type: ignore[method-assign]
