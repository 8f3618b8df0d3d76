"""The Jenkinsfile only calls Makefile targets that exist and that make can plan."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JENKINSFILE = (ROOT / "Jenkinsfile").read_text()
SH_STEP = re.compile(r"""\bsh\s+(['"])(.*?)\1""")


def sh_commands() -> list[str]:
    return [match.group(2) for match in SH_STEP.finditer(JENKINSFILE)]


def make_targets() -> set[str]:
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile", ":"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    return {line.split(":", 1)[0] for line in database.splitlines() if re.match(r"^[a-zA-Z][\w-]*:", line)}


def test_every_sh_step_is_a_make_call():
    commands = sh_commands()
    assert len(commands) >= 8
    assert all(command.startswith("make ") for command in commands), commands


def test_every_called_target_exists_and_make_can_plan_it():
    targets = make_targets()
    for command in sh_commands():
        words = command.split()[1:]
        wanted = [w for w in words if "=" not in w]
        assert wanted, command
        for target in wanted:
            assert target in targets, f"{command!r} calls a missing target {target!r}"
        variables = [w.replace("${ENV}", "dev").replace("${ACTION}", "apply") for w in words if "=" in w]
        dry_run = subprocess.run(
            ["make", "-n", *wanted, *variables], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry_run.returncode == 0, f"make -n {command}: {dry_run.stderr}"


def test_the_pipeline_has_the_deploy_stages_in_order():
    stages = re.findall(r"stage\('([^']+)'\)", JENKINSFILE)
    assert stages == [
        "Set up",
        "Lint",
        "Test",
        "Package",
        "Security scan",
        "Plan",
        "Approve",
        "Apply",
        "Smoke test",
    ]


def test_prod_applies_wait_for_a_person_and_credentials_never_come_from_the_repo():
    approve = JENKINSFILE.split("stage('Approve')")[1].split("stage('Apply')")[0]
    assert "params.TARGET_ENV == 'prod'" in approve
    assert "input message" in approve
    assert "AKIA" not in JENKINSFILE
    assert "AmazonWebServicesCredentialsBinding" in JENKINSFILE
