"""Warm Glue drivers: Spark job runs reuse a driver process, its JVM and its Python workers.

A cold run starts Python, a JVM, a SparkContext and Spark's Python workers (which import the job's modules)
before the script's first line of work, and stops them all at the end: seconds per run, whatever its size.
Glue itself keeps its start short with warm pools; here, a run of a Spark job is handed to a driver host
(driver_host.py) that has already run a job with the same runtime and --extra-py-files, and that keeps its
SparkContext between runs. Each run still gets a new SparkSession, its own argv, working directory,
environment and output files (see driver_host.py).

Hosts are keyed by what a job can import and reach, and as whom: the Python, the region, the endpoint and
CA bundle, the job's role, and the bytes of every --extra-py-files entry. A host's driver and executors keep
the role credentials it started with, so a run never gets a host that acts as another role, and a host whose
credentials are about to expire (they are issued for 12 h) is stopped instead of reused: the next run starts
a host with new ones. A new package (a deploy) gets a new host; the old one is stopped once idle for longer
than ``idle_seconds`` or when more than ``max_idle`` hosts are idle. A run that times out or is stopped kills
its host with the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import runtime_identity
from emulator.glue_runtime import process
from emulator.iam.credentials import RoleCredentials

log = logging.getLogger("emulator.glue")

HOST_SOURCE = Path(__file__).with_name("driver_host.py")


def host_key(python: str, region: str, endpoint: str, extra_files: Sequence[Path], *, role_arn: str) -> str:
    """What decides whether a host may run a job: its interpreter, its AWS, its role and its importable
    files."""
    digest = hashlib.sha256()
    for part in (python, region, endpoint, role_arn):
        digest.update(part.encode() + b"\0")
    for path in extra_files:
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


@dataclass
class DriverHost:
    key: str
    folder: Path
    process: subprocess.Popen[bytes]
    replies: Any  # text file: the host's answers, one JSON line per run
    # The role credentials its driver and executors act with, in the environment it started with.
    credentials: RoleCredentials
    environment: dict[str, str]
    runs: int = 0
    busy: bool = False
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def expiring(self) -> bool:
        """Its credentials would expire too soon to hand it another run."""
        return runtime_identity.needs_renewal(self.credentials)

    def run(self, request: dict[str, Any]) -> int | None:
        """Hand a run to the host; its return code, or None when the host died during it."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            answer = self.replies.readline()
        except (BrokenPipeError, OSError, ValueError):
            return None
        if not answer:
            return None
        self.runs += 1
        return int(json.loads(answer)["returncode"])

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(OSError):
            self.replies.close()


class WarmPool:
    """Driver hosts by key; a host runs one job run at a time."""

    def __init__(self, folder: Path, *, max_idle: int = 1, idle_seconds: float = 900.0):
        self.folder = folder
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._hosts: list[DriverHost] = []
        self._stopped = threading.Event()
        self._reaper: threading.Thread | None = None

    def acquire(
        self,
        key: str,
        *,
        python: str,
        extra_files: Sequence[Path],
        environment: Mapping[str, str],
        credentials: RoleCredentials,
    ) -> tuple[DriverHost, bool]:
        """An idle host for ``key`` (True: it ran a job before), or a new one started for it with
        ``environment``, which holds ``credentials``."""
        with self._lock:
            self._reap_locked()
            for host in self._hosts:
                if host.key == key and not host.busy and host.alive:
                    host.busy = True
                    return host, host.runs > 0
        host = self._start(key, python, extra_files, environment, credentials)
        with self._lock:
            self._hosts.append(host)
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap_forever, name="glue-host-reaper", daemon=True
                )
                self._reaper.start()
        return host, False

    def release(self, host: DriverHost, healthy: bool) -> None:
        with self._lock:
            host.busy = False
            host.idle_since = time.monotonic()
            if not healthy or not host.alive:
                self._discard_locked(host)
            self._reap_locked()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"key": h.key, "pid": h.process.pid, "runs": h.runs, "busy": h.busy, "alive": h.alive}
                for h in self._hosts
            ]

    def shutdown(self) -> None:
        self._stopped.set()
        with self._lock:
            hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.kill()

    # -- inside ----------------------------------------------------------------------------------
    def _start(
        self,
        key: str,
        python: str,
        extra_files: Sequence[Path],
        environment: Mapping[str, str],
        credentials: RoleCredentials,
    ) -> DriverHost:
        folder = self.folder / f"{key}-{time.time_ns()}"
        paths: list[Path] = []
        for index, source in enumerate(extra_files):
            # Copies the host keeps for its lifetime: the run folders they came from belong to their runs.
            target = folder / "extra" / str(index) / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            paths.append(process.import_path(target))
        site = folder / "site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(process.sitecustomize_source(folder / "exception.txt"))
        script = folder / HOST_SOURCE.name
        shutil.copyfile(HOST_SOURCE, script)
        started_with = dict(environment)
        env = dict(environment)
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*paths, site])
        read_fd, write_fd = os.pipe()
        env["GLUE_DRIVER_REPLY_FD"] = str(write_fd)
        with open(folder / "host.log", "wb") as host_log:
            host_process = subprocess.Popen(
                [python, str(script)],
                cwd=folder,
                env=env,
                stdin=subprocess.PIPE,
                stdout=host_log,
                stderr=host_log,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        os.close(write_fd)
        replies = os.fdopen(read_fd, "r", encoding="utf-8")
        log.info("glue driver host %s started (pid %s, files in %s)", key, host_process.pid, folder)
        return DriverHost(
            key=key,
            folder=folder,
            process=host_process,
            replies=replies,
            credentials=credentials,
            environment=started_with,
            busy=True,
        )

    def _reap_forever(self) -> None:
        # Idle hosts hold a JVM each: stop those past idle_seconds even when no run comes along.
        while not self._stopped.wait(min(60.0, max(1.0, self.idle_seconds / 4))):
            with self._lock:
                self._reap_locked()

    def _reap_locked(self) -> None:
        now = time.monotonic()
        for host in [h for h in self._hosts if not h.busy and (not h.alive or h.expiring)]:
            self._discard_locked(host)
        idle = sorted((h for h in self._hosts if not h.busy), key=lambda h: h.idle_since)
        expired = [h for h in idle if now - h.idle_since > self.idle_seconds]
        surplus = idle[: max(0, len(idle) - self.max_idle)]
        for host in {id(h): h for h in [*expired, *surplus]}.values():
            self._discard_locked(host)

    def _discard_locked(self, host: DriverHost) -> None:
        if host in self._hosts:
            self._hosts.remove(host)
        threading.Thread(target=host.kill, name=f"glue-host-stop-{host.key}", daemon=True).start()
