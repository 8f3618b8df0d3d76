"""`make smoke` against the emulator: the same check Jenkins runs after an apply."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.e2e
def test_the_smoke_check_passes_on_a_freshly_deployed_stack(deployed_stack):
    result = subprocess.run(
        [sys.executable, "-m", "etl", "smoke", "--env", "local", "--date", "2000-01-01"],
        cwd=ROOT,
        env={**os.environ, **deployed_stack.env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    item = deployed_stack.client("dynamodb").get_item(
        TableName=deployed_stack.outputs["runs_table_name"], Key={"run_date": {"S": "2000-01-01"}}
    )["Item"]
    assert item["status"]["S"] == "NO_DATA"
