"""IAM policy evaluation as AWS documents it, as a pure function of policies and a request context.

- Policy evaluation logic (single account): an explicit Deny in any policy wins; otherwise the request is
  allowed when an identity-based policy *or* the resource-based policy allows it; otherwise it is implicitly
  denied. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
- Action/NotAction match case-insensitively, Resource/NotResource case-sensitively, both with ``*`` and ``?``.
- Principal/NotPrincipal decide whether a resource-based or trust policy statement applies to the caller.
- Condition: operators AND-ed, keys of one operator AND-ed, values of one key OR-ed (NOR for negated
  operators); a key missing from the request context makes a condition false, except for negated operators
  (true), ``...IfExists`` (true), ``Null`` and the ``ForAllValues:`` qualifier (true).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

Policies are compiled once (``Policy.parse``) and evaluated many times; nothing here touches moto.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A request context: lower-cased condition key → its values (a single-valued key holds one).
Context = Mapping[str, tuple[str, ...]]

ALLOW, DENY = "Allow", "Deny"
IDENTITY, RESOURCE = "identity-based policy", "resource-based policy"


class PolicyError(ValueError):
    """A policy document this evaluator cannot read (AWS rejects it as MalformedPolicyDocument)."""


# --- wildcards -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` any run of characters (``/`` and ``:`` included), ``?`` any one character, all else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def substitute(pattern: str, context: Context) -> str | None:
    """Policy variables (``${aws:username}``, ``${*}``...) replaced from the context; None when one names a
    key the context lacks (AWS: the element then does not match)."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in ("*", "?", "$"):
            return name
        key, _, default = name.partition(",")
        values = context.get(key.strip().lower())
        if values:
            return values[0]
        if default:
            return default.strip().strip("'")
        missing = True
        return ""

    result = _VARIABLE.sub(value, pattern)
    return None if missing else result


