"""What the added Step Functions actions compute, over moto's backend."""

from __future__ import annotations

import copy
from typing import Any

from moto.stepfunctions.responses import get_backend


def validate_definition(definition: str) -> list[dict[str, str]]:
    """Diagnostics for an ASL definition, in ValidateStateMachineDefinition's shape (empty = valid)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    try:
        AmazonStateLanguageParser.parse(definition)
    except Exception as exc:  # the parser raises several types; all mean "invalid"
        return [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(exc)[:2000]}]
    return []


def state_machine_versions(account: str, region: str, arn: str) -> list[dict[str, Any]]:
    backend = get_backend(account, region)
    machine = backend.describe_state_machine(arn)
    versions = getattr(machine, "versions", {})
    return [
        {"stateMachineVersionArn": version.arn, "creationDate": version.creation_date}
        for _, version in sorted(versions.items(), reverse=True)
    ]


MAX_HISTORY_PAGE = 1000


def history_page(execution: Any, max_results: int, token: str | None, reverse: bool) -> dict[str, Any]:
    """One page of an execution's history events, GetExecutionHistory's answer (nextToken while more remain)."""
    if not isinstance(max_results, int) or not 0 < max_results <= MAX_HISTORY_PAGE:
        raise ValueError(f"maxResults must be between 1 and {MAX_HISTORY_PAGE}, got {max_results!r}")
    start = 0
    if token:
        if not token.isdigit():
            raise ValueError(f"invalid nextToken {token!r}")
        start = int(token)
    worker = execution.exec_worker
    manager = worker.env.event_manager if worker and worker.env else None
    if manager is None:
        return {"events": []}
    # Only the page is copied (moto's get_event_history copies every event, per page of a 25,000-event history).
    with manager._mutex:
        events = manager._history_event_list
        total = len(events)
        if reverse:
            chunk = events[max(total - start - max_results, 0) : total - start][::-1]
        else:
            chunk = events[start : start + max_results]
        page: dict[str, Any] = {"events": copy.deepcopy(chunk)}
    if start + max_results < total:
        page["nextToken"] = str(start + max_results)
    return page
