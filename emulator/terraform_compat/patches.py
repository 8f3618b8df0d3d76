"""Changes to moto's models, each for something the provider writes and then reads back or relies on.

Every patch is idempotent: a process may build more than one emulator app. They reach into moto's
internals (pinned in pyproject.toml); tests/infra/test_emulator_compat.py fails when an upgrade breaks one.
"""

from __future__ import annotations

import json
from typing import Any

_PATCHED = "_terraform_compat_patched"


def _once(owner: Any, name: str) -> bool:
    """True the first time ``owner.name`` is patched, False afterwards."""
    marker = f"{_PATCHED}_{name}"
    if getattr(owner, marker, False):
        return False
    setattr(owner, marker, True)
    return True


def sqs_redrive_allow_policy() -> None:
    """moto stores a queue's RedriveAllowPolicy but never returns it, so the provider waits for it forever."""
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.redrive_allow_policy = None  # type: ignore[attr-defined]
        Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")


def sqs_compact_redrive_policy() -> None:
    """SQS returns RedrivePolicy as compact JSON; moto's ``json.dumps`` spacing reads as a change to apply."""
    from moto.sqs.models import Queue

    if not _once(Queue, "attributes"):
        return
    original = Queue.attributes

    def attributes(self: Queue) -> dict[str, Any]:
        result = original.fget(self)  # type: ignore[attr-defined]
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]


def s3_bucket_policy_conditions() -> None:
    """Evaluate a TLS-only bucket policy (Deny when aws:SecureTransport is false) the way S3 does.

    moto evaluates only StringEquals conditions and treats every other operator as satisfied, and it
    denies when a statement's condition does not hold, whatever the statement's effect. Together these
    make a conditional Deny deny every request. Here:
    - ``Bool`` is evaluated (case-insensitively, as IAM does);
    - bucket policies see ``aws:SecureTransport = true``: the emulator's plain HTTP on localhost stands in
      for AWS's TLS endpoints, which is all our code ever talks to;
    - a statement whose condition does not hold does not apply (neither allows nor denies).
    """
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", _bool_operation)

    if _once(IAMPolicyStatement, "is_action_permitted"):
        original = IAMPolicyStatement.is_action_permitted

        def is_action_permitted(
            self: IAMPolicyStatement,
            action: str,
            resource: str = "*",
            principal: str | None = None,
            incoming_condition_values: dict[str, str] | None = None,
        ) -> PermissionResult:
            result = original(self, action, resource, principal, incoming_condition_values)
            if (
                result == PermissionResult.DENIED
                and self._statement.get("Condition")
                and not self._check_conditions(incoming_condition_values)
            ):
                return PermissionResult.NEUTRAL
            return result

        IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]

    if _once(FakeBucket, "get_permission"):

        def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
            if self.policy is None:
                return PermissionResult.NEUTRAL
            return IAMPolicy(self.policy.decode()).is_action_permitted(
                action, resource, incoming_condition_values={"aws:SecureTransport": "true"}
            )

        FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _bool_operation(expected: list[str] | str, actual: str) -> bool:
    values = [expected] if isinstance(expected, str) else expected
    return str(actual).lower() in {str(value).lower() for value in values}


ALL = [
    sqs_redrive_allow_policy,
    sqs_compact_redrive_policy,
    s3_bucket_policy_conditions,
]
