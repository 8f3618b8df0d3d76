"""Temporary credentials for a role, issued by the emulator's STS (moto's backend) as AWS issues them to the
code a service runs for that role: a Lambda function's execution environment, a Glue job run, a state
machine's service integrations, an EventBridge rule's target.

``identity_of`` answers which role session a request's access key belongs to; keys it does not know are the
operator's (Terraform, the CLI, tests), who keeps full access.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator.settings import ACCOUNT_ID

# AWS caps role chaining at 1 h, but a service refreshes its own role's credentials before they expire; the
# emulator issues them for 12 h (the longest MaxSessionDuration) and issues new ones per worker or run.
DURATION_S = 12 * 3600


@dataclass(frozen=True)
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    role_arn: str
    # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, the principal AWS names in a denial.
    assumed_role_arn: str

    def environment(self) -> dict[str, str]:
        """The variables an AWS SDK reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


_identities: dict[str, RoleCredentials] = {}
# Keys looked up and found to be no role session's: the operator's. Every request of the operator asks
# ``identity_of``, so the answer must be a dict lookup, not a walk through STS's sessions. A key STS issues
# later is a new random one (and lands in ``_identities`` first), so an entry here never goes stale.
_operator_keys: set[str] = set()
_OPERATOR_KEYS_MAX = 10_000
_lock = threading.Lock()


class RoleNotAssumable(Exception):
    """The role's trust policy does not let the service assume it (or there is no such role)."""


def issue_role_credentials(
    role_arn: str,
    session_name: str,
    region: str = "us-east-1",
    *,
    service: str | None = None,
    source_arn: str | None = None,
    source_account: str | None = None,
) -> RoleCredentials:
    """Assume ``role_arn`` through the emulator's STS and remember the session for ``identity_of``.

    With ``service`` (``lambda.amazonaws.com``), the role's trust policy must let that service principal
    assume it, with ``aws:SourceArn``/``aws:SourceAccount`` set from ``source_arn``/``source_account`` as the
    service sets them; otherwise ``RoleNotAssumable``, as AWS refuses the service."""
    from moto.sts.models import sts_backends

    if service is not None:
        check_trust(role_arn, service, source_arn=source_arn, source_account=source_account)

    backend = sts_backends[ACCOUNT_ID]["aws"]
    assumed = backend.assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=DURATION_S,
        external_id=None,
    )
    return _remember(assumed)


def _remember(assumed: Any) -> RoleCredentials:
    """The credentials of a session of moto's STS, kept for ``identity_of``."""
    credentials = RoleCredentials(
        access_key_id=assumed.access_key_id,
        secret_access_key=assumed.secret_access_key,
        session_token=assumed.session_token,
        expiration=assumed.expiration,
        role_arn=assumed.role_arn,
        assumed_role_arn=assumed.arn,
    )
    with _lock:
        _identities[credentials.access_key_id] = credentials
    return credentials


def identity_of(access_key_id: str) -> RoleCredentials | None:
    """The role session whose key this is: issued here, or by an ``sts:AssumeRole`` call to the emulator."""
    known = _identities.get(access_key_id)
    if known is not None or access_key_id in _operator_keys:
        return known
    from moto.sts.models import sts_backends

    assumed = sts_backends[ACCOUNT_ID]["aws"].get_assumed_role_from_access_key(access_key_id)
    if assumed is None:
        with _lock:
            if len(_operator_keys) >= _OPERATOR_KEYS_MAX:
                _operator_keys.clear()
            _operator_keys.add(access_key_id)
        return None
    return _remember(assumed)


def check_trust(
    role_arn: str, service: str, *, source_arn: str | None = None, source_account: str | None = None
) -> None:
    """Raise ``RoleNotAssumable`` unless ``role_arn``'s trust policy allows ``service`` sts:AssumeRole."""
    from moto.iam.models import iam_backends

    from emulator.iam.policy import Caller, Policy, PolicyError, context_of, trust_allows

    refused = f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    try:
        role = iam_backends[ACCOUNT_ID]["aws"].get_role_by_arn(role_arn)
    except Exception:
        raise RoleNotAssumable(f"{refused}: the role does not exist") from None
    try:
        trust = Policy.parse(role.assume_role_policy_document, name=f"{role.name} trust policy")
    except PolicyError as exc:
        raise RoleNotAssumable(f"{refused}: {exc}") from None
    context = context_of(
        {
            "aws:SourceArn": source_arn,
            "aws:SourceAccount": source_account,
            "aws:PrincipalServiceName": service,
        }
    )
    if not trust_allows(trust, Caller(frozenset({("Service", service)})), context):
        raise RoleNotAssumable(f"{refused}: the role's trust policy does not allow it")
