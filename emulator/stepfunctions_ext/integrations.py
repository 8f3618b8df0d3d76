"""A state machine's service integrations call AWS as the state machine's role, as on AWS.

moto's interpreter signs every Lambda, Glue, SQS, ... call of a Task state with a fixed dummy key, which the
emulator treats as the operator's (full access). Here the calls are signed with temporary credentials of the
role (the state machine's ``roleArn``, or the Task's own ``Credentials.RoleArn``) that the emulator's STS issues
to ``states.amazonaws.com`` for that state machine, so IAM enforcement authorizes them against the role's
policies. A denied call fails the task with the service's error name, ``Lambda.AccessDeniedException`` or
``Glue.AccessDeniedException``, as moto's integrations already name a service's client errors
(``ServiceName.ErrorCode``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator import roles
from emulator.settings import EmulatorSettings

STATES_SERVICE = "states.amazonaws.com"


def install(settings: EmulatorSettings) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.utils import boto_client

    client_for = _client_factory(settings)
    original = boto_client.boto_client_for
    # moto's modules imported the function by name: replace every binding of it.
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.stepfunctions.parser") and (
            getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = client_for  # type: ignore[attr-defined]

    evaluate_credentials = StateTask._eval_state_credentials

    def _eval_state_credentials(self: Any, env: Any) -> Any:
        credentials = evaluate_credentials(self, env)
        context = env.states.context_object.context_object_data
        return MachineCredentials(
            role_arn=credentials.role_arn,
            state_machine_arn=context["StateMachine"]["Id"],
            account=env.aws_execution_details.account,
        )

    StateTask._eval_state_credentials = _eval_state_credentials  # type: ignore[method-assign]
    _tolerate_missing_request_ids()


def _tolerate_missing_request_ids() -> None:
    """moto's Lambda integration reads the failed call's request ID, which not every emulator answer carries
    (the Lambda runtime's own errors): without it the task failed with States.Runtime KeyError('RequestId')."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda,
    )

    error_cause = StateTaskServiceLambda._error_cause_from_client_error

    def _error_cause_from_client_error(client_error: ClientError) -> tuple[str, str]:
        metadata = client_error.response.setdefault("ResponseMetadata", {})
        metadata.setdefault("RequestId", "")
        metadata.setdefault("HTTPStatusCode", 0)
        return error_cause(client_error)

    StateTaskServiceLambda._error_cause_from_client_error = staticmethod(_error_cause_from_client_error)  # type: ignore[method-assign]


@dataclass
class MachineCredentials:
    """moto's StateCredentials (the role) plus the state machine the role is assumed for."""

    role_arn: str
    state_machine_arn: str
    account: str


def _client_factory(settings: EmulatorSettings) -> Callable[..., Any]:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        ca_bundle = settings.ca_bundle
        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=settings.internal_endpoint,
            verify=str(ca_bundle) if ca_bundle else None,
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **_signing(state_credentials, region, service),
        )

    return boto_client_for


def _signing(state_credentials: Any, region: str, service: str) -> dict[str, Any]:
    if not isinstance(state_credentials, MachineCredentials):
        # A call moto makes outside a Task state (none in the integrations the pipeline uses).
        return {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}
    try:
        credentials = roles.service_credentials(
            state_credentials.role_arn,
            STATES_SERVICE,
            source_arn=state_credentials.state_machine_arn,
            source_account=state_credentials.account,
            region=region,
        )
    except roles.RoleNotUsable as exc:
        # The task fails as the service call would: not authorized.
        raise ClientError(
            {
                "Error": {"Code": "AccessDeniedException", "Message": str(exc)},
                "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": ""},
            },
            service,
        ) from exc
    return roles.client_kwargs(credentials)
