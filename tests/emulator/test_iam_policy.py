"""The policy evaluator alone: concrete decisions for concrete documents, as IAM documents them."""

from __future__ import annotations

import pytest

from emulator.iam.policy import (
    IDENTITY,
    RESOURCE,
    Caller,
    Condition,
    Policy,
    PolicyError,
    context_of,
    evaluate,
    trust_allows,
    wildcard_match,
)

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/loader"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/loader/run-1"
CALLER = Caller(frozenset({("AWS", SESSION), ("AWS", ROLE)}), account=ACCOUNT)


def policy(*statements: dict) -> Policy:
    return Policy.parse({"Version": "2012-10-17", "Statement": list(statements)})


def allowed(p: Policy | list[Policy], action: str, resource: str, context: dict | None = None, **kw) -> bool:
    policies = p if isinstance(p, list) else [p]
    return evaluate(action, resource, context_of(context or {}), policies, **kw).allowed


# --- effects -------------------------------------------------------------------------------------


def test_implicit_deny_when_nothing_allows():
    decision = evaluate("dynamodb:PutItem", TABLE, {}, [policy()] if False else [])
    assert (decision.allowed, decision.explicit_deny) == (False, False)
    assert (
        decision.reason("dynamodb:PutItem")
        == "because no identity-based policy allows the dynamodb:PutItem action"
    )


def test_explicit_deny_beats_allow_in_any_policy():
    allow_all = policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
    deny_put = policy({"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": TABLE})
    assert allowed([allow_all], "dynamodb:PutItem", TABLE)
    decision = evaluate("dynamodb:PutItem", TABLE, {}, [allow_all, deny_put])
    assert (decision.allowed, decision.explicit_deny, decision.source) == (False, True, IDENTITY)
    assert decision.reason("dynamodb:PutItem") == "with an explicit deny in an identity-based policy"
    assert allowed([allow_all, deny_put], "dynamodb:GetItem", TABLE)


def test_actions_match_case_insensitively_with_wildcards():
    p = policy({"Effect": "Allow", "Action": ["DynamoDB:get*", "s3:?etObject"], "Resource": "*"})
    assert allowed(p, "dynamodb:GetItem", TABLE)
    assert allowed(p, "dynamodb:getitem", TABLE)
    assert allowed(p, "s3:GetObject", "arn:aws:s3:::b/k")
    assert allowed(p, "s3:SetObject", "arn:aws:s3:::b/k")
    assert not allowed(p, "s3:GetObjectVersion", "arn:aws:s3:::b/k")  # ? is exactly one character
    assert not allowed(p, "dynamodb:PutItem", TABLE)


