"""What a request asks IAM for: its IAM action(s), the resource ARN each is authorized on, and the
service-specific condition keys, computed from the wire as AWS computes them.

The service comes from the SigV4 credential scope (``Credential=AKID/DATE/REGION/SERVICE/aws4_request`` in
the Authorization header, or ``X-Amz-Credential`` of a presigned URL); the operation from ``X-Amz-Target``
(JSON protocols), the ``Action`` parameter (query protocols), the smithy RPC v2 path (CloudWatch's CBOR),
or the REST route (S3, Lambda). The resource ARNs follow the Service Authorization Reference:
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html

A request may need several checks (a BatchWriteItem per table it names, a CopyObject's PutObject on the
target and GetObject on the source); each is authorized on its own and all must pass.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from werkzeug.wrappers import Request

from emulator.settings import ACCOUNT_ID

JSON, QUERY, CBOR, REST_XML, REST_JSON = "json", "query", "cbor", "rest-xml", "rest-json"


class UnmappedRequest(Exception):
    """A request whose IAM action or resource this emulator cannot tell: a role session is denied it."""


@dataclass(frozen=True)
class Check:
    action: str  # "dynamodb:PutItem"
    resource: str  # the ARN (or "*") it is authorized on
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # service condition keys


@dataclass(frozen=True)
class Authorization:
    """What one request must be allowed to do."""

    service: str  # SigV4 signing name: "dynamodb", "s3", "states", "monitoring", ...
    operation: str  # the API operation, e.g. "BatchWriteItem", "GetObject"
    protocol: str
    checks: tuple[Check, ...]
    region: str
    # S3 GetObject/HeadObject of the latest version: the bucket and key, for the ListBucket rule.
    s3_object: tuple[str, str] | None = None


@dataclass(frozen=True)
class Scope:
    access_key: str
    region: str
    service: str


_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


def scope_of(
    headers: Mapping[str, str], args: Mapping[str, str], default_region: str = "us-east-1"
) -> Scope | None:
    """The credential scope a request is signed with (None: unsigned). SigV2 names no region or service:
    only S3 still takes it."""
    authorization = headers.get("Authorization")
    if authorization:
        match = _SCOPE.search(authorization)
        if match:
            return Scope(*match.groups())
        if authorization.startswith("AWS "):  # S3's SigV2: "AWS AKID:signature"
            return Scope(authorization[4:].split(":", 1)[0], default_region, "s3")
        return None
    credential = args.get("X-Amz-Credential")
    if credential:
        parts = credential.split("/")
        if len(parts) == 5:
            return Scope(parts[0], parts[2], parts[3])
    if args.get("AWSAccessKeyId"):  # S3's SigV2 query string (presigned URLs to a custom endpoint)
        return Scope(args["AWSAccessKeyId"], default_region, "s3")
    return None


def access_key_of(environ: Mapping[str, Any]) -> str | None:
    """The access key alone, from the raw WSGI environ: the operator's requests stop after this."""
    authorization = environ.get("HTTP_AUTHORIZATION")
    if authorization:
        start = authorization.find("Credential=")
        if start < 0:
            return authorization[4:].split(":", 1)[0] or None if authorization.startswith("AWS ") else None
        start += 11
        end = authorization.find("/", start)
        return authorization[start:end] if end > start else None
    query = environ.get("QUERY_STRING", "")
    if "X-Amz-Credential=" in query:
        credential = urllib.parse.parse_qs(query).get("X-Amz-Credential", [""])[0]
        return credential.split("/", 1)[0] or None
    if "AWSAccessKeyId=" in query:
        return urllib.parse.parse_qs(query).get("AWSAccessKeyId", [""])[0] or None
    return None


class Wire:
    """The parts of a request the mappers read, with its body parsed once."""

    def __init__(self, request: Request, scope: Scope):
        self.request = request
        self.scope = scope
        self.region = scope.region
        self.method = request.method
        self.path = request.path
        self.args = request.args
        self.headers = request.headers
        self._body: Any = None

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        return f"arn:aws:{service}:{self.region if region is None else region}:{account or ACCOUNT_ID}:{resource}"

    def json(self) -> dict[str, Any]:
        if self._body is None:
            raw = self.request.get_data(cache=True)
            try:
                self._body = json.loads(raw) if raw else {}
            except ValueError:
                raise UnmappedRequest("the request body is not JSON") from None
            if not isinstance(self._body, dict):
                raise UnmappedRequest("the request body is not a JSON object")
        return self._body

    def params(self) -> Mapping[str, str]:
        """Query-protocol parameters (form body or query string)."""
        return self.request.form if self.request.form else self.args

    def cbor(self) -> dict[str, Any]:
        if self._body is None:
            from botocore.parsers import RpcV2CBORParser

            raw = self.request.get_data(cache=True)
            parser = RpcV2CBORParser()
            self._body = parser.parse_data_item(parser.get_peekable_stream_from_bytes(raw)) if raw else {}
        return self._body


