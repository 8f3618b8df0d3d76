"""The emulator's one configuration object, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.tls import TlsFiles

DEFAULT_PORT = 4590
ACCOUNT_ID = "123456789012"
LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_NAMES = ("localhost", LOOPBACK_V4, "::1")
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True)
class EmulatorSettings:
    # Loopback only: whoever reaches the port can create and invoke Lambdas, i.e. run code as this user.
    host: str = LOOPBACK_V4
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
    def connect_host(self) -> str:
        """The address clients connect to: the bind address, or 127.0.0.1 when it binds every interface."""
        return LOOPBACK_V4 if self.host in WILDCARD_HOSTS else self.host

    @property
    def endpoint(self) -> str:
        """Plain HTTP, for the operator's tools: Terraform, the CLI, the tests."""
        return f"http://{netloc(self.connect_host, self.port)}"

    @property
    def internal_endpoint(self) -> str:
        """The endpoint handed to the code the emulator runs (Lambda workers, Glue job runs): HTTPS on the
        same port, so that the buckets' TLS-only policies (aws:SecureTransport) let it in, as on AWS."""
        return f"https://{netloc(self.connect_host, self.port)}"

    @property
    def ca_bundle(self) -> Path:
        """The CA certificate that code the emulator runs trusts for ``internal_endpoint`` (AWS_CA_BUNDLE).

        The server writes it at start (emulator.tls), and reuses it across restarts while it is valid."""
        return self.tls_files.ca_cert

    @property
    def tls_files(self) -> TlsFiles:
        """The CA certificate, the server's certificate and its key (mode 0600), under ``<state dir>/tls``."""
        from emulator.tls import TlsFiles

        return TlsFiles(self.state_dir / "tls")

    @property
    def server_names(self) -> tuple[str, ...]:
        """The names the server certificate covers: the loopback names, and the bind address if another."""
        extra = () if self.connect_host in LOOPBACK_NAMES else (self.connect_host,)
        return LOOPBACK_NAMES + extra

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """The Host headers the emulator answers: its own names with its port (see emulator.request_guard)."""
        return frozenset(netloc(name, self.port) for name in self.server_names)

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


def netloc(host: str, port: int) -> str:
    """``host:port`` as in a URL or a Host header (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