def test_resources_match_case_sensitively_with_wildcards():
    p = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/runs/*"})
    assert allowed(p, "s3:GetObject", "arn:aws:s3:::bucket/runs/2026/a.json")
    assert not allowed(p, "s3:GetObject", "arn:aws:s3:::bucket/RUNS/a.json")
    assert not allowed(p, "s3:GetObject", "arn:aws:s3:::bucket")
    q = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/run?"})
    assert allowed(q, "s3:GetObject", "arn:aws:s3:::bucket/runs")
    assert not allowed(q, "s3:GetObject", "arn:aws:s3:::bucket/runs/")


def test_not_action_allows_everything_but_the_named_actions():
    p = policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE})
    assert allowed(p, "dynamodb:PutItem", TABLE)
    assert not allowed(p, "dynamodb:DeleteItem", TABLE)
    deny = policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": ["s3:*"], "Resource": "*"},
    )
    assert allowed(deny, "s3:PutObject", "arn:aws:s3:::b/k")
    assert not allowed(deny, "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q")


def test_not_resource_matches_everything_but_the_named_resources():
    p = policy({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": f"{TABLE}*"})
    assert not allowed(p, "dynamodb:PutItem", TABLE)
    assert not allowed(p, "dynamodb:Query", f"{TABLE}/index/by-day")
    assert allowed(p, "dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/runs")


def test_resource_policy_allow_alone_allows_in_the_same_account():
    bucket_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    )
    decision = evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [], bucket_policy, CALLER)
    assert (decision.allowed, decision.source) == (True, RESOURCE)
    other = Caller(frozenset({("AWS", f"arn:aws:iam::{ACCOUNT}:role/other")}), account=ACCOUNT)
    assert not evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [], bucket_policy, other).allowed


def test_resource_policy_deny_beats_identity_allow():
    identity = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    bucket_policy = policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        }
    )
    decision = evaluate("s3:PutObject", "arn:aws:s3:::b/k", {}, [identity], bucket_policy, CALLER)
    assert (decision.allowed, decision.explicit_deny, decision.source) == (False, True, RESOURCE)
    assert decision.reason("s3:PutObject") == "with an explicit deny in a resource-based policy"


def test_account_principal_denies_but_only_delegates_an_allow():
    deny_account = policy(
        {"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"}
    )
    identity = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert not evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [identity], deny_account, CALLER).allowed
    allow_root = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "s3:*",
            "Resource": "*",
        }
    )
    assert not evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [], allow_root, CALLER).allowed


def test_not_principal_applies_to_everyone_else():
    bucket_policy = policy(
        {"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
    )
    assert evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [], bucket_policy, CALLER).allowed
    other = Caller(frozenset({("AWS", f"arn:aws:iam::{ACCOUNT}:role/other")}), account=ACCOUNT)
    assert not evaluate("s3:GetObject", "arn:aws:s3:::b/k", {}, [], bucket_policy, other).allowed


def test_tls_only_bucket_policy_denies_plain_http():
    tls_only = policy(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    over_http = evaluate(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        context_of({"aws:SecureTransport": "false"}),
        [identity],
        tls_only,
        CALLER,
    )
    assert (over_http.allowed, over_http.source) == (False, RESOURCE)
    over_tls = evaluate(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        context_of({"aws:SecureTransport": "true"}),
        [identity],
        tls_only,
        CALLER,
    )
    assert over_tls.allowed


def test_trust_policy_names_the_service_and_its_conditions():
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    )
    lambda_caller = Caller(frozenset({("Service", "lambda.amazonaws.com")}))
    glue_caller = Caller(frozenset({("Service", "glue.amazonaws.com")}))
    assert trust_allows(trust, lambda_caller, context_of({"aws:SourceAccount": ACCOUNT}))
    assert not trust_allows(trust, lambda_caller, context_of({"aws:SourceAccount": "999999999999"}))
    assert not trust_allows(trust, lambda_caller, {})  # the key is missing: StringEquals is false
    assert not trust_allows(trust, glue_caller, context_of({"aws:SourceAccount": ACCOUNT}))


# --- conditions ----------------------------------------------------------------------------------


def holds(operator: str, key: str, values, context: dict) -> bool:
    return Condition.parse(operator, key, values).holds(context_of(context))


@pytest.mark.parametrize(
    ("operator", "policy_value", "request_value", "expected"),
    [
        ("StringEquals", "Glue", "Glue", True),
        ("StringEquals", "Glue", "glue", False),
        ("StringNotEquals", "Glue", "Other", True),
        ("StringNotEquals", "Glue", "Glue", False),
        ("StringEqualsIgnoreCase", "Glue", "gLUE", True),
        ("StringNotEqualsIgnoreCase", "Glue", "gLUE", False),
        ("StringLike", "runs/*/report.json", "runs/2026/report.json", True),
        ("StringLike", "run?", "runs", True),
        ("StringLike", "runs/*", "Runs/x", False),
        ("StringNotLike", "runs/*", "other/x", True),
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", "11", True),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericLessThanEquals", "10", "10", True),
        ("NumericGreaterThan", "10", "11", True),
        ("NumericGreaterThanEquals", "10", "9", False),
        ("NumericEquals", "ten", "10", False),
        ("DateLessThan", "2027-01-01T00:00:00Z", "2026-12-01T21:00:00Z", True),
        ("DateGreaterThan", "2027-01-01T00:00:00Z", "2026-12-01T21:00:00Z", False),
        ("DateEquals", "2026-12-01T00:00:00Z", "1796083200", True),  # epoch seconds
        ("DateNotEquals", "2026-12-01T00:00:00Z", "2026-12-01T00:00:01Z", True),
        ("DateLessThanEquals", "2026-12-01", "2026-12-01T00:00:00Z", True),
        ("DateGreaterThanEquals", "2026-12-01T00:00:00Z", "2026-11-30T23:59:59Z", False),
        ("Bool", "false", "false", True),
        ("Bool", "false", "FALSE", True),
        ("Bool", "false", "true", False),
        ("BinaryEquals", "QmluYXJ5", "QmluYXJ5", True),
        ("IpAddress", "127.0.0.0/8", "127.0.0.1", True),
        ("IpAddress", "10.0.0.0/8", "127.0.0.1", False),
        ("NotIpAddress", "10.0.0.0/8", "127.0.0.1", True),
        (
            "ArnEquals",
            "arn:aws:sns:us-east-1:123456789012:status",
            "arn:aws:sns:us-east-1:123456789012:status",
            True,
        ),
        (
            "ArnLike",
            "arn:aws:states:*:123456789012:stateMachine:etl*",
            "arn:aws:states:us-east-1:123456789012:stateMachine:etl",
            True,
        ),
        (
            "ArnLike",
            "arn:aws:states:*:123456789012:stateMachine:etl",
            "arn:aws:states:us-east-1:999999999999:stateMachine:etl",
            False,
        ),
        (
            "ArnNotLike",
            "arn:aws:states:*:123456789012:*",
            "arn:aws:states:us-east-1:999999999999:stateMachine:etl",
            True,
        ),
        ("ArnNotEquals", "arn:aws:sns:*:*:status", "arn:aws:sns:us-east-1:1:status", False),
    ],
)
def test_condition_operators(operator, policy_value, request_value, expected):
    assert holds(operator, "test:key", policy_value, {"test:key": request_value}) is expected