# --- the services ----------------------------------------------------------------------------------


def _unique(checks: list[Check]) -> tuple[Check, ...]:
    """The checks in order, each (action, resource) once."""
    seen: dict[tuple[str, str], Check] = {}
    for check in checks:
        seen.setdefault((check.action, check.resource), check)
    return tuple(seen.values())


def _one(wire: Wire, action: str, resource: str, **keys: str | None) -> tuple[Check, ...]:
    return (Check(action, resource, {k.lower(): (v,) for k, v in keys.items() if v is not None}),)


def _dynamodb(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()

    def table(name: str) -> str:
        return name if name.startswith("arn:") else wire.arn("dynamodb", f"table/{name}")

    if operation in ("BatchWriteItem", "BatchGetItem"):
        tables = body.get("RequestItems") or {}
        if not tables:
            raise UnmappedRequest(f"{operation} names no table")
        return tuple(Check(f"dynamodb:{operation}", table(name)) for name in tables)
    if operation in ("TransactWriteItems", "TransactGetItems"):
        actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        checks = []
        for item in body.get("TransactItems") or []:
            for kind, request in item.items():
                if kind in actions and isinstance(request, dict) and "TableName" in request:
                    checks.append(Check(f"dynamodb:{actions[kind]}", table(request["TableName"])))
        if not checks:
            raise UnmappedRequest(f"{operation} names no table")
        return _unique(checks)
    name = body.get("TableName")
    if isinstance(name, str):
        arn = table(name)
        if operation in ("Query", "Scan") and body.get("IndexName"):
            arn = f"{arn}/index/{body['IndexName']}"
        elif operation == "DescribeStream" or operation == "ListStreams":
            arn = f"{arn}/stream/*"
        return (Check(f"dynamodb:{operation}", arn),)
    for key in ("ResourceArn", "StreamArn", "BackupArn", "TableArn"):
        if isinstance(body.get(key), str):
            return (Check(f"dynamodb:{operation}", body[key]),)
    if operation in (
        "ListTables",
        "DescribeLimits",
        "DescribeEndpoints",
        "ListBackups",
        "ListGlobalTables",
        "ListStreams",
        "ListExports",
        "ListImports",
        "DescribeReservedCapacity",
    ):
        return (Check(f"dynamodb:{operation}", "*"),)
    raise UnmappedRequest(f"no resource known for dynamodb:{operation}")


_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(wire: Wire, operation: str, params: Mapping[str, Any]) -> tuple[Check, ...]:
    action = "sqs:" + _SQS_BATCH.get(operation, operation)
    url = params.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = urllib.parse.urlparse(url).path.strip("/").split("/")
        if len(parts) != 2:
            raise UnmappedRequest(f"QueueUrl {url!r} is not a queue URL")
        account, name = parts
        return (Check(action, wire.arn("sqs", name, account=account)),)
    if isinstance(params.get("QueueName"), str):
        owner = params.get("QueueOwnerAWSAccountId") or ACCOUNT_ID
        return (Check(action, wire.arn("sqs", params["QueueName"], account=owner)),)
    if operation == "ListQueues":
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no queue named in sqs:{operation}")


def _sns(wire: Wire, operation: str) -> tuple[Check, ...]:
    params = wire.params()
    action = f"sns:{operation}"
    for key in ("TopicArn", "TargetArn", "ResourceArn"):
        if params.get(key):
            return (Check(action, params[key]),)
    if params.get("SubscriptionArn"):
        return (Check(action, params["SubscriptionArn"].rsplit(":", 1)[0]),)
    if operation == "CreateTopic" and params.get("Name"):
        return (Check(action, wire.arn("sns", params["Name"])),)
    if operation == "Publish" and params.get("PhoneNumber"):
        return (Check(action, "*"),)
    if operation.startswith("List") or operation in ("GetSMSAttributes", "CheckIfPhoneNumberIsOptedOut"):
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no topic named in sns:{operation}")


def _sts(wire: Wire, operation: str) -> tuple[Check, ...]:
    if operation == "GetCallerIdentity":
        return ()  # needs no permission: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    params = wire.params()
    if operation in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML") and params.get(
        "RoleArn"
    ):
        return (Check(f"sts:{operation}", params["RoleArn"]),)
    return (Check(f"sts:{operation}", "*"),)


