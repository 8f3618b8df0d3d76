"""issue_role_credentials: the trust-policy check a service passes to get its role's credentials, and
identity_of, which tells a role session's key from the operator's."""

from __future__ import annotations

import json
import uuid

import pytest

from emulator.iam import credentials
from emulator.iam.credentials import RoleNotAssumable, identity_of, issue_role_credentials

ACCOUNT = "123456789012"


def make_role(trust: dict) -> str:
    from moto.iam.models import iam_backends

    role = iam_backends[ACCOUNT]["aws"].create_role(
        f"trust-{uuid.uuid4().hex[:8]}", json.dumps(trust), "/", None, "", [], None, None
    )
    return role.arn


def trust_of(service: str, condition: dict | None = None) -> dict:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def test_the_service_the_trust_policy_names_gets_credentials():
    role_arn = make_role(trust_of("lambda.amazonaws.com"))
    issued = issue_role_credentials(role_arn, "fn-1", service="lambda.amazonaws.com")
    assert issued.role_arn == role_arn
    assert issued.assumed_role_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[1]}/fn-1"
    assert identity_of(issued.access_key_id) == issued


def test_another_service_is_refused_in_aws_words():
    role_arn = make_role(trust_of("lambda.amazonaws.com"))
    with pytest.raises(RoleNotAssumable) as refused:
        issue_role_credentials(role_arn, "job-1", service="glue.amazonaws.com")
    assert str(refused.value) == (
        f"glue.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {role_arn}: "
        "the role's trust policy does not allow it"
    )


def test_source_arn_and_account_conditions_are_evaluated():
    machine = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:etl"
    role_arn = make_role(
        trust_of(
            "states.amazonaws.com",
            {"ArnLike": {"aws:SourceArn": machine}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
        )
    )
    issue_role_credentials(
        role_arn, "sfn-1", service="states.amazonaws.com", source_arn=machine, source_account=ACCOUNT
    )
    with pytest.raises(RoleNotAssumable):
        issue_role_credentials(
            role_arn,
            "sfn-2",
            service="states.amazonaws.com",
            source_arn=f"{machine}-other",
            source_account=ACCOUNT,
        )
    with pytest.raises(RoleNotAssumable):  # the keys are missing: the conditions do not hold
        issue_role_credentials(role_arn, "sfn-3", service="states.amazonaws.com")


def test_a_missing_role_is_refused():
    with pytest.raises(RoleNotAssumable, match="does not exist"):
        issue_role_credentials(
            f"arn:aws:iam::{ACCOUNT}:role/none-{uuid.uuid4().hex}", "s", service="lambda.amazonaws.com"
        )


def test_without_a_service_no_trust_check_is_made():
    role_arn = make_role(trust_of("ec2.amazonaws.com"))
    assert issue_role_credentials(role_arn, "direct").role_arn == role_arn


def test_operator_keys_are_remembered_as_nobodys_session():
    key = f"AKIA{uuid.uuid4().hex[:16].upper()}"
    assert identity_of(key) is None
    assert key in credentials._operator_keys
    assert identity_of(key) is None


def test_a_session_assumed_through_sts_is_known():
    from moto.sts.models import sts_backends

    role_arn = make_role(trust_of("lambda.amazonaws.com"))
    assumed = sts_backends[ACCOUNT]["aws"].assume_role(
        region_name="us-east-1",
        role_session_name="cli",
        role_arn=role_arn,
        policy=None,
        duration=900,
        external_id=None,
    )
    found = identity_of(assumed.access_key_id)
    assert found is not None and found.role_arn == role_arn
