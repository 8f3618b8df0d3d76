"""Access-denied answers shaped as each AWS service sends them, so that the SDKs parse them into the same
error codes: botocore's ClientError ``Code`` is what the caller's code tests.

- JSON protocols: ``{"__type": ..., "message": ...}``; SQS and CloudWatch are "awsQueryCompatible" and add
  ``x-amzn-query-error: AccessDenied;Sender``, which botocore turns into the code ``AccessDenied``.
- query protocols: ``<ErrorResponse><Error><Type>Sender</Type><Code>...`` (SNS: ``AuthorizationError``).
- S3: ``<Error><Code>AccessDenied</Code>...``, 403; a HEAD answer has no body.
- Lambda (REST-JSON): 403 with ``x-amzn-ErrorType: AccessDeniedException``.
- CloudWatch over smithy RPC v2 CBOR: the JSON shape, CBOR-encoded.
"""

from __future__ import annotations

import json
import struct
import uuid
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator.iam.actions import CBOR, JSON, QUERY, REST_JSON, REST_XML

# signing name → (__type of the JSON error, HTTP status, query-compatible code or None)
_JSON_ERRORS: dict[str, tuple[str, int, str | None]] = {
    "dynamodb": ("com.amazonaws.dynamodb.v20120810#AccessDeniedException", 400, None),
    "sqs": ("com.amazon.coral.service#AccessDeniedException", 403, "AccessDenied"),
    "monitoring": ("com.amazon.coral.service#AccessDeniedException", 403, "AccessDenied"),
}
_JSON_DEFAULT = ("AccessDeniedException", 400, None)

# signing name → (query error code, HTTP status, XML namespace)
_QUERY_ERRORS: dict[str, tuple[str, int, str]] = {
    "sns": ("AuthorizationError", 403, "http://sns.amazonaws.com/doc/2010-03-31/"),
    "sts": ("AccessDenied", 403, "https://sts.amazonaws.com/doc/2011-06-15/"),
    "iam": ("AccessDenied", 403, "https://iam.amazonaws.com/doc/2010-05-08/"),
    "monitoring": ("AccessDenied", 403, "http://monitoring.amazonaws.com/doc/2010-08-01/"),
    "sqs": ("AccessDenied", 403, "http://queue.amazonaws.com/doc/2012-11-05/"),
}


def denial_message(principal: str, action: str, resource: str, reason: str) -> str:
    """AWS's wording: "User: ARN is not authorized to perform: ACTION on resource: ARN because ..."."""
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} {reason}"


def denial_response(service: str, protocol: str, message: str, method: str = "POST") -> Response:
    request_id = str(uuid.uuid4())
    if protocol == REST_XML:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        return Response(
            b"" if method == "HEAD" else body.encode(),
            status=403,
            headers={"x-amz-request-id": request_id},
            content_type="application/xml",
        )
    if protocol == REST_JSON:
        return Response(
            json.dumps({"Type": "User", "Message": message}),
            status=403,
            headers={"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": request_id},
            content_type="application/json",
        )
    if protocol == QUERY:
        code, status, namespace = _QUERY_ERRORS.get(service, ("AccessDenied", 403, ""))
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(
            body, status=status, headers={"x-amzn-RequestId": request_id}, content_type="text/xml"
        )
    error_type, status, query_code = _JSON_ERRORS.get(service, _JSON_DEFAULT)
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type.rsplit("#", 1)[-1]}
    if query_code:
        headers["x-amzn-query-error"] = f"{query_code};Sender"
    if protocol == CBOR:
        headers["smithy-protocol"] = "rpc-v2-cbor"
        body = cbor_text_map({"__type": error_type, "message": message})
        return Response(body, status=status, headers=headers, content_type="application/cbor")
    assert protocol == JSON, protocol
    content_type = (
        "application/x-amz-json-1.0"
        if service in ("dynamodb", "sqs", "states")
        else ("application/x-amz-json-1.1")
    )
    return Response(
        json.dumps({"__type": error_type, "message": message}),
        status=status,
        headers=headers,
        content_type=content_type,
    )


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", length)
    return bytes([major << 5 | 26]) + struct.pack(">I", length)


def cbor_text_map(values: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949 major types 3 and 5): all an error body holds."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            encoded = text.encode()
            out += _cbor_head(3, len(encoded)) + encoded
    return bytes(out)
