"""The emulator's one configuration object, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 4590
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class EmulatorSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    region: str = "us-east-1"
    state_dir: Path = field(default_factory=lambda: Path(".emulator").resolve())
    # Fire scheduled EventBridge rules on their own cron/rate while running.
    run_schedules: bool = False
    # Spark job runs reuse a warm driver (JVM, SparkContext, Python workers); EMULATOR_GLUE_WARM=0: cold runs.
    glue_warm_drivers: bool = True
    # Requests signed with credentials the emulator's STS issued for a role are authorized against that
    # role's policies (EMULATOR_IAM=0: every request is allowed, as before).
    iam_enforcement: bool = True

    @property
    def internal_endpoint(self) -> str:
        """The endpoint handed to the code the emulator runs (Lambda workers, Glue job runs)."""
        return self.endpoint

    @property
    def ca_bundle(self) -> Path | None:
        """The CA certificate that code the emulator runs trusts for ``internal_endpoint`` (None: plain HTTP)."""
        return None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "emulator.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "emulator.log"

    @property
    def work_dir(self) -> Path:
        """Unpacked Lambda code, Glue job scripts and other scratch files."""
        return self.state_dir / "work"

    @classmethod
    def from_env(cls, **overrides: object) -> EmulatorSettings:
        values: dict[str, object] = {}
        if "EMULATOR_PORT" in os.environ:
            values["port"] = _port(os.environ["EMULATOR_PORT"])
        if "EMULATOR_HOST" in os.environ:
            values["host"] = os.environ["EMULATOR_HOST"]
        if "EMULATOR_STATE_DIR" in os.environ:
            values["state_dir"] = Path(os.environ["EMULATOR_STATE_DIR"]).resolve()
        if "AWS_DEFAULT_REGION" in os.environ:
            values["region"] = os.environ["AWS_DEFAULT_REGION"]
        if os.environ.get("EMULATOR_RUN_SCHEDULES", "").lower() in {"1", "true", "yes"}:
            values["run_schedules"] = True
        if os.environ.get("EMULATOR_GLUE_WARM", "").lower() in {"0", "false", "no"}:
            values["glue_warm_drivers"] = False
        if os.environ.get("EMULATOR_IAM", "").lower() in {"0", "false", "no", "off"}:
            values["iam_enforcement"] = False
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"EMULATOR_PORT must be a number, got {text!r}") from None
    if not 0 <= port < 65536:
        raise ValueError(f"EMULATOR_PORT must be between 0 and 65535, got {port}")
    return port
