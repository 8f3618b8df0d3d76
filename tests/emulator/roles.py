"""Roles for the emulator's tests: created with the operator's keys, assumable by one service, allowed some
actions on every resource (the tests' resources are their own)."""

from __future__ import annotations

import json
import uuid


def trust_policy(service: str) -> str:
    """A trust policy that lets ``service`` (e.g. lambda.amazonaws.com) assume the role."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_role(
    emulator,
    actions: list[str],
    *,
    service: str = "states.amazonaws.com",
    trust: str | None = None,
    name: str | None = None,
) -> str:
    """The role's ARN. ``trust`` replaces the trust policy built from ``service``; with a ``name`` that exists
    already, that role gets the given actions."""
    iam = emulator.client("iam")
    name = name or f"role-{uuid.uuid4().hex[:10]}"
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust or trust_policy(service))["Role"][
            "Arn"
        ]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    if actions:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_role_policy(RoleName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    return arn
