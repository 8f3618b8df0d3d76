"""Validate the state machine as Terraform deploys it with two validators that share no code (``make lint``).

statemachine/etl.asl.json is a Terraform template: infra/modules/orchestration passes it the six function
ARNs and the Glue job's name. It is rendered here with placeholders of the same shape, then checked by
asl-validator (npm, the JSON-schema validator aws-local-stepfunctions uses) and statelint (PyPI, a port of
AWS Labs' statelint). Both are installed into .tools/ by `make asl-tools`; both must accept the definition.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "statemachine" / "etl.asl.json"
RENDERED = ROOT / "build" / "asl" / "etl.asl.json"
ASL_VALIDATOR = ROOT / ".tools" / "asl" / "node_modules" / ".bin" / "asl-validator"
STATELINT = ROOT / ".tools" / "statelint" / "bin" / "statelint"

ACCOUNT = "123456789012"
REGION = "us-east-1"
NAME_PREFIX = "nightly-etl"
# The template variables of infra/modules/orchestration/main.tf and the function role each ARN names.
FUNCTION_VARIABLES = {
    "track_begin_arn": "track_begin",
    "extract_arn": "extract",
    "track_result_arn": "track_result",
    "notify_arn": "notify",
    "track_failure_arn": "track_failure",
    "refresh_dashboard_arn": "refresh_dashboard",
}

# Terraform template syntax: ${...} interpolations and %{...} directives, each escaped by doubling its
# first character ($${ and %%{ stand for the literal text).
_TEMPLATE_SEQUENCE = re.compile(r"(\$\$\{|%%\{)|\$\{([^}]*)\}|%\{")
_IDENTIFIER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_-]*)\s*")


class TemplateError(ValueError):
    """The template uses what this renderer does not support, or names a variable it was not given."""


def placeholder_variables(name_prefix: str = NAME_PREFIX) -> dict[str, str]:
    """The values Terraform passes, with the names the compute module gives its functions and job."""
    variables = {
        variable: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name_prefix}-{role.replace('_', '-')}"
        for variable, role in FUNCTION_VARIABLES.items()
    }
    variables["load_job_name"] = f"{name_prefix}-load-orders"
    return variables


def render(template: str, variables: Mapping[str, str]) -> str:
    """Terraform's ``templatefile`` for templates that interpolate plain variables (all this one does).

    Like Terraform, a variable the template names but is not given is an error; so is any expression or
    directive, which Terraform would evaluate and this renderer cannot.
    """

    def substitute(match: re.Match[str]) -> str:
        escaped, expression = match.group(1), match.group(2)
        if escaped:
            return escaped[1:]
        if expression is None:
            raise TemplateError(f"template directive at offset {match.start()}: only ${{name}} is supported")
        name = _IDENTIFIER.fullmatch(expression)
        if name is None:
            raise TemplateError(f"template expression ${{{expression}}}: only ${{name}} is supported")
        if name.group(1) not in variables:
            raise TemplateError(
                f"template variable {name.group(1)!r} is not given (known: {sorted(variables)})"
            )
        return variables[name.group(1)]

    return _TEMPLATE_SEQUENCE.sub(substitute, template)


def render_file(definition: Path, target: Path, variables: Mapping[str, str] | None = None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(definition.read_text(encoding="utf-8"), variables or placeholder_variables()))
    return target


@dataclass(frozen=True)
class Verdict:
    validator: str
    passed: bool
    output: str


def _run(validator: str, command: list[str]) -> Verdict:
    if not Path(command[0]).exists():
        return Verdict(validator, False, f"{command[0]} is missing: run `make asl-tools`")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return Verdict(validator, result.returncode == 0, (result.stdout + result.stderr).strip())


def asl_validator(path: Path, executable: Path = ASL_VALIDATOR) -> Verdict:
    return _run("asl-validator", [str(executable), "--json-path", str(path)])


def statelint(path: Path, executable: Path = STATELINT) -> Verdict:
    # No --ignore: statelint's FLOAT check (an integer BackoffRate) is met by writing floats.
    return _run("statelint", [str(executable), str(path)])


def validate(path: Path) -> list[Verdict]:
    return [asl_validator(path), statelint(path)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definition", type=Path, default=DEFINITION, help="the ASL template to check")
    parser.add_argument("--rendered", type=Path, default=RENDERED, help="where to write the rendered file")
    args = parser.parse_args(argv)
    try:
        rendered = render_file(args.definition, args.rendered)
    except TemplateError as error:
        print(f"{args.definition}: {error}", file=sys.stderr)
        return 1
    verdicts = validate(rendered)
    for verdict in verdicts:
        mark = "ok" if verdict.passed else "FAILED"
        print(
            f"{verdict.validator} {mark}: {rendered.relative_to(ROOT) if rendered.is_relative_to(ROOT) else rendered}"
        )
        if not verdict.passed:
            print(verdict.output)
    return 0 if all(verdict.passed for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
