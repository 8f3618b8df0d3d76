"""IAM enforcement: every request signed with a role session's credentials is authorized before moto sees it.

- The operator (any access key the emulator's STS did not issue: Terraform, the CLI, tests) is not
  evaluated at all: one dict lookup of the access key, then the request goes on.
- A role session's request is mapped to its checks (``emulator.iam.actions``) and each is evaluated
  (``emulator.iam.policy``) against the role's inline and attached managed policies, read from moto's IAM
  backend, and, for S3, the bucket policy. Compiled policies are kept per role and recompiled when the
  role's policies change; decisions are kept per (policies, action, resource, the context values those
  policies read).
- A denial answers with the service's own AccessDenied shape (``emulator.iam.errors``), is logged, and is
  listed in the status (``iam.denials``, newest last).
- S3 GetObject/HeadObject of a key that does not exist: 403 AccessDenied unless the caller also has
  s3:ListBucket on the bucket (then moto's 404 NoSuchKey), as S3 documents.

Signatures are not verified (moto does not either): the access key names the session.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from emulator.app import ControlError, EmulatorApp, control_body, control_json
from emulator.iam import credentials
from emulator.iam.actions import (
    Authorization,
    Check,
    UnmappedRequest,
    access_key_of,
    authorization_of,
    scope_of,
)
from emulator.iam.errors import denial_message, denial_response
from emulator.iam.policy import Caller, Decision, Policy, PolicyError, evaluate
from emulator.settings import ACCOUNT_ID

log = logging.getLogger("emulator.iam")

MAX_DENIALS = 200
MAX_DECISIONS = 100_000
TIME_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})


@dataclass(frozen=True, eq=False)
class RolePolicies:
    """A role's identity-based policies, compiled; compared by identity in the decision cache."""

    role_arn: str
    role_id: str
    tags: tuple[tuple[str, str], ...]
    policies: tuple[Policy, ...]
    keys: frozenset[str]
    errors: tuple[str, ...] = ()

    @functools.cached_property
    def sorted_keys(self) -> tuple[str, ...]:
        """The condition keys the role's policies read, in the order decision-cache keys list them."""
        return tuple(sorted(self.keys))


def _managed_document(policy: Any) -> str:
    for version in policy.versions:
        if version.version_id == policy.default_version_id:
            return version.document
    return policy.versions[0].document if policy.versions else "{}"


def _compile(name: str, document: Any, errors: list[str]) -> Policy | None:
    try:
        return Policy.parse(document, name=name)
    except PolicyError as exc:
        # AWS refuses such a document at PutRolePolicy; moto stores it. It grants nothing here.
        errors.append(str(exc))
        return None


class RoleCache:
    """Compiled identity-based policies per role ARN, recompiled when moto's role or its policies change."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, tuple[Any, ...], RolePolicies]] = {}
        self._lock = threading.Lock()

    _iam: Any = None

    @classmethod
    def _backend(cls) -> Any:
        # moto's reset() re-initialises a backend in place, so the object itself can be kept.
        if cls._iam is None:
            from moto.iam.models import iam_backends

            cls._iam = iam_backends[ACCOUNT_ID]["aws"]
        return cls._iam

    def get(self, role_arn: str) -> RolePolicies | None:
        """The role's compiled policies; None when no such role exists (any more)."""
        backend = self._backend()
        entry = self._entries.get(role_arn)
        role = entry[0] if entry is not None and backend.roles.get(entry[0].id) is entry[0] else None
        if role is None:
            role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
            if role is None:
                return None
        fingerprint = (
            tuple(role.policies.items()),
            tuple((arn, id(p), p.default_version_id) for arn, p in role.managed_policies.items()),
            tuple((t.get("Key"), t.get("Value")) for t in role.tags or () if isinstance(t, dict)),
        )
        if entry is not None and entry[0] is role and entry[1] == fingerprint:
            return entry[2]
        errors: list[str] = []
        compiled = [_compile(f"{role.name}/{name}", doc, errors) for name, doc in role.policies.items()]
        compiled += [_compile(p.name, _managed_document(p), errors) for p in role.managed_policies.values()]
        policies = tuple(p for p in compiled if p is not None)
        for error in errors:
            log.warning("role %s: a policy that cannot be read grants nothing: %s", role_arn, error)
        result = RolePolicies(
            role_arn=role_arn,
            role_id=role.id,
            tags=fingerprint[2],
            policies=policies,
            keys=frozenset().union(*(p.keys for p in policies)),
            errors=tuple(errors),
        )
        with self._lock:
            self._entries[role_arn] = (role, fingerprint, result)
        return result