def _ssm(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()

    def parameter(name: str) -> str:
        return name if name.startswith("arn:") else wire.arn("ssm", f"parameter/{name.lstrip('/')}")

    action = f"ssm:{operation}"
    if isinstance(body.get("Name"), str):
        return (Check(action, parameter(body["Name"])),)
    if isinstance(body.get("Names"), list) and body["Names"]:
        return tuple(Check(action, parameter(n)) for n in body["Names"])
    if isinstance(body.get("Path"), str):
        return (Check(action, parameter(body["Path"])),)
    if body.get("ResourceType") == "Parameter" and isinstance(body.get("ResourceId"), str):
        return (Check(action, parameter(body["ResourceId"])),)
    if operation.startswith("Describe") or operation.startswith("List"):
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no parameter named in ssm:{operation}")


def _kms_key(wire: Wire, key_id: str) -> str:
    if key_id.startswith("arn:"):
        if ":alias/" not in key_id:
            return key_id
        key_id = key_id.split(":", 5)[5]
    if key_id.startswith("alias/"):
        from moto.kms.models import kms_backends

        backend = kms_backends[ACCOUNT_ID][wire.region]
        target = backend.get_key_id_from_alias(key_id)
        if target is None:
            return wire.arn("kms", key_id)  # AWS authorizes an unknown alias on the alias ARN
        key_id = target
    return wire.arn("kms", f"key/{key_id}")


def _kms(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()
    action = f"kms:{operation}"
    if isinstance(body.get("KeyId"), str):
        return (Check(action, _kms_key(wire, body["KeyId"])),)
    if operation in ("Decrypt", "ReEncrypt") and isinstance(body.get("CiphertextBlob"), str):
        import base64

        from moto.kms.utils import _deserialize_ciphertext_blob

        try:
            key_id = _deserialize_ciphertext_blob(base64.b64decode(body["CiphertextBlob"])).key_id
        except Exception:
            raise UnmappedRequest("the ciphertext names no key of this emulator") from None
        return (Check(action, _kms_key(wire, key_id)),)
    if isinstance(body.get("AliasName"), str):
        return (Check(action, wire.arn("kms", body["AliasName"])),)
    if operation in ("CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "CreateCustomKeyStore"):
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no key named in kms:{operation}")


def _glue(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()
    action = f"glue:{operation}"
    name = body.get("JobName")
    if name is None and operation in ("CreateJob", "GetJob", "DeleteJob", "UpdateJob"):
        name = body.get("Name") or body.get("JobName")
    if isinstance(name, str):
        return (Check(action, wire.arn("glue", f"job/{name}")),)
    if operation in ("BatchGetJobs",) and isinstance(body.get("JobNames"), list):
        return tuple(Check(action, wire.arn("glue", f"job/{n}")) for n in body["JobNames"])
    if operation in (
        "GetJobs",
        "ListJobs",
        "GetSecurityConfigurations",
        "GetSecurityConfiguration",
        "CreateSecurityConfiguration",
        "DeleteSecurityConfiguration",
    ):
        return (Check(action, "*"),)
    if isinstance(body.get("ResourceArn"), str):
        return (Check(action, body["ResourceArn"]),)
    raise UnmappedRequest(f"no job named in glue:{operation}")


def _states(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()
    action = f"states:{operation}"
    for key in (
        "stateMachineArn",
        "executionArn",
        "resourceArn",
        "activityArn",
        "mapRunArn",
        "stateMachineVersionArn",
        "stateMachineAliasArn",
    ):
        if isinstance(body.get(key), str):
            return (Check(action, body[key]),)
    if operation == "CreateStateMachine" and isinstance(body.get("name"), str):
        return (Check(action, wire.arn("states", f"stateMachine:{body['name']}")),)
    if operation in (
        "ListStateMachines",
        "ListActivities",
        "ValidateStateMachineDefinition",
        "SendTaskSuccess",
        "SendTaskFailure",
        "SendTaskHeartbeat",
        "CreateActivity",
    ):
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no state machine or execution named in states:{operation}")


_LOG_STREAM_ACTIONS = {"PutLogEvents", "CreateLogStream", "DeleteLogStream", "GetLogEvents"}


def _logs(wire: Wire, operation: str) -> tuple[Check, ...]:
    """Log-stream actions on ``log-group:G:log-stream:S``; every other log-group action on
    ``log-group:G:*``; tagging on the ARN without ``:*``
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html)."""
    body = wire.json()
    action = f"logs:{operation}"
    group = body.get("logGroupName")
    if group is None and isinstance(body.get("logGroupIdentifier"), str):
        identifier = body["logGroupIdentifier"]
        group = (
            identifier.split(":", 6)[6].removesuffix(":*") if identifier.startswith("arn:") else identifier
        )
    if isinstance(group, str):
        if operation in _LOG_STREAM_ACTIONS and isinstance(body.get("logStreamName"), str):
            return (Check(action, wire.arn("logs", f"log-group:{group}:log-stream:{body['logStreamName']}")),)
        return (Check(action, wire.arn("logs", f"log-group:{group}:*")),)
    for key in ("resourceArn", "destinationArn"):
        if isinstance(body.get(key), str):
            return (Check(action, body[key]),)
    if operation == "DescribeLogGroups":
        return (Check(action, wire.arn("logs", "log-group:*")),)
    return (Check(action, "*"),)  # log deliveries, resource policies, queries: no resource-level permissions


def _events(wire: Wire, operation: str) -> tuple[Check, ...]:
    body = wire.json()
    action = f"events:{operation}"

    def bus_arn(name: str | None) -> str:
        name = name or "default"
        return name if name.startswith("arn:") else wire.arn("events", f"event-bus/{name}")

    if operation == "PutEvents":
        buses = {bus_arn(e.get("EventBusName")) for e in body.get("Entries") or [] if isinstance(e, dict)}
        return tuple(Check(action, b) for b in sorted(buses or {bus_arn(None)}))
    rule = body.get("Rule") or (
        body.get("Name")
        if operation in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule")
        else None
    )
    if isinstance(rule, str):
        if rule.startswith("arn:"):
            return (Check(action, rule),)
        bus = body.get("EventBusName")
        path = f"rule/{rule}" if not bus or bus == "default" else f"rule/{bus.rsplit('/', 1)[-1]}/{rule}"
        return (Check(action, wire.arn("events", path)),)
    if isinstance(body.get("ResourceARN"), str):
        return (Check(action, body["ResourceARN"]),)
    if operation in ("DescribeEventBus", "CreateEventBus", "DeleteEventBus") and isinstance(
        body.get("Name"), str
    ):
        return (Check(action, bus_arn(body["Name"])),)
    if operation.startswith("List") or operation == "TestEventPattern":
        return (Check(action, "*"),)
    raise UnmappedRequest(f"no rule or bus named in events:{operation}")


def _cloudwatch(wire: Wire, operation: str, params: Mapping[str, Any]) -> tuple[Check, ...]:
    action = f"cloudwatch:{operation}"
    if operation == "PutMetricData":
        return (Check(action, "*", {"cloudwatch:namespace": (str(params.get("Namespace", "")),)}),)
    if operation in (
        "PutMetricAlarm",
        "DeleteAlarms",
        "DescribeAlarms",
        "SetAlarmState",
        "EnableAlarmActions",
        "DisableAlarmActions",
        "DescribeAlarmHistory",
    ):
        names = params.get("AlarmNames") or ([params["AlarmName"]] if params.get("AlarmName") else [])
        if names:
            return tuple(Check(action, wire.arn("cloudwatch", f"alarm:{n}")) for n in names)
    if operation in ("PutDashboard", "GetDashboard", "DeleteDashboards"):
        names = params.get("DashboardNames") or (
            [params["DashboardName"]] if params.get("DashboardName") else []
        )
        if names:
            return tuple(Check(action, wire.arn("cloudwatch", f"dashboard/{n}", region="")) for n in names)
    if isinstance(params.get("ResourceARN"), str):
        return (Check(action, params["ResourceARN"]),)
    return (Check(action, "*"),)  # metric reads and lists have no resource-level permissions


def _iam(wire: Wire, operation: str) -> tuple[Check, ...]:
    params = wire.params()
    action = f"iam:{operation}"
    for key, kind in (
        ("RoleName", "role"),
        ("UserName", "user"),
        ("GroupName", "group"),
        ("InstanceProfileName", "instance-profile"),
    ):
        if params.get(key):
            return (Check(action, f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{params[key]}"),)
    if params.get("PolicyArn"):
        return (Check(action, params["PolicyArn"]),)
    return (Check(action, "*"),)


# --- REST: Lambda --------------------------------------------------------------------------------

_LAMBDA_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), a)
    for m, p, a in [
        ("POST", r"^/2015-03-31/functions/(?P<f>[^/]+)/invocations$", "InvokeFunction"),
        ("POST", r"^/2014-11-13/functions/(?P<f>[^/]+)/invoke-async/?$", "InvokeAsync"),
        ("POST", r"^/2021-11-15/functions/(?P<f>[^/]+)/response-streaming-invocations$", "InvokeFunction"),
        ("GET", r"^/2015-03-31/functions/?$", "ListFunctions"),
        ("POST", r"^/2015-03-31/functions/?$", "CreateFunction"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/?$", "GetFunction"),
        ("DELETE", r"^/2015-03-31/functions/(?P<f>[^/]+)/?$", "DeleteFunction"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/configuration$", "GetFunctionConfiguration"),
        ("PUT", r"^/2015-03-31/functions/(?P<f>[^/]+)/configuration$", "UpdateFunctionConfiguration"),
        ("PUT", r"^/2015-03-31/functions/(?P<f>[^/]+)/code$", "UpdateFunctionCode"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/policy/?$", "GetPolicy"),
        ("POST", r"^/2015-03-31/functions/(?P<f>[^/]+)/policy/?$", "AddPermission"),
        ("DELETE", r"^/2015-03-31/functions/(?P<f>[^/]+)/policy/[^/]+$", "RemovePermission"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/versions/?$", "ListVersionsByFunction"),
        ("POST", r"^/2015-03-31/functions/(?P<f>[^/]+)/versions/?$", "PublishVersion"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/aliases/?$", "ListAliases"),
        ("POST", r"^/2015-03-31/functions/(?P<f>[^/]+)/aliases/?$", "CreateAlias"),
        ("GET", r"^/2015-03-31/functions/(?P<f>[^/]+)/aliases/(?P<q>[^/]+)$", "GetAlias"),
        ("PUT", r"^/2015-03-31/functions/(?P<f>[^/]+)/aliases/(?P<q>[^/]+)$", "UpdateAlias"),
        ("DELETE", r"^/2015-03-31/functions/(?P<f>[^/]+)/aliases/(?P<q>[^/]+)$", "DeleteAlias"),
        ("GET", r"^/2017-10-31/functions/(?P<f>[^/]+)/concurrency$", "GetFunctionConcurrency"),
        ("PUT", r"^/2017-10-31/functions/(?P<f>[^/]+)/concurrency$", "PutFunctionConcurrency"),
        ("DELETE", r"^/2017-10-31/functions/(?P<f>[^/]+)/concurrency$", "DeleteFunctionConcurrency"),
        ("GET", r"^/2019-09-25/functions/(?P<f>[^/]+)/event-invoke-config$", "GetFunctionEventInvokeConfig"),
        ("PUT", r"^/2019-09-25/functions/(?P<f>[^/]+)/event-invoke-config$", "PutFunctionEventInvokeConfig"),
        ("GET", r"^/2017-03-31/tags/(?P<arn>.+)$", "ListTags"),
        ("POST", r"^/2017-03-31/tags/(?P<arn>.+)$", "TagResource"),
        ("DELETE", r"^/2017-03-31/tags/(?P<arn>.+)$", "UntagResource"),
        ("GET", r"^/2015-03-31/event-source-mappings/?$", "ListEventSourceMappings"),
        ("POST", r"^/2015-03-31/event-source-mappings/?$", "CreateEventSourceMapping"),
        ("GET", r"^/2016-08-19/account-settings/?$", "GetAccountSettings"),
        ("GET", r"^/2018-10-31/layers/?$", "ListLayers"),
    ]
]


def function_arn(wire: Wire, name: str, qualifier: str | None) -> str:
    """A function's ARN from a FunctionName (name, ``name:qualifier``, ``ACCOUNT:function:name``, or an
    ARN) and the Qualifier parameter, as Lambda authorizes an invocation of that version or alias."""
    name = urllib.parse.unquote(name)
    if name.startswith("arn:"):
        parts = name.split(":")
        base, embedded = ":".join(parts[:7]), parts[7] if len(parts) > 7 else None
    elif ":function:" in name:
        account, _, rest = name.partition(":function:")
        function, _, embedded_q = rest.partition(":")
        base, embedded = wire.arn("lambda", f"function:{function}", account=account), embedded_q or None
    else:
        function, _, embedded_q = name.partition(":")
        base, embedded = wire.arn("lambda", f"function:{function}"), embedded_q or None
    qualifier = qualifier or embedded
    return f"{base}:{qualifier}" if qualifier else base


def _lambda(wire: Wire) -> tuple[str, tuple[Check, ...]]:
    path = urllib.parse.unquote(wire.request.environ.get("RAW_URI", "").split("?")[0]) or wire.path
    for method, pattern, operation in _LAMBDA_ROUTES:
        if method != wire.method:
            continue
        match = pattern.match(path) or pattern.match(wire.path)
        if not match:
            continue
        groups = match.groupdict()
        action = "lambda:InvokeFunction" if operation == "InvokeAsync" else f"lambda:{operation}"
        if "arn" in groups:
            return operation, (Check(action, groups["arn"]),)
        if "f" not in groups:
            return operation, (Check(action, "*"),)
        qualifier = groups.get("q") or wire.args.get("Qualifier")
        return operation, (Check(action, function_arn(wire, groups["f"], qualifier)),)
    raise UnmappedRequest(f"no Lambda operation at {wire.method} {wire.path}")


# --- REST: S3 ------------------------------------------------------------------------------------

# Bucket subresource → (GET action, PUT action, DELETE action); DELETE of most configurations is
# authorized as their Put (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html).
_BUCKET_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", "PutBucketVersioning"),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "acl": ("GetBucketAcl", "PutBucketAcl", "PutBucketAcl"),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "lifecycle": ("GetLifecycleConfiguration", "PutLifecycleConfiguration", "PutLifecycleConfiguration"),
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration", "PutEncryptionConfiguration"),
    "publicAccessBlock": (
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    "notification": ("GetBucketNotification", "PutBucketNotification", "PutBucketNotification"),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "logging": ("GetBucketLogging", "PutBucketLogging", "PutBucketLogging"),
    "ownershipControls": (
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
    "object-lock": (
        "GetBucketObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
    ),
    "replication": (
        "GetReplicationConfiguration",
        "PutReplicationConfiguration",
        "PutReplicationConfiguration",
    ),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", "PutBucketRequestPayment"),
    "accelerate": ("GetAccelerateConfiguration", "PutAccelerateConfiguration", "PutAccelerateConfiguration"),
    "policyStatus": ("GetBucketPolicyStatus", "GetBucketPolicyStatus", "GetBucketPolicyStatus"),
    "location": ("GetBucketLocation", "GetBucketLocation", "GetBucketLocation"),
    "versions": ("ListBucketVersions", "ListBucketVersions", "ListBucketVersions"),
    "uploads": ("ListBucketMultipartUploads", "ListBucketMultipartUploads", "ListBucketMultipartUploads"),
    "intelligent-tiering": (
        "GetIntelligentTieringConfiguration",
        "PutIntelligentTieringConfiguration",
        "PutIntelligentTieringConfiguration",
    ),
    "analytics": ("GetAnalyticsConfiguration", "PutAnalyticsConfiguration", "PutAnalyticsConfiguration"),
    "metrics": ("GetMetricsConfiguration", "PutMetricsConfiguration", "PutMetricsConfiguration"),
    "inventory": ("GetInventoryConfiguration", "PutInventoryConfiguration", "PutInventoryConfiguration"),
}

# Object subresource → (GET, PUT, DELETE) action, and whether a versionId makes it the "...Version" action.
_OBJECT_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "acl": ("GetObjectAcl", "PutObjectAcl", "PutObjectAcl"),
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "retention": ("GetObjectRetention", "PutObjectRetention", "PutObjectRetention"),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", "PutObjectLegalHold"),
    "attributes": ("GetObjectAttributes", "GetObjectAttributes", "GetObjectAttributes"),
}
_VERSIONED = {
    "GetObject",
    "GetObjectAcl",
    "GetObjectTagging",
    "PutObjectAcl",
    "PutObjectTagging",
    "DeleteObject",
    "DeleteObjectTagging",
    "GetObjectAttributes",
}


def _s3_location(wire: Wire) -> tuple[str | None, str | None]:
    host = (wire.headers.get("Host") or "").split(":")[0]
    raw = wire.request.environ.get("RAW_URI") or wire.request.environ.get("REQUEST_URI")
    path = urllib.parse.unquote(raw.split("?", 1)[0]) if raw else wire.path
    labels = host.split(".")
    if len(labels) > 2 and (".s3." in f".{host}." or host.endswith(".localhost")) and labels[0] != "s3":
        bucket = labels[0]
        key = path.lstrip("/")
        return bucket, key or None
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0] or None
    key = parts[1] if len(parts) > 1 and parts[1] else None
    return bucket, key


def _s3_keys(wire: Wire) -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {}
    for arg, key in (
        ("prefix", "s3:prefix"),
        ("delimiter", "s3:delimiter"),
        ("max-keys", "s3:max-keys"),
        ("versionId", "s3:versionid"),
    ):
        if arg in wire.args:
            keys[key] = (wire.args[arg],)
    for header, key in (
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "s3:x-amz-server-side-encryption-aws-kms-key-id"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
    ):
        if header in wire.headers:
            keys[key] = (wire.headers[header],)
    return keys


def _s3(wire: Wire) -> Authorization:
    bucket, key = _s3_location(wire)
    method, args = wire.method, wire.args
    keys = _s3_keys(wire)

    def done(
        operation: str, checks: tuple[Check, ...], s3_object: tuple[str, str] | None = None
    ) -> Authorization:
        return Authorization(wire.scope.service, operation, REST_XML, checks, wire.region, s3_object)

    if bucket is None:
        return done("ListBuckets", (Check("s3:ListAllMyBuckets", "*"),))
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if key is None:
        for sub, actions in _BUCKET_SUBRESOURCES.items():
            if sub in args:
                action = actions[{"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}.get(method, 1)]
                return done(action, (Check(f"s3:{action}", bucket_arn, keys),))
        if method in ("GET", "HEAD"):
            return done(
                "ListObjects" if method == "GET" else "HeadBucket",
                (Check("s3:ListBucket", bucket_arn, keys),),
            )
        if method == "PUT":
            return done("CreateBucket", (Check("s3:CreateBucket", bucket_arn, keys),))
        if method == "DELETE":
            return done("DeleteBucket", (Check("s3:DeleteBucket", bucket_arn, keys),))
        if method == "POST" and "delete" in args:
            return done("DeleteObjects", _s3_delete_objects(wire, bucket_arn))
        if method == "POST":
            return done("PostObject", (Check("s3:PutObject", f"{bucket_arn}/*", keys),))
        raise UnmappedRequest(f"no S3 bucket operation for {method} {wire.path}")

    object_arn = f"{bucket_arn}/{key}"
    version = args.get("versionId")

    def versioned(action: str) -> str:
        return f"{action}Version" if version and action in _VERSIONED else action

    for sub, actions in _OBJECT_SUBRESOURCES.items():
        if sub in args:
            action = versioned(actions[{"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}.get(method, 1)])
            return done(action, (Check(f"s3:{action}", object_arn, keys),))
    if method in ("GET", "HEAD"):
        if "uploadId" in args:
            return done("ListParts", (Check("s3:ListMultipartUploadParts", object_arn, keys),))
        operation = "GetObject" if method == "GET" else "HeadObject"
        checks = (Check(f"s3:{versioned('GetObject')}", object_arn, keys),)
        return done(operation, checks, None if version else (bucket, key))
    if method == "PUT":
        checks = [Check("s3:PutObject", object_arn, keys)]
        source = wire.headers.get("x-amz-copy-source")
        if source:
            checks.append(_s3_copy_source(source))
        operation = (
            ("UploadPartCopy" if source else "UploadPart")
            if "uploadId" in args
            else ("CopyObject" if source else "PutObject")
        )
        return done(operation, tuple(checks))
    if method == "POST":
        if "uploads" in args:
            return done("CreateMultipartUpload", (Check("s3:PutObject", object_arn, keys),))
        if "uploadId" in args:
            return done("CompleteMultipartUpload", (Check("s3:PutObject", object_arn, keys),))
        if "restore" in args:
            return done("RestoreObject", (Check("s3:RestoreObject", object_arn, keys),))
        if "select" in args:
            return done("SelectObjectContent", (Check("s3:GetObject", object_arn, keys),))
    if method == "DELETE":
        if "uploadId" in args:
            return done("AbortMultipartUpload", (Check("s3:AbortMultipartUpload", object_arn, keys),))
        action = versioned("DeleteObject")
        return done(action, (Check(f"s3:{action}", object_arn, keys),))
    raise UnmappedRequest(f"no S3 object operation for {method} {wire.path}")


def _s3_copy_source(source: str) -> Check:
    path, _, query = urllib.parse.unquote(source).lstrip("/").partition("?")
    version = urllib.parse.parse_qs(query).get("versionId")
    return Check("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{path}")


def _s3_delete_objects(wire: Wire, bucket_arn: str) -> tuple[Check, ...]:
    try:
        root = ElementTree.fromstring(wire.request.get_data(cache=True))
    except ElementTree.ParseError:
        raise UnmappedRequest("the DeleteObjects body is not XML") from None
    checks = []
    for obj in root.iter():
        if not obj.tag.endswith("Object"):
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in obj}
        if "Key" in fields:
            action = "s3:DeleteObjectVersion" if fields.get("VersionId") else "s3:DeleteObject"
            checks.append(Check(action, f"{bucket_arn}/{fields['Key']}"))
    if not checks:
        raise UnmappedRequest("DeleteObjects names no object")
    return _unique(checks)


# --- dispatch ------------------------------------------------------------------------------------

_JSON_SERVICES: dict[str, Callable[[Wire, str], tuple[Check, ...]]] = {
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "kms": _kms,
    "glue": _glue,
    "states": _states,
    "logs": _logs,
    "events": _events,
}
_QUERY_SERVICES: dict[str, Callable[[Wire, str], tuple[Check, ...]]] = {"sns": _sns, "sts": _sts, "iam": _iam}
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([^/]+)$")


def authorization_of(request: Request, scope: Scope) -> Authorization:
    """Everything IAM must allow for ``request``; UnmappedRequest when the emulator cannot tell."""
    wire = Wire(request, scope)
    service = scope.service

    def done(operation: str, protocol: str, checks: tuple[Check, ...]) -> Authorization:
        return Authorization(service, operation, protocol, checks, wire.region)

    if service == "s3":
        return _s3(wire)
    if service == "lambda":
        operation, checks = _lambda(wire)
        return done(operation, REST_JSON, checks)
    target = request.headers.get("X-Amz-Target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        if service in _JSON_SERVICES:
            return done(operation, JSON, _JSON_SERVICES[service](wire, operation))
        if service == "sqs":
            return done(operation, JSON, _sqs(wire, operation, wire.json()))
        if service == "monitoring":
            return done(operation, JSON, _cloudwatch(wire, operation, wire.json()))
        raise UnmappedRequest(f"no IAM mapping for the {service} service ({target})")
    cbor = _CBOR_PATH.match(request.path)
    if cbor and service == "monitoring":
        operation = cbor.group(1)
        return done(operation, CBOR, _cloudwatch(wire, operation, wire.cbor()))
    params = wire.params()
    operation = params.get("Action")
    if not operation:
        raise UnmappedRequest(f"no operation found in a {service} request to {request.path}")
    if service in _QUERY_SERVICES:
        return done(operation, QUERY, _QUERY_SERVICES[service](wire, operation))
    if service == "sqs":
        return done(operation, QUERY, _sqs(wire, operation, params))
    if service == "monitoring":
        return done(operation, QUERY, _cloudwatch(wire, operation, _query_members(params)))
    raise UnmappedRequest(f"no IAM mapping for the {service} service (Action={operation})")


def _query_members(params: Mapping[str, str]) -> dict[str, Any]:
    """Query parameters with ``X.member.N`` lists folded into ``X: [...]``."""
    folded: dict[str, Any] = dict(params)
    for name, value in params.items():
        head, sep, _ = name.partition(".member.")
        if sep:
            folded.setdefault(head, []).append(value)
    return folded
