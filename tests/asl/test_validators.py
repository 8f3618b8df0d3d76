"""The state machine as Terraform renders it, through asl-validator (npm) and statelint (PyPI): both accept
ours, and each rejects a broken definition with the error it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .tooling import require, validate_asl

asl = validate_asl()


@pytest.fixture(scope="module")
def tools() -> None:
    require(asl.ASL_VALIDATOR)
    require(asl.STATELINT)


def rendered() -> dict[str, Any]:
    return json.loads(asl.render(asl.DEFINITION.read_text(encoding="utf-8"), asl.placeholder_variables()))


def write(tmp_path: Path, definition: dict[str, Any]) -> Path:
    path = tmp_path / "definition.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    return path


def test_the_rendered_definition_names_the_functions_and_the_job_as_terraform_passes_them() -> None:
    definition = rendered()
    states = definition["States"]

    assert states["BeginRun"]["Parameters"]["FunctionName"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:nightly-etl-track-begin"
    )
    assert states["RecordFailure"]["Parameters"]["FunctionName"].endswith(
        ":function:nightly-etl-track-failure"
    )
    assert states["Load"]["Parameters"]["JobName"] == "nightly-etl-load-orders"
    assert "${" not in json.dumps(definition)


def test_the_renderer_refuses_what_terraform_would_not_render_the_same() -> None:
    with pytest.raises(asl.TemplateError, match="'job' is not given"):
        asl.render('{"JobName": "${job}"}', {"load_job_name": "j"})
    with pytest.raises(asl.TemplateError, match=r"only \$\{name\} is supported"):
        asl.render('{"JobName": "${upper(load_job_name)}"}', {"load_job_name": "j"})
    with pytest.raises(asl.TemplateError, match="directive"):
        asl.render("%{ if true }x%{ endif }", {})
    assert asl.render('{"a": "$${literal}", "b": "${ x }"}', {"x": "y"}) == '{"a": "${literal}", "b": "y"}'


def test_both_validators_accept_our_definition(tools: None, tmp_path: Path) -> None:
    path = asl.render_file(asl.DEFINITION, tmp_path / "etl.asl.json")

    verdicts = asl.validate(path)

    assert [(v.validator, v.passed) for v in verdicts] == [("asl-validator", True), ("statelint", True)], (
        verdicts
    )
    assert asl.main(["--rendered", str(tmp_path / "main.asl.json")]) == 0


def test_each_validator_rejects_a_transition_to_a_state_that_does_not_exist(
    tools: None, tmp_path: Path
) -> None:
    definition = rendered()
    definition["States"]["Extract"]["Next"] = "HasWrok"
    path = write(tmp_path, definition)

    by_asl_validator = asl.asl_validator(path)
    by_statelint = asl.statelint(path)

    assert not by_asl_validator.passed
    assert (
        "MISSING_TRANSITION_TARGET: Missing 'StartAt'|'Next'|'Default' target: HasWrok"
        in by_asl_validator.output
    )
    assert not by_statelint.passed
    assert (
        'No state found named "HasWrok", referenced at State Machine.States.Extract.Next'
        in by_statelint.output
    )


def test_a_task_without_a_resource_is_caught_by_asl_validator_alone(tools: None, tmp_path: Path) -> None:
    """One reason lint runs both: statelint 3.1.0 does not require a Task's Resource."""
    definition = rendered()
    del definition["States"]["Load"]["Resource"]
    path = write(tmp_path, definition)

    by_asl_validator = asl.asl_validator(path)

    assert not by_asl_validator.passed
    assert "SCHEMA_VALIDATION_FAILED: /States/Load is invalid." in by_asl_validator.output
    assert asl.statelint(path) == asl.Verdict("statelint", True, "")


def test_statelint_wants_backoff_rates_written_as_floats(tools: None, tmp_path: Path) -> None:
    """Why the definition writes 2.0: statelint rejects an integer BackoffRate, which AWS accepts."""
    definition = rendered()
    definition["States"]["Extract"]["Retry"][0]["BackoffRate"] = 2
    path = write(tmp_path, definition)

    assert asl.asl_validator(path).passed
    by_statelint = asl.statelint(path)
    assert not by_statelint.passed
    assert (
        "State Machine.States.Extract.Retry[0].BackoffRate is 2 but should be a Float" in by_statelint.output
    )
    assert all(
        isinstance(retrier["BackoffRate"], float)
        for state in rendered()["States"].values()
        for retrier in state.get("Retry", [])
    )


def test_lint_reports_the_validator_that_failed(
    tools: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    definition = json.loads(asl.DEFINITION.read_text(encoding="utf-8"))
    definition["States"]["Done"]["Type"] = "Succeeded"
    template = tmp_path / "broken.asl.json"
    template.write_text(json.dumps(definition))

    assert asl.main(["--definition", str(template), "--rendered", str(tmp_path / "out.json")]) == 1
    printed = capsys.readouterr().out
    assert "asl-validator FAILED" in printed
    assert "statelint FAILED" in printed
