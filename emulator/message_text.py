"""The characters SQS, SNS and DynamoDB refuse in what they are sent, refused here too (moto stored them,
or failed with a 500 that the SDKs retry).

- SQS SendMessage and SendMessageBatch: a message body may hold only the XML 1.0 characters
  ``#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF``; any other (a C0 control such as
  NUL or U+001F, U+FFFE, U+FFFF, a surrogate) makes SQS answer ``InvalidMessageContents``. For a batch,
  the whole request is refused and no entry is sent. Both wire protocols are checked (boto3 speaks JSON,
  where such characters travel as ``\\u`` escapes; the query protocol sends them percent-encoded).
- SNS Publish: the message must be UTF-8 text (a request whose percent-encoded bytes are not UTF-8 is
  refused with ``InvalidParameter``; moto's form parser would quietly put U+FFFD in their place), and a
  subject has no line breaks or control characters and fewer than 100 characters.

- DynamoDB: a string is UTF-8 text, which has no form for an unpaired surrogate. A request that holds one
  (as a JSON ``\udc80`` escape, which is how boto3 sends it) is refused with ``ValidationException``;
  moto failed on it with an HTTP 500. Only requests with a surrogate escape in their bytes are parsed
  again, so the DynamoDB hot path pays a byte search.

boto3 sends an unpaired surrogate to SQS and DynamoDB as a JSON escape, but cannot send one to SNS at all:
the query protocol's form is encoded as UTF-8, which raises UnicodeEncodeError before anything is sent.

The character set is written out here rather than imported from the pipeline: the emulator stands for
AWS, and must not agree with the code under test by sharing its definition.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from emulator.app import EmulatorApp, operation_of

# Outside XML 1.0's Char production (https://www.w3.org/TR/xml/#charsets), surrogates included.
OUTSIDE_XML_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
ALLOWED_SET = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
MAX_SUBJECT_CHARS = 99  # "less than 100 characters"
_SQS_TARGETS = {"AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch"}
_SQS_QUERY_BODY = re.compile(r"^(?:MessageBody|SendMessageBatchRequestEntry\.\d+\.MessageBody)$")
_DYNAMODB_PREFIX = "DynamoDB_20120810."
# A JSON escape of a surrogate (half of a pair, or alone): only such requests are looked at again.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SQS_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
_SNS_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


def invalid_message_contents(body: str) -> str | None:
    """SQS's reason for refusing a message body, or None when every character is allowed."""
    found = OUTSIDE_XML_CHARS.search(body)
    if found is None:
        return None
    return (
        f"Invalid binary character '#x{ord(found.group()):X}' was found in the message body, "
        f"the set of allowed characters is {ALLOWED_SET}"
    )


def sns_publish_problem(fields: list[tuple[str, str]] | None) -> str | None:
    """SNS's reason for refusing a Publish with these form fields (None: not UTF-8), or None."""
    if fields is None:
        return "Invalid parameter: Message Reason: the message is not a valid UTF-8 encoded string"
    values = dict(fields)
    subject = values.get("Subject")
    if subject is not None:
        if any(char in "\r\n" or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in subject):
            return "Invalid parameter: Subject Reason: the subject has line breaks or control characters"
        if len(subject) > MAX_SUBJECT_CHARS:
            return f"Invalid parameter: Subject Reason: {len(subject)} characters, fewer than 100 allowed"
    return None


class MessageTextExtension:
    name = "message_text"

    def install(self, app: EmulatorApp) -> None:
        app.guards.append(self.guard)

    def guard(self, request: Request) -> Response | None:
        if request.method != "POST":
            return None
        target = request.headers.get("X-Amz-Target")
        if target in _SQS_TARGETS:
            return self._sqs_json(request)
        if target is not None and target.startswith(_DYNAMODB_PREFIX):
            return _dynamodb(request)
        if target is not None:
            return None
        action = operation_of(request).action
        if action in ("SendMessage", "SendMessageBatch"):
            return self._sqs_query(request)
        if action == "Publish":
            problem = sns_publish_problem(_form_fields(request.get_data(cache=True)))
            return _query_error(_SNS_NAMESPACE, "InvalidParameter", problem) if problem else None
        return None

    def _sqs_json(self, request: Request) -> Response | None:
        try:
            body = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            return None  # moto answers a malformed request in SQS's words
        if not isinstance(body, dict):
            return None
        entries = body.get("Entries") if "Entries" in body else [body]
        for entry in entries if isinstance(entries, list) else ():
            message = entry.get("MessageBody") if isinstance(entry, dict) else None
            problem = invalid_message_contents(message) if isinstance(message, str) else None
            if problem:
                return _sqs_json_error("InvalidMessageContents", problem)
        return None

    def _sqs_query(self, request: Request) -> Response | None:
        fields = _form_fields(request.get_data(cache=True))
        for name, value in fields or ():
            problem = invalid_message_contents(value) if _SQS_QUERY_BODY.match(name) else None
            if problem:
                return _query_error(_SQS_NAMESPACE, "InvalidMessageContents", problem)
        return None


def _dynamodb(request: Request) -> Response | None:
    raw = request.get_data(cache=True)
    if not _SURROGATE_ESCAPE.search(raw):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not _holds_surrogate(body):
        return None  # only surrogate pairs: characters beyond U+FFFF, escaped
    return Response(
        json.dumps(
            {
                "__type": "com.amazon.coral.validate#ValidationException",
                "message": "One or more parameter values were invalid: a string is not valid UTF-8 "
                "(it holds an unpaired surrogate)",
            }
        ),
        status=400,
        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": "ValidationException"},
        content_type="application/x-amz-json-1.0",
    )


def _holds_surrogate(value: object) -> bool:
    """Whether a parsed JSON value holds an unpaired surrogate (json.loads joins the pairs)."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_surrogate(k) or _holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_surrogate(v) for v in value)
    return False


def _form_fields(raw: bytes) -> list[tuple[str, str]] | None:
    """The form's fields, each value decoded strictly as UTF-8; None when some value is not UTF-8."""
    try:
        return parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None


def _sqs_json_error(code: str, message: str) -> Response:
    # SQS's JSON protocol is "awsQueryCompatible": botocore takes the code from x-amzn-query-error.
    return Response(
        json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}),
        status=400,
        headers={
            "x-amzn-RequestId": str(uuid.uuid4()),
            "x-amzn-ErrorType": code,
            "x-amzn-query-error": f"{code};Sender",
        },
        content_type="application/x-amz-json-1.0",
    )


def _query_error(namespace: str, code: str, message: str) -> Response:
    request_id = str(uuid.uuid4())
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(body, status=400, headers={"x-amzn-RequestId": request_id}, content_type="text/xml")
