"""What the added Step Functions actions compute, over moto's backend."""

from __future__ import annotations

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
