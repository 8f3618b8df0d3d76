"""What an EventBridge rule hands its target: the Scheduled Event, shaped by the target's Input,
InputPath or InputTransformer. Pure functions over plain dicts (a target as PutTargets takes it).

InputTransformer follows AWS's substitution rules:
- a template that is a JSON object (starts with ``{``) is JSON: a placeholder in a value position becomes
  the value's JSON (a string gets its quotes, an object stays an object, a missing path becomes ``null``);
  a placeholder inside a quoted string gets the value's text, unescaped (EventBridge does not escape it),
  and a missing path there becomes the empty string. The result must be valid JSON, or delivery fails.
- any other template is text: strings go in as they are, other values as JSON, a missing path as nothing.
  A template written as a quoted string keeps its quotes (the target receives a JSON string).
Predefined variables: ``aws.events.rule-arn``, ``aws.events.rule-name``,
``aws.events.event.ingestion-time``, ``aws.events.event`` (the event without ``detail``) and
``aws.events.event.json`` (the whole event).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

RESERVED_VARIABLES = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
)

_MISSING = object()
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")


class TransformError(ValueError):
    """A target's Input/InputPath/InputTransformer that cannot produce its input."""


def event_time(moment: datetime) -> str:
    """The event's ``time`` field: ISO 8601, UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(rule_arn: str, account: str, region: str, moment: datetime) -> dict[str, Any]:
    """The event EventBridge sends when a scheduled rule fires at ``moment``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": event_time(moment),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def target_input(target: dict[str, Any], event: dict[str, Any], rule_name: str, rule_arn: str) -> str:
    """The text the target receives for ``event``: Input, else InputPath, else InputTransformer, else the event."""
    chosen = [key for key in ("Input", "InputPath", "InputTransformer") if target.get(key) is not None]
    if len(chosen) > 1:
        raise TransformError(
            f"target {target.get('Id')} sets {' and '.join(chosen)}; only one of Input, InputPath or "
            "InputTransformer may be set"
        )
    if "Input" in chosen:
        return target["Input"]
    if "InputPath" in chosen:
        value = json_path(event, target["InputPath"])
        return _compact(None if value is _MISSING else value)
    if "InputTransformer" in chosen:
        transformer = target["InputTransformer"]
        values = resolve_paths(transformer.get("InputPathsMap") or {}, event)
        values.update(predefined_variables(event, rule_name, rule_arn))
        return render_template(transformer["InputTemplate"], values)
    return _compact(event)


def resolve_paths(paths: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    reserved = sorted(set(paths) & set(RESERVED_VARIABLES))
    if reserved:
        raise TransformError(f"InputPathsMap may not define the predefined variable(s) {', '.join(reserved)}")
    return {name: json_path(event, path) for name, path in paths.items()}


def predefined_variables(event: dict[str, Any], rule_name: str, rule_arn: str) -> dict[str, Any]:
    without_detail = {
        # AWS renames detail-type in this copy of the event.
        ("detailType" if key == "detail-type" else key): value
        for key, value in event.items()
        if key != "detail"
    }
    return {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_name,
        # A scheduled event is ingested when it is emitted.
        "aws.events.event.ingestion-time": event["time"],
        "aws.events.event": without_detail,
        "aws.events.event.json": event,
    }


def json_path(document: Any, path: str) -> Any:
    """The value at an EventBridge JSON path (``$``, ``$.a.b``, ``$.a[0]``, ``$['a-b']``, ``*``), or _MISSING."""
    path = path.strip()
    if not path.startswith("$"):
        raise TransformError(f"JSON path {path!r} must start with '$'")
    rest, position, steps = path[1:], 0, []
    while position < len(rest):
        token = _PATH_TOKEN.match(rest, position)
        if token is None:
            raise TransformError(f"JSON path {path!r} cannot be read at {rest[position:]!r}")
        steps.append(next(group for group in token.groups() if group is not None))
        position = token.end()
    return _walk(document, steps)


def _walk(value: Any, steps: list[str]) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if step == "*":
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            return _MISSING
        found = [_walk(child, rest) for child in children]
        return [item for item in found if item is not _MISSING]
    if isinstance(value, dict):
        return _walk(value[step], rest) if step in value else _MISSING
    if isinstance(value, list) and step.isdigit():
        index = int(step)
        return _walk(value[index], rest) if index < len(value) else _MISSING
    return _MISSING


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``template``'s ``<name>`` placeholders from ``values`` (see the module's rules).

    Text that only looks like a placeholder (``<b>`` in a message) is not a variable and stays as it is.
    """
    if template.lstrip().startswith("{"):
        return _render_json(template, values)
    return _PLACEHOLDER.sub(lambda m: _as_text(values, m.group(1), m.group(0)), template)


def _render_json(template: str, values: dict[str, Any]) -> str:
    out: list[str] = []
    in_string = escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        placeholder = _PLACEHOLDER.match(template, position) if char == "<" else None
        if placeholder and placeholder.group(1) in values:
            name = placeholder.group(1)
            out.append(_as_text(values, name, "") if in_string else _as_json(values[name]))
            position = placeholder.end()
            escaped = False
            continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        out.append(char)
        position += 1
    rendered = "".join(out)
    try:
        return _compact(json.loads(rendered))
    except ValueError as exc:
        raise TransformError(f"the transformed input is not valid JSON ({exc}): {rendered}") from None


def _as_text(values: dict[str, Any], name: str, unmatched: str) -> str:
    if name not in values:
        return unmatched
    value = values[name]
    if value is _MISSING:
        return ""
    return value if isinstance(value, str) else _compact(value)


def _as_json(value: Any) -> str:
    return "null" if value is _MISSING else _compact(value)


def _compact(value: Any) -> str:
    # The target receives minified JSON.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