class BucketPolicies:
    """Compiled S3 bucket policies, recompiled when a bucket's policy changes."""

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[Any, Policy | None]] = {}

    def get(self, bucket_name: str) -> Policy | None:
        from moto.s3.models import s3_backends

        bucket = s3_backends[ACCOUNT_ID]["aws"].buckets.get(bucket_name)
        raw = getattr(bucket, "policy", None) if bucket is not None else None
        if not raw:
            return None
        cached = self._compiled.get(bucket_name)
        if cached is not None and cached[0] is raw:
            return cached[1]
        try:
            policy: Policy | None = Policy.parse(
                raw.decode() if isinstance(raw, bytes) else raw, name=f"{bucket_name} bucket policy"
            )
        except PolicyError as exc:
            log.warning("bucket policy of %s not evaluated: %s", bucket_name, exc)
            policy = None
        self._compiled[bucket_name] = (raw, policy)
        return policy


def _bucket_of(resource: str) -> str | None:
    if not resource.startswith("arn:aws:s3:::"):
        return None
    return resource[len("arn:aws:s3:::") :].split("/", 1)[0] or None


class IamEnforcement:
    """The decision for one request; shared by the guard and the tests that drive it directly."""

    def __init__(self, secure_transport_known: bool) -> None:
        self.roles = RoleCache()
        self.buckets = BucketPolicies()
        self._decisions: dict[tuple[Any, ...], Decision] = {}
        self._lock = threading.Lock()
        self.denials: deque[dict[str, Any]] = deque(maxlen=MAX_DENIALS)
        # Role-session requests evaluated (allowed or denied): shows that enforcement sees the traffic.
        self.evaluated = 0
        # False while the server speaks plain HTTP only: then no request could come over TLS, and every
        # request counts as secure transport (a TLS-only bucket policy would otherwise deny everything).
        self.secure_transport_known = secure_transport_known

    def context(
        self,
        request: Request,
        identity: credentials.RoleCredentials,
        role: RolePolicies | None,
        region: str,
        wants_time: bool = True,
    ) -> dict[str, tuple[str, ...]]:
        secure = request.scheme == "https" or not self.secure_transport_known
        session = identity.assumed_role_arn.rsplit("/", 1)[-1]
        context = {
            "aws:securetransport": ("true" if secure else "false",),
            "aws:principalarn": (identity.role_arn,),
            "aws:principalaccount": (ACCOUNT_ID,),
            "aws:principaltype": ("AssumedRole",),
            "aws:requestedregion": (region,),
            "aws:sourceip": (request.remote_addr or "127.0.0.1",),
            "aws:resourceaccount": (ACCOUNT_ID,),
            "aws:viaawsservice": ("false",),
        }
        if wants_time:  # the clock only when a policy reads it: it would defeat the decision cache
            now = time.time()
            context["aws:currenttime"] = (datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),)
            context["aws:epochtime"] = (str(int(now)),)
        if role is not None:
            context["aws:userid"] = (f"{role.role_id}:{session}",)
            for key, value in role.tags:
                if key is not None:
                    context[f"aws:principaltag/{key.lower()}"] = (str(value),)
        return context

    def decide(
        self,
        check: Check,
        role: RolePolicies | None,
        caller: Caller,
        context: dict[str, tuple[str, ...]],
        resource_policy: Policy | None,
    ) -> Decision:
        full = {**context, **check.keys} if check.keys else context
        policies = role.policies if role is not None else ()
        if resource_policy is None:
            keys = role.sorted_keys if role is not None else ()
        else:
            keys = tuple(sorted((role.keys if role is not None else frozenset()) | resource_policy.keys))
        cache_key = (
            role,
            resource_policy,
            caller.grants,
            check.action,
            check.resource,
            tuple(full.get(k) for k in keys),
        )
        decision = self._decisions.get(cache_key)
        if decision is None:
            decision = evaluate(check.action, check.resource, full, policies, resource_policy, caller)
            with self._lock:
                if len(self._decisions) >= MAX_DECISIONS:
                    self._decisions.clear()
                self._decisions[cache_key] = decision
        return decision

    def authorize(self, request: Request, identity: credentials.RoleCredentials) -> Response | None:
        """None when the request may go on; otherwise the service's AccessDenied answer."""
        with self._lock:
            self.evaluated += 1
        scope = scope_of(request.headers, request.args)
        if scope is None:  # the session's key, but no scope to tell the service by: never let it through
            return self._unmapped(request, identity, "unknown", "its credential scope cannot be read")
        try:
            authorization = authorization_of(request, scope)
        except UnmappedRequest as exc:
            return self._unmapped(request, identity, scope.service, str(exc))
        role = self.roles.get(identity.role_arn)
        caller = Caller(
            frozenset({("AWS", identity.assumed_role_arn), ("AWS", identity.role_arn)}), account=ACCOUNT_ID
        )
        resource_policies = [
            self.buckets.get(bucket) if bucket else None
            for bucket in (
                _bucket_of(check.resource) if authorization.service == "s3" else None
                for check in authorization.checks
            )
        ]
        read = [role.keys if role else frozenset()] + [p.keys for p in resource_policies if p is not None]
        wants_time = any(key in TIME_KEYS for keys in read for key in keys)
        context = self.context(request, identity, role, authorization.region, wants_time)
        for check, resource_policy in zip(authorization.checks, resource_policies, strict=True):
            decision = self.decide(check, role, caller, context, resource_policy)
            if not decision.allowed:
                reason = decision.reason(check.action)
                if role is None:
                    reason = f"{reason} (the role {identity.role_arn} does not exist)"
                return self._deny(request, identity, authorization, check.action, check.resource, reason)
        if authorization.s3_object is not None:
            return self._missing_object(request, identity, authorization, role, caller, context)
        return None

    def _missing_object(
        self,
        request: Request,
        identity: credentials.RoleCredentials,
        authorization: Authorization,
        role: RolePolicies | None,
        caller: Caller,
        context: dict[str, tuple[str, ...]],
    ) -> Response | None:
        """S3 answers 404 for a missing key only to a caller who may list the bucket; 403 to the others."""
        from moto.s3.models import s3_backends

        bucket_name, key = authorization.s3_object  # type: ignore[misc]
        backend = s3_backends[ACCOUNT_ID]["aws"]
        if bucket_name not in backend.buckets or backend.get_object(bucket_name, key) is not None:
            return None
        bucket_arn = f"arn:aws:s3:::{bucket_name}"
        listing = Check("s3:ListBucket", bucket_arn)
        decision = self.decide(listing, role, caller, context, self.buckets.get(bucket_name))
        if decision.allowed:
            return None
        action = authorization.checks[0].action
        reason = f"because no identity-based policy allows the {action} action"
        return self._deny(
            request,
            identity,
            authorization,
            action,
            authorization.checks[0].resource,
            reason,
            note="the key does not exist and the caller may not s3:ListBucket",
        )

    def _unmapped(
        self, request: Request, identity: credentials.RoleCredentials, service: str, why: str
    ) -> Response:
        from emulator.iam.actions import CBOR, JSON, QUERY, REST_JSON, REST_XML

        if service == "s3":
            protocol = REST_XML
        elif service == "lambda":
            protocol = REST_JSON
        elif request.headers.get("X-Amz-Target"):
            protocol = JSON
        elif request.path.startswith("/service/"):
            protocol = CBOR
        else:
            protocol = QUERY
        authorization = Authorization(service, "unknown", protocol, (), "")
        reason = f"because the emulator cannot authorize this request: {why}"
        return self._deny(request, identity, authorization, f"{service}:unknown", "*", reason)

    def _deny(
        self,
        request: Request,
        identity: credentials.RoleCredentials,
        authorization: Authorization,
        action: str,
        resource: str,
        reason: str,
        note: str | None = None,
    ) -> Response:
        message = denial_message(identity.assumed_role_arn, action, resource, reason)
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "principal": identity.assumed_role_arn,
            "role": identity.role_arn,
            "action": action,
            "resource": resource,
            "reason": reason if note is None else f"{reason} ({note})",
            "operation": f"{authorization.service}:{authorization.operation}",
        }
        with self._lock:
            self.denials.append(record)
        log.warning(
            "IAM denied %s %s on %s: %s", identity.assumed_role_arn, action, resource, record["reason"]
        )
        return denial_response(authorization.service, authorization.protocol, message, request.method)


