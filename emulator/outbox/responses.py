"""SNS email delivery into the outbox, and its control route.

moto accepts email subscriptions but delivers nothing to them. We patch ``moto.sns.models.Subscription
.publish`` so a message to an ``email`` or ``email-json`` subscription is written to the outbox. moto marks
subscriptions created through the API as confirmed (``PendingConfirmation`` false), and so do we: nobody can
click a confirmation link locally.

``GET /_emulator/outbox`` answers ``[{"path", "to", "subject", "date", "from", "topic_arn", "message_id"}]``,
oldest first; the status carries the outbox directory as ``outbox``.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.app import EmulatorApp, control_json
from emulator.outbox.models import EMAIL_PROTOCOLS, Notification, Outbox


class OutboxExtension:
    name = "outbox"

    def __init__(self) -> None:
        self.outbox: Outbox | None = None
        self._original_publish: Any = None

    def install(self, app: EmulatorApp) -> None:
        self.outbox = Outbox(app.settings.outbox_dir)
        self._patch_sns(self.outbox)
        app.route("GET", "outbox", lambda _request: control_json(self._outbox().messages()))
        app.status_providers.append(lambda: {"outbox": str(self._outbox().directory)})

    def shutdown(self) -> None:
        if self._original_publish is not None:
            from moto.sns.models import Subscription

            Subscription.publish = self._original_publish  # type: ignore[method-assign]
            self._original_publish = None

    def _outbox(self) -> Outbox:
        assert self.outbox is not None
        return self.outbox

    def _patch_sns(self, outbox: Outbox) -> None:
        from moto.sns.models import Subscription

        original = Subscription.publish
        self._original_publish = original

        def publish(
            subscription: Any,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            group_id: str | None = None,
            deduplication_id: str | None = None,
            message_structure: str | None = None,
        ) -> None:
            if subscription.protocol not in EMAIL_PROTOCOLS:
                return original(
                    subscription,
                    message,
                    message_id,
                    subject=subject,
                    message_attributes=message_attributes,
                    group_id=group_id,
                    deduplication_id=deduplication_id,
                    message_structure=message_structure,
                )
            # The same filtering and per-protocol message selection moto applies to other protocols.
            matcher = subscription._filter_policy_matcher
            if matcher is not None and not matcher.matches(message_attributes, message):
                return None
            if message_structure == "json":
                message = subscription._parse_message_structure(message, subscription.protocol)
            body = message
            if subscription.protocol == "email-json":
                body = json.dumps(
                    subscription.get_post_data(message, message_id, subject, message_attributes)
                )
            outbox.deliver(
                Notification(
                    to=subscription.endpoint,
                    protocol=subscription.protocol,
                    body=body,
                    subject=subject,
                    topic_arn=subscription.topic.arn,
                    topic_display_name=subscription.topic.display_name,
                    message_id=message_id,
                    subscription_arn=subscription.arn,
                )
            )
            return None

        Subscription.publish = publish  # type: ignore[method-assign]