# --- conditions ------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse_date(text: str) -> datetime | None:
    """ISO 8601 (``2026-12-01``, ``2026-12-01T06:00:00Z``) or epoch seconds, as IAM's Date operators take."""
    text = str(text).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ip(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _arn_like(value: str, pattern: str) -> bool:
    """ArnEquals/ArnLike: the six colon-separated parts compared one by one, each with wildcards."""
    got, want = value.split(":", 5), pattern.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(wildcard_match(w, g) for w, g in zip(want, got, strict=True))


def _compare(test: Callable[[float, float], bool], parse: Callable[[str], Any]) -> Callable[[str, str], bool]:
    def match(value: str, policy_value: str) -> bool:
        a, b = parse(value), parse(policy_value)
        return a is not None and b is not None and test(a, b)

    return match


# Each operator: (positive match of one request value against one policy value, negated).
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {}


def _register(names: Iterable[str], match: Callable[[str, str], bool], negated: bool = False) -> None:
    for name in names:
        _OPERATORS[name.lower()] = (match, negated)


_register(["StringEquals"], lambda v, p: v == p)
_register(["StringNotEquals"], lambda v, p: v == p, negated=True)
_register(["StringEqualsIgnoreCase"], lambda v, p: v.lower() == p.lower())
_register(["StringNotEqualsIgnoreCase"], lambda v, p: v.lower() == p.lower(), negated=True)
_register(["StringLike"], lambda v, p: wildcard_match(p, v))
_register(["StringNotLike"], lambda v, p: wildcard_match(p, v), negated=True)
_register(["NumericEquals"], _compare(lambda a, b: a == b, _number))
_register(["NumericNotEquals"], _compare(lambda a, b: a == b, _number), negated=True)
_register(["NumericLessThan"], _compare(lambda a, b: a < b, _number))
_register(["NumericLessThanEquals"], _compare(lambda a, b: a <= b, _number))
_register(["NumericGreaterThan"], _compare(lambda a, b: a > b, _number))
_register(["NumericGreaterThanEquals"], _compare(lambda a, b: a >= b, _number))
_register(["DateEquals"], _compare(lambda a, b: a == b, parse_date))
_register(["DateNotEquals"], _compare(lambda a, b: a == b, parse_date), negated=True)
_register(["DateLessThan"], _compare(lambda a, b: a < b, parse_date))
_register(["DateLessThanEquals"], _compare(lambda a, b: a <= b, parse_date))
_register(["DateGreaterThan"], _compare(lambda a, b: a > b, parse_date))
_register(["DateGreaterThanEquals"], _compare(lambda a, b: a >= b, parse_date))
_register(["Bool"], lambda v, p: v.lower() == p.lower())
_register(["BinaryEquals"], lambda v, p: v == p)
_register(["IpAddress"], _ip)
_register(["NotIpAddress"], _ip, negated=True)
_register(["ArnEquals", "ArnLike"], _arn_like)
_register(["ArnNotEquals", "ArnNotLike"], _arn_like, negated=True)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Condition:
    """One condition key under one operator: ``{"StringEquals": {"aws:SourceAccount": ["1", "2"]}}``."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased
    values: tuple[str, ...]
    qualifier: str | None  # "forallvalues" | "foranyvalue" | None
    if_exists: bool
    match: Callable[[str, str], bool] | None  # None: Null
    negated: bool

    @classmethod
    def parse(cls, operator: str, key: str, values: Any) -> Condition:
        name = operator
        qualifier = None
        prefix, sep, rest = name.partition(":")
        if sep:
            if prefix.lower() not in ("forallvalues", "foranyvalue"):
                raise PolicyError(f"unknown condition set operator {prefix!r} in {operator!r}")
            qualifier, name = prefix.lower(), rest
        if_exists = name.lower().endswith("ifexists") and name.lower() != "ifexists"
        base = name[: -len("IfExists")] if if_exists else name
        values_list = values if isinstance(values, list) else [values]
        strings = tuple(_string(v) for v in values_list)
        if base.lower() == "null":
            if if_exists:
                raise PolicyError("the Null condition operator takes no IfExists suffix")
            return cls(operator, key.lower(), strings, qualifier, False, None, False)
        if base.lower() not in _OPERATORS:
            raise PolicyError(f"unknown condition operator {operator!r}")
        match, negated = _OPERATORS[base.lower()]
        return cls(operator, key.lower(), strings, qualifier, if_exists, match, negated)

    def holds(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.match is None:  # Null: "true" means the key must be absent
            want_absent = any(v.lower() == "true" for v in self.values)
            return (not present) == want_absent
        if not present:
            if self.if_exists or self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            return self.negated
        policy_values = [substitute(v, context) if "${" in v else v for v in self.values]
        wanted = [v for v in policy_values if v is not None]

        def matches(value: str) -> bool:
            return any(self.match(value, p) for p in wanted)  # type: ignore[misc]

        if self.qualifier == "forallvalues":
            return all(matches(v) != self.negated for v in present)
        if self.qualifier == "foranyvalue":
            return any(matches(v) != self.negated for v in present)
        hit = any(matches(v) for v in present)
        return not hit if self.negated else hit

    @property
    def is_time(self) -> bool:
        return self.key in ("aws:currenttime", "aws:epochtime")


# --- principals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who makes a request, as a Principal element names it.

    ``grants``: principal names that a statement's Principal may use to grant the caller access (the role
    session's ARN, its role's ARN, a service principal); ``account``: the account, whose ID or root ARN in a
    Principal covers the caller in a Deny (an Allow to the account only delegates to the account's own
    identity-based policies)."""

    grants: frozenset[tuple[str, str]]
    account: str | None = None

    @property
    def _account_names(self) -> tuple[str, ...]:
        return () if self.account is None else (self.account, f"arn:aws:iam::{self.account}:root")

    def named_by(self, principals: Mapping[str, tuple[str, ...]] | None, effect: str) -> bool:
        if principals is None:  # "Principal": "*"
            return True
        for kind, names in principals.items():
            for name in names:
                if name == "*" and kind == "AWS":
                    return True
                if (kind, name) in self.grants:
                    return True
                if effect == DENY and kind == "AWS" and name in self._account_names:
                    return True
        return False


def _principals(element: Any) -> dict[str, tuple[str, ...]] | None:
    if element == "*":
        return None
    if not isinstance(element, dict):
        raise PolicyError(f'Principal must be "*" or an object, got {element!r}')
    return {kind: tuple(v if isinstance(v, list) else [v]) for kind, v in element.items()}


# --- statements and policies -----------------------------------------------------------------------


def _strings(element: Any, name: str) -> tuple[str, ...]:
    values = element if isinstance(element, list) else [element]
    if not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{name} must be a string or a list of strings, got {element!r}")
    return tuple(values)


@dataclass(frozen=True)
class Statement:
    effect: str
    sid: str | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principals: Mapping[str, tuple[str, ...]] | None = None
    not_principals: Mapping[str, tuple[str, ...]] | None = None
    has_principal: bool = False
    conditions: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> Statement:
        if not isinstance(raw, dict):
            raise PolicyError(f"a Statement must be an object, got {raw!r}")
        effect = raw.get("Effect")
        if effect not in (ALLOW, DENY):
            raise PolicyError(f"Effect must be Allow or Deny, got {effect!r}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyError("a Statement needs exactly one of Action and NotAction")
        if "Resource" in raw and "NotResource" in raw:
            raise PolicyError("a Statement takes Resource or NotResource, not both")
        conditions: list[Condition] = []
        for operator, keys in (raw.get("Condition") or {}).items():
            if not isinstance(keys, dict):
                raise PolicyError(f"Condition {operator} must map keys to values, got {keys!r}")
            conditions.extend(Condition.parse(operator, key, values) for key, values in keys.items())
        has_principal = "Principal" in raw or "NotPrincipal" in raw
        return cls(
            effect=effect,
            sid=raw.get("Sid"),
            actions=_strings(raw["Action"], "Action") if "Action" in raw else None,
            not_actions=_strings(raw["NotAction"], "NotAction") if "NotAction" in raw else None,
            resources=_strings(raw["Resource"], "Resource") if "Resource" in raw else None,
            not_resources=_strings(raw["NotResource"], "NotResource") if "NotResource" in raw else None,
            principals=_principals(raw["Principal"]) if "Principal" in raw else None,
            not_principals=_principals(raw["NotPrincipal"]) if "NotPrincipal" in raw else None,
            has_principal=has_principal,
            conditions=tuple(conditions),
        )

    def _action_matches(self, action: str) -> bool:
        if self.actions is not None:
            return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)
        return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions or ())

    def _resource_matches(self, resource: str, context: Context) -> bool:
        def hit(patterns: tuple[str, ...]) -> bool:
            for pattern in patterns:
                if "${" in pattern:
                    substituted = substitute(pattern, context)
                    if substituted is None:
                        continue
                    pattern = substituted
                if wildcard_match(pattern, resource):
                    return True
            return False

        if self.resources is not None:
            return hit(self.resources)
        if self.not_resources is not None:
            return not hit(self.not_resources)
        return True  # trust policies name no resource

    def _principal_matches(self, caller: Caller | None) -> bool:
        if not self.has_principal:
            return True  # identity-based: the policy's holder is the principal
        if caller is None:
            return False
        if self.not_principals is not None:
            return not caller.named_by(self.not_principals, self.effect)
        return caller.named_by(self.principals, self.effect)

    def applies(self, action: str, resource: str, context: Context, caller: Caller | None = None) -> bool:
        return (
            self._action_matches(action)
            and self._resource_matches(resource, context)
            and self._principal_matches(caller)
            and all(condition.holds(context) for condition in self.conditions)
        )