def test_values_of_one_key_are_ored_and_negated_operators_nor_them():
    assert holds(
        "StringEquals",
        "aws:RequestedRegion",
        ["eu-west-1", "us-east-1"],
        {"aws:RequestedRegion": "us-east-1"},
    )
    assert not holds(
        "StringNotEquals",
        "aws:RequestedRegion",
        ["eu-west-1", "us-east-1"],
        {"aws:RequestedRegion": "us-east-1"},
    )
    assert holds(
        "StringNotEquals",
        "aws:RequestedRegion",
        ["eu-west-1", "us-east-2"],
        {"aws:RequestedRegion": "us-east-1"},
    )


def test_keys_and_operators_of_one_statement_are_anded():
    p = policy(
        {
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": "Glue", "aws:RequestedRegion": "us-east-1"},
                "Bool": {"aws:SecureTransport": "true"},
            },
        }
    )
    good = {"cloudwatch:namespace": "Glue", "aws:RequestedRegion": "us-east-1", "aws:SecureTransport": "true"}
    assert allowed(p, "cloudwatch:PutMetricData", "*", good)
    assert not allowed(p, "cloudwatch:PutMetricData", "*", {**good, "cloudwatch:namespace": "Other"})
    assert not allowed(p, "cloudwatch:PutMetricData", "*", {**good, "aws:SecureTransport": "false"})


def test_condition_keys_are_case_insensitive_values_are_not():
    assert holds("StringEquals", "CloudWatch:Namespace", "Glue", {"cloudwatch:namespace": "Glue"})
    assert not holds("StringEquals", "cloudwatch:namespace", "Glue", {"CLOUDWATCH:NAMESPACE": "GLUE"})


