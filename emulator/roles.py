"""Role credentials a service's own calls are signed with: a state machine's service integrations
(``states.amazonaws.com``) and an EventBridge rule's targets (``events.amazonaws.com``).

One place that asks the emulator's STS for them, passes the trust-policy check the service would pass (the
service principal, the ARN and account of the resource acting for it), and keeps each session until shortly
before it expires, as the services themselves reuse theirs.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from emulator.iam import credentials as iam_credentials
from emulator.runtime_identity import needs_renewal

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
        if cached is not None and not needs_renewal(cached, _REFRESH_BEFORE):
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
    try:
        return iam_credentials.issue_role_credentials(
            role_arn, session, region, service=service, source_arn=source_arn, source_account=source_account
        )
    except iam_credentials.RoleNotAssumable as exc:
        raise RoleNotUsable(str(exc)) from exc
