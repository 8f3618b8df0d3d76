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
_lock = threading.Lock()


def issue_role_credentials(role_arn: str, session_name: str, region: str = "us-east-1") -> RoleCredentials:
    """Assume ``role_arn`` through the emulator's STS and remember the session for ``identity_of``."""
    from moto.sts.models import sts_backends

    backend = sts_backends[ACCOUNT_ID]["aws"]
    assumed = backend.assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy=None,
        duration=DURATION_S,
        external_id=None,
    )
    credentials = RoleCredentials(
        access_key_id=assumed.access_key_id,
        secret_access_key=assumed.secret_access_key,
        session_token=assumed.session_token,
        expiration=assumed.expiration,
        role_arn=role_arn,
        assumed_role_arn=assumed.arn,
    )
    with _lock:
        _identities[credentials.access_key_id] = credentials
    return credentials


def identity_of(access_key_id: str) -> RoleCredentials | None:
    """The role session whose key this is: issued here, or by an ``sts:AssumeRole`` call to the emulator."""
    known = _identities.get(access_key_id)
    if known is not None:
        return known
    from moto.sts.models import sts_backends

    assumed = sts_backends[ACCOUNT_ID]["aws"].get_assumed_role_from_access_key(access_key_id)
    if assumed is None:
        return None
    credentials = RoleCredentials(
        access_key_id=assumed.access_key_id,
        secret_access_key=assumed.secret_access_key,
        session_token=assumed.session_token,
        expiration=assumed.expiration,
        role_arn=assumed.role_arn,
        assumed_role_arn=assumed.arn,
    )
    with _lock:
        _identities[access_key_id] = credentials
    return credentials
