"""The email outbox: what SNS would have emailed, as ``.eml`` files a person can open.

One file per email subscription per message, named ``<UTC time>-<sequence>-<address>.eml`` so that names
sort in the order the messages were sent. The mail looks like SNS's: sender ``AWS Notifications`` (or the
topic's DisplayName) at ``no-reply@sns.amazonaws.com``, the publish Subject or SNS's default subject, and
the message as the plain-text body (``email``) or the JSON notification (``email-json``).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any

SENDER_ADDRESS = "no-reply@sns.amazonaws.com"
DEFAULT_SENDER_NAME = "AWS Notifications"
DEFAULT_SUBJECT = "AWS Notification Message"
EMAIL_PROTOCOLS = ("email", "email-json")
# Unfolded headers and an 8bit body keep the file readable as plain text (an ARN has nowhere to fold).
EML_POLICY = policy.default.clone(max_line_length=None)


@dataclass(frozen=True)
class Notification:
    """One message for one email subscription."""

    to: str
    protocol: str
    body: str
    subject: str | None
    topic_arn: str
    topic_display_name: str
    message_id: str
    subscription_arn: str


class Outbox:
    def __init__(self, directory: Path):
        self.directory = directory
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def deliver(self, notification: Notification, now: datetime | None = None) -> Path:
        """Write the email and return its path."""
        sent = (now or datetime.now(UTC)).astimezone(UTC)
        mail = compose(notification, sent)
        with self._lock:
            sequence = next(self._sequence)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{sent:%Y%m%dT%H%M%S%fZ}-{sequence:06d}-{_slug(notification.to)}.eml"
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(mail.as_bytes(policy=EML_POLICY))
        # Renamed into place whole, so a reader listing the outbox never sees half a message.
        partial.replace(path)
        return path

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the outbox, oldest first."""
        if not self.directory.is_dir():
            return []
        return [summarize(path) for path in sorted(self.directory.glob("*.eml"))]


def compose(notification: Notification, sent: datetime) -> EmailMessage:
    mail = EmailMessage(policy=EML_POLICY)
    mail["From"] = formataddr((notification.topic_display_name or DEFAULT_SENDER_NAME, SENDER_ADDRESS))
    mail["To"] = notification.to
    mail["Subject"] = notification.subject or DEFAULT_SUBJECT
    mail["Date"] = format_datetime(sent)
    mail["Message-ID"] = make_msgid(domain="email.amazonses.com")
    mail["x-amz-sns-message-id"] = notification.message_id
    mail["x-amz-sns-topic-arn"] = notification.topic_arn
    mail["x-amz-sns-subscription-arn"] = notification.subscription_arn
    mail.set_content(notification.body, cte="8bit")
    return mail


def summarize(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        headers = BytesParser(policy=policy.default).parse(handle, headersonly=True)
    date = headers["Date"]
    return {
        "path": str(path),
        "to": str(headers["To"]),
        "subject": str(headers["Subject"]),
        "date": parsedate_to_datetime(str(date)).astimezone(UTC).isoformat() if date else None,
        "from": str(headers["From"]),
        "topic_arn": str(headers["x-amz-sns-topic-arn"] or ""),
        "message_id": str(headers["x-amz-sns-message-id"] or ""),
    }


def _slug(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", address)[:80] or "unknown"