class IamExtension:
    name = "iam"

    def __init__(self) -> None:
        self.enabled = True
        self.engine: IamEnforcement | None = None

    def install(self, app: EmulatorApp) -> None:
        from moto import settings as moto_settings

        settings = app.settings
        self.enabled = settings.iam_enforcement
        # moto's own IAM checks stay off: the emulator decides, once, here.
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        _without_moto_bucket_policies()
        self.engine = IamEnforcement(secure_transport_known=settings.ca_bundle is not None)
        app.guards.append(self.guard)
        app.route("GET", "iam", lambda _r: control_json(self.state()))
        app.route("POST", "iam", self._switch)
        app.route("DELETE", "iam/denials", self._clear)
        app.route("POST", "iam/credentials", self._credentials)
        app.status_providers.append(lambda: {"iam": self.state()})

    def guard(self, request: Request) -> Response | None:
        if not self.enabled:
            return None
        key = access_key_of(request.environ)
        if key is None:
            return None
        identity = credentials.identity_of(key)
        if identity is None:
            return None
        assert self.engine is not None
        return self.engine.authorize(request, identity)

    def state(self) -> dict[str, Any]:
        engine = self.engine
        denials = list(engine.denials) if engine else []
        return {
            "enforcement": self.enabled,
            "evaluated": engine.evaluated if engine else 0,
            "denials": denials,
        }

    def _switch(self, request: Request) -> Response:
        payload = control_body(request)
        enforcement = payload.get("enforcement")
        if not isinstance(enforcement, bool) or set(payload) - {"enforcement"}:
            raise ControlError('expected {"enforcement": true|false}')
        self.enabled = enforcement
        log.info("IAM enforcement %s", "on" if enforcement else "off")
        return control_json(self.state())

    def _clear(self, _request: Request) -> Response:
        assert self.engine is not None
        self.engine.denials.clear()
        return control_json(self.state())

    def _credentials(self, request: Request) -> Response:
        payload = control_body(request)
        role_arn, service = payload.get("role_arn"), payload.get("service")
        if not isinstance(role_arn, str) or not role_arn.startswith("arn:"):
            raise ControlError("role_arn must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        if not isinstance(service, str) or not service.endswith(".amazonaws.com"):
            raise ControlError("service must be a service principal, e.g. lambda.amazonaws.com")
        session = payload.get("session_name") or f"{service.split('.', 1)[0]}-{int(time.time() * 1000)}"
        try:
            issued = credentials.issue_role_credentials(
                role_arn,
                str(session),
                str(payload.get("region") or "us-east-1"),
                service=service,
                source_arn=payload.get("source_arn"),
                source_account=payload.get("source_account"),
            )
        except credentials.RoleNotAssumable as exc:
            raise ControlError(str(exc), status=403) from None
        return control_json(
            {
                "AccessKeyId": issued.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": issued.expiration.isoformat(),
                "AssumedRoleArn": issued.assumed_role_arn,
                "RoleArn": issued.role_arn,
            }
        )


def _without_moto_bucket_policies() -> None:
    """moto evaluates bucket policies on object requests itself, for every caller and ignoring Principal
    (a Deny naming one role denies the operator too). Bucket policies are evaluated here instead, for role
    sessions only; moto's check answers "no opinion". The TLS-only policy patch of terraform_compat, which
    made moto's check livable, is claimed so that it does not replace this one."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    from emulator.terraform_compat import patches

    patches._once(FakeBucket, "get_permission")

    def get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
