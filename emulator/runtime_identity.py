"""What the code the emulator runs for a role gets to reach AWS: the role's temporary credentials, the endpoint
and the CA bundle, as the SDK's environment variables.

Lambda workers and Glue job runs (driver and Spark executors alike) run as their own role, as on AWS: their
requests are signed with credentials the emulator's STS issued for that role, so IAM enforcement authorizes
them against the role's policies. The endpoint and CA bundle are read from the settings each time, when a
worker or run starts, so that a server that switched to TLS hands out its https endpoint and its CA.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emulator.iam.credentials import RoleCredentials, check_trust, issue_role_credentials
from emulator.settings import ACCOUNT_ID, EmulatorSettings

LAMBDA_SERVICE = "lambda.amazonaws.com"
GLUE_SERVICE = "glue.amazonaws.com"

# A service renews its role's credentials before they expire; what is left of them when a warm process
# (a Lambda worker, a Glue driver host) is handed new work must cover that work with room to spare.
RENEW_BEFORE = timedelta(hours=1)


def assume_role(
    role_arn: str, session_name: str, region: str, service: str, source_arn: str
) -> RoleCredentials:
    """``role_arn``'s credentials as ``service`` gets them when it assumes the role for the code of
    ``source_arn`` (a function, a job); raises ``RoleNotAssumable`` when the role's trust policy does not let
    ``service`` assume it for that resource."""
    return issue_role_credentials(
        role_arn,
        session_name=session_name,
        region=region,
        service=service,
        source_arn=source_arn,
        source_account=ACCOUNT_ID,
    )


def check_assumable(role_arn: str, service: str, source_arn: str) -> None:
    """Whether ``service`` could assume ``role_arn`` for ``source_arn``, without issuing credentials: raises
    ``RoleNotAssumable`` when it could not."""
    check_trust(role_arn, service, source_arn=source_arn, source_account=ACCOUNT_ID)


def sdk_environment(credentials: RoleCredentials, settings: EmulatorSettings) -> dict[str, str]:
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL and, over TLS,
    AWS_CA_BUNDLE."""
    env = credentials.environment()
    env["AWS_ENDPOINT_URL"] = settings.internal_endpoint
    ca_bundle = settings.ca_bundle
    if ca_bundle is not None:
        env["AWS_CA_BUNDLE"] = str(ca_bundle)
    return env


def needs_renewal(credentials: RoleCredentials, margin: timedelta = RENEW_BEFORE) -> bool:
    """Whether ``credentials`` expire within ``margin``: work handed over now could outlive them."""
    expiration = credentials.expiration
    if expiration.tzinfo is None:  # moto keeps naive UTC datetimes
        expiration = expiration.replace(tzinfo=UTC)
    return expiration - datetime.now(UTC) <= margin