@dataclass(frozen=True, eq=False)
class Policy:
    """A compiled policy document; compared (and hashed, in decision caches) by identity."""

    name: str
    statements: tuple[Statement, ...]
    # Condition keys its statements read: a cached decision depends on the context only through these.
    keys: frozenset[str] = field(default=frozenset())

    @classmethod
    def parse(cls, document: str | Mapping[str, Any], name: str = "policy") -> Policy:
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as exc:
                raise PolicyError(f"policy {name} is not JSON: {exc}") from None
        if not isinstance(document, Mapping) or "Statement" not in document:
            raise PolicyError(f"policy {name} has no Statement")
        raw = document["Statement"]
        statements = tuple(Statement.parse(s) for s in (raw if isinstance(raw, list) else [raw]))
        with_variables = [
            text
            for s in statements
            for text in (
                *(s.resources or s.not_resources or ()),
                *(v for c in s.conditions for v in c.values),
            )
        ]
        keys = frozenset(
            [c.key for s in statements for c in s.conditions]
            + [
                m.group(1).split(",")[0].strip().lower()
                for text in with_variables
                for m in _VARIABLE.finditer(text)
                if m.group(1) not in ("*", "?", "$")
            ]
        )
        return cls(name=name, statements=statements, keys=keys)

    def matching(
        self, effect: str, action: str, resource: str, context: Context, caller: Caller | None
    ) -> bool:
        return any(
            s.effect == effect and s.applies(action, resource, context, caller) for s in self.statements
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool = False
    # Where the deciding statement is: IDENTITY or RESOURCE (explicit deny), or None (implicit deny/allow).
    source: str | None = None

    def reason(self, action: str) -> str:
        """The end of AWS's AccessDenied message: "... because <reason>"."""
        if self.allowed:
            return "allowed"
        if self.explicit_deny:
            return f"with an explicit deny in {'an' if self.source == IDENTITY else 'a'} {self.source}"
        return f"because no identity-based policy allows the {action} action"


def evaluate(
    action: str,
    resource: str,
    context: Context,
    identity_policies: Sequence[Policy],
    resource_policy: Policy | None = None,
    caller: Caller | None = None,
) -> Decision:
    """The single-account decision for one action on one resource."""
    for policy in identity_policies:
        if policy.matching(DENY, action, resource, context, None):
            return Decision(False, explicit_deny=True, source=IDENTITY)
    if resource_policy is not None and resource_policy.matching(DENY, action, resource, context, caller):
        return Decision(False, explicit_deny=True, source=RESOURCE)
    for policy in identity_policies:
        if policy.matching(ALLOW, action, resource, context, None):
            return Decision(True, source=IDENTITY)
    if resource_policy is not None and resource_policy.matching(ALLOW, action, resource, context, caller):
        return Decision(True, source=RESOURCE)
    return Decision(False)


def trust_allows(
    trust_policy: Policy, caller: Caller, context: Context, action: str = "sts:AssumeRole"
) -> bool:
    """Whether a role's trust policy lets ``caller`` assume it: an Allow naming the caller, no Deny."""
    if trust_policy.matching(DENY, action, "", context, caller):
        return False
    return trust_policy.matching(ALLOW, action, "", context, caller)


def context_of(values: Mapping[str, str | Sequence[str] | None]) -> dict[str, tuple[str, ...]]:
    """A request context from key → value(s); None values are left out (the key is absent)."""
    context: dict[str, tuple[str, ...]] = {}
    for key, value in values.items():
        if value is None:
            continue
        context[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
    return context
