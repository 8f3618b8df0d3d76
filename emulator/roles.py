"""Role credentials a service's own calls are signed with: a state machine's service integrations
(``states.amazonaws.com``) and an EventBridge rule's targets (``events.amazonaws.com``).

One place that asks the emulator's STS for them, passes the trust-policy check the service would pass (the
service principal, the ARN and account of the resource acting for it), and keeps each session until shortly
before it expires, as the services themselves reuse theirs.
"""

from __future__ import annotations

import inspect
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.iam import credentials as iam_credentials

_REFRESH_BEFORE = timedelta(minutes=5)
_cache: dict[tuple[str, str, str], iam_credentials.RoleCredentials] = {}
_lock = threading.Lock()


class RoleNotUsable(Exception):
    """The role cannot be assumed by the service for this resource (trust policy, or no such role)."""


def service_credentials(
    role_arn: str, service: str, source_arn: str, source_account: str, region: str
) -> iam_credentials.RoleCredentials:
    """Credentials of ``role_arn`` as ``service`` gets them when acting for ``source_arn``."""
    if not role_arn:
        raise RoleNotUsable(f"{source_arn} has no role for {service} to assume")
    key = (role_arn, service, source_arn)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and _expires_after(cached, datetime.now(UTC) + _REFRESH_BEFORE):
            return cached
    session = f"{service.split('.', 1)[0]}-{uuid.uuid4().hex[:16]}"
    issued = _issue(role_arn, session, region, service, source_arn, source_account)
    with _lock:
        _cache[key] = issued
    return issued


def client_kwargs(credentials: iam_credentials.RoleCredentials) -> dict[str, Any]:
    """boto3 client arguments that sign with ``credentials``."""
    return {
        "aws_access_key_id": credentials.access_key_id,
        "aws_secret_access_key": credentials.secret_access_key,
        "aws_session_token": credentials.session_token,
    }


def _issue(
    role_arn: str, session: str, region: str, service: str, source_arn: str, source_account: str
) -> iam_credentials.RoleCredentials:
    issue = iam_credentials.issue_role_credentials
    not_assumable = getattr(iam_credentials, "RoleNotAssumable", None)
    try:
        if "service" in inspect.signature(issue).parameters:
            return issue(
                role_arn,
                session,
                region,
                service=service,
                source_arn=source_arn,
                source_account=source_account,
            )
        # The trust-policy check arrives with the IAM engine; until then the role is assumed unchecked.
        return issue(role_arn, session, region)
    except Exception as exc:
        if not_assumable is not None and isinstance(exc, not_assumable):
            raise RoleNotUsable(str(exc)) from exc
        raise


def _expires_after(credentials: iam_credentials.RoleCredentials, moment: datetime) -> bool:
    expiration = credentials.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return expiration > moment