def test_missing_key_is_false_for_positive_and_true_for_negated_operators():
    assert not holds("StringEquals", "aws:SourceArn", "arn:aws:x", {})
    assert not holds("ArnLike", "aws:SourceArn", "arn:aws:*", {})
    assert not holds("Bool", "aws:SecureTransport", "false", {})
    assert not holds("NumericLessThan", "s3:max-keys", "10", {})
    assert holds("StringNotEquals", "aws:SourceAccount", ACCOUNT, {})
    assert holds("ArnNotLike", "aws:SourceArn", "arn:aws:*", {})
    assert holds("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {})


def test_if_exists_is_true_when_the_key_is_missing_and_tested_when_present():
    assert holds("StringEqualsIfExists", "s3:prefix", "runs/", {})
    assert holds("StringEqualsIfExists", "s3:prefix", "runs/", {"s3:prefix": "runs/"})
    assert not holds("StringEqualsIfExists", "s3:prefix", "runs/", {"s3:prefix": "other/"})
    assert holds("BoolIfExists", "aws:SecureTransport", "true", {})
    assert not holds(
        "ArnLikeIfExists", "aws:SourceArn", "arn:aws:s3:::a", {"aws:SourceArn": "arn:aws:s3:::b"}
    )


def test_null_tests_presence():
    assert holds("Null", "aws:SourceArn", "true", {})
    assert not holds("Null", "aws:SourceArn", "true", {"aws:SourceArn": "arn:aws:s3:::b"})
    assert holds("Null", "aws:SourceArn", "false", {"aws:SourceArn": "arn:aws:s3:::b"})
    assert not holds("Null", "aws:SourceArn", "false", {})


def test_for_any_value_and_for_all_values():
    tags = {"aws:TagKeys": ["team", "cost"]}
    assert holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], tags)
    assert not holds("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], tags)
    assert holds("ForAllValues:StringEquals", "aws:TagKeys", ["team", "cost", "owner"], tags)
    assert not holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], tags)
    assert holds("ForAllValues:StringLike", "aws:TagKeys", ["*"], tags)
    # a missing (or empty) key: ForAllValues holds, ForAnyValue does not
    assert holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {})
    assert not holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], {})
    assert holds("ForAnyValue:StringNotEquals", "aws:TagKeys", ["team"], tags)
    assert not holds("ForAllValues:StringNotEquals", "aws:TagKeys", ["team"], tags)


def test_policy_variables_in_resources():
    p = policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:PrincipalAccount}/*"}
    )
    assert allowed(p, "s3:GetObject", f"arn:aws:s3:::b/{ACCOUNT}/x", {"aws:PrincipalAccount": ACCOUNT})
    assert not allowed(p, "s3:GetObject", "arn:aws:s3:::b/999/x", {"aws:PrincipalAccount": ACCOUNT})
    assert not allowed(p, "s3:GetObject", f"arn:aws:s3:::b/{ACCOUNT}/x", {})  # the variable's key is missing


def test_compiled_policy_lists_the_keys_it_reads():
    p = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "arn:aws:s3:::b/${aws:userid}/*",
            "Condition": {"StringEquals": {"CloudWatch:Namespace": "Glue"}},
        }
    )
    assert p.keys == {"cloudwatch:namespace", "aws:userid"}
    in_a_value = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"s3:prefix": "home/${aws:PrincipalTag/team}/${*}"}},
        }
    )
    assert in_a_value.keys == {"s3:prefix", "aws:principaltag/team"}


def test_policy_variables_in_condition_values():
    p = policy(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "*",
            "Condition": {"StringLike": {"s3:prefix": "home/${aws:PrincipalTag/team}/*"}},
        }
    )
    context = {"aws:PrincipalTag/team": "etl", "s3:prefix": "home/etl/x"}
    assert allowed(p, "s3:ListBucket", "arn:aws:s3:::b", context)
    assert not allowed(p, "s3:ListBucket", "arn:aws:s3:::b", {**context, "aws:PrincipalTag/team": "web"})


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        {"Version": "2012-10-17"},
        {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}]},
        {
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringSorta": {"k": "v"}}}
            ]
        },
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"ForSome:StringEquals": {"k": "v"}},
                }
            ]
        },
    ],
)
def test_bad_documents_are_refused_with_a_reason(document):
    with pytest.raises(PolicyError):
        Policy.parse(document)


def test_wildcard_match_is_literal_apart_from_star_and_question_mark():
    assert wildcard_match("a.b*", "a.bc")
    assert not wildcard_match("a.b", "axb")
    assert wildcard_match(
        "arn:aws:logs:*:*:log-group:/aws-glue/*", "arn:aws:logs:us-east-1:1:log-group:/aws-glue/jobs:*"
    )
