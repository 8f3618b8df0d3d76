"""Shared fixtures: a real emulator process for the tests that need one, boto3 clients aimed at it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.client import EmulatorClient

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningEmulator:
    def __init__(self, endpoint: str, state_dir: Path, port: int):
        self.endpoint = endpoint
        self.state_dir = state_dir
        self.port = port
        self.control = EmulatorClient(endpoint)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    @property
    def env(self) -> dict[str, str]:
        """Environment for a child process (Terraform, the CLI) that should talk to this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "EMULATOR_PORT": str(self.port),
            "EMULATOR_STATE_DIR": str(self.state_dir),
        }


def start_emulator(state_dir: Path, port: int | None = None) -> tuple[subprocess.Popen, RunningEmulator]:
    port = port or _free_port()
    env = dict(os.environ, EMULATOR_PORT=str(port), EMULATOR_STATE_DIR=str(state_dir))
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(state_dir / "emulator.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "start"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    emulator = RunningEmulator(f"http://127.0.0.1:{port}", state_dir, port)
    deadline = time.monotonic() + 30
    while not emulator.control.is_up():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((state_dir / "emulator.log").read_text())
        time.sleep(0.1)
    return process, emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator process for the test session, stopped at the end even when tests fail."""
    state_dir = tmp_path_factory.mktemp("emulator")
    process, running = start_emulator(state_dir)
    try:
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the deployed stack --------------------------------------------------------------------------------

LAMBDA_ROLES = ("extract", "notify", "refresh_dashboard", "track_begin", "track_failure", "track_result")
ARTIFACTS = (
    *(f"lambdas/{role}.zip" for role in LAMBDA_ROLES),
    "glue/load_orders.py",
    "glue/pipeline.zip",
)


def terraform_environment(data_dir: Path) -> dict[str, str]:
    """What the Makefile gives Terraform (provider mirror, plugin cache), with a private working data dir
    so that tests never touch the developer's infra/envs/*/.terraform."""
    if shutil.which("terraform") is None:
        pytest.fail("Terraform is not installed: install Terraform >= 1.10 to run the infrastructure tests")
    cli_config = ROOT / ".tf" / "terraformrc"
    plugin_cache = ROOT / ".tf" / "plugin-cache"
    if not cli_config.exists():
        subprocess.run([str(ROOT / "scripts" / "terraform-cli-config.sh"), str(cli_config)], check=True)
    plugin_cache.mkdir(parents=True, exist_ok=True)
    return {
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache),
        "TF_IN_AUTOMATION": "1",
        "TF_DATA_DIR": str(data_dir),
    }


def build_artifacts(target: Path) -> Path:
    """``make package`` into ``target`` instead of build/, sharing build/'s cache of vendored packages."""
    spec = importlib.util.spec_from_file_location("package_for_tests", ROOT / "scripts" / "package.py")
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    target.mkdir(parents=True, exist_ok=True)
    shared_vendor = ROOT / "build" / ".vendor"
    shared_vendor.mkdir(parents=True, exist_ok=True)
    if not (target / ".vendor").exists():
        (target / ".vendor").symlink_to(shared_vendor, target_is_directory=True)
    package.BUILD = target
    package.build()
    missing = [name for name in ARTIFACTS if not (target / name).is_file()]
    if missing:
        pytest.fail(f"scripts/package.py did not build {', '.join(missing)}")
    return target


def run_deploy(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``scripts/deploy.py --env local ...``, the same entry point as ``make plan|apply``."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "deploy.py"), "--env", "local", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"deploy.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@dataclass(frozen=True)
class DeployedStack:
    """infra/envs/local applied onto the session's emulator from freshly built artifacts."""

    emulator: RunningEmulator
    artifacts_dir: Path
    outputs: dict[str, Any]
    env: dict[str, str]  # for child processes (terraform, etl): the emulator's plus Terraform's settings
    apply_seconds: float

    def client(self, service: str):
        return self.emulator.client(service)

    def plan(self, *terraform_args: str) -> subprocess.CompletedProcess[str]:
        """``terraform plan`` of the stack as deployed (same artifacts), e.g. with ``-detailed-exitcode``."""
        return run_deploy(
            self.env,
            "plan",
            "--artifacts-dir",
            str(self.artifacts_dir),
            "--",
            "-no-color",
            *terraform_args,
            check=False,
        )

    def apply(self) -> subprocess.CompletedProcess[str]:
        """Apply again from ``artifacts_dir`` (after a test changed an artifact, or to put the stack back)."""
        return run_deploy(self.env, "apply", "--artifacts-dir", str(self.artifacts_dir), "--", "-no-color")


@pytest.fixture(scope="session")
def deployed_stack(emulator: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> DeployedStack:
    """The whole pipeline, deployed once per test session by Terraform onto the session's emulator.

    Terraform applies the real artifacts (scripts/package.py) through scripts/deploy.py, as `make deploy`
    does; its state lives in the emulator's state directory. Tests that change the stack must put it back.
    """
    workspace = tmp_path_factory.mktemp("stack")
    artifacts = build_artifacts(workspace / "artifacts")
    env = {**emulator.env, **terraform_environment(workspace / "terraform-data")}
    started = time.monotonic()
    run_deploy(env, "apply", "--artifacts-dir", str(artifacts))
    apply_seconds = time.monotonic() - started
    outputs = json.loads(run_deploy(env, "output").stdout)
    return DeployedStack(
        emulator=emulator,
        artifacts_dir=artifacts,
        outputs={name: output["value"] for name, output in outputs.items()},
        env=env,
        apply_seconds=apply_seconds,
    )
