"""Shared fixtures: a real emulator process for the tests that need one, boto3 clients aimed at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
