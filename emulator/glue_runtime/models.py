"""Glue job runs that execute: the job's script from the emulator's S3, on local PySpark, with real states.

Job definitions stay in moto's Glue backend (CreateJob, UpdateJob, GetJob are moto's); the runs are ours.
A run: STARTING (fetching the script and --extra-py-files) → RUNNING (the script's process) → SUCCEEDED,
FAILED (with the script's error), TIMEOUT (killed after the Timeout) or STOPPED (BatchStopJobRun).

Each run keeps its files under ``<work_dir>/glue/<job>/<run id>/``: the script, the extra files, the
command line and environment (run.json), stdout.log and stderr.log. The same output goes to CloudWatch
Logs, groups /aws-glue/jobs/output and /aws-glue/jobs/error, stream = the run id, as in Glue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from emulator import runtime_identity
from emulator.glue_runtime import process, warm
from emulator.glue_runtime.exceptions import (
    ConcurrentRunsExceededException,
    EntityNotFoundException,
    InvalidInputException,
)
from emulator.iam.credentials import RoleCredentials, RoleNotAssumable
from emulator.settings import EmulatorSettings

log = logging.getLogger("emulator.glue")

ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
LOG_GROUP = "/aws-glue/jobs"
OUTPUT_LOG_GROUP = f"{LOG_GROUP}/output"
ERROR_LOG_GROUP = f"{LOG_GROUP}/error"
# Glue's default when neither the job nor the run sets a Timeout: 48 hours.
DEFAULT_TIMEOUT_MINUTES = 2880
# Job types whose script runs on Spark, and so needs Java; a pythonshell script is plain Python.
SPARK_COMMANDS = frozenset({"glueetl", "gluestreaming"})
STOP_GRACE_SECONDS = 5.0
# The session Glue names a job run's role session (CloudTrail shows assumed-role/<role>/GlueJobRunnerSession).
SESSION_NAME = "GlueJobRunnerSession"
# Glue's words when the role's trust policy does not let glue.amazonaws.com assume it.
ROLE_NOT_ASSUMABLE = "Service is unable to assume provided role. Please verify role's TrustPolicy."


class RunFailure(Exception):
    """The run cannot go on; its message becomes the run's ErrorMessage."""


@dataclass(frozen=True)
class JobDefinition:
    """What a run needs from the job, read from moto's backend when the run starts."""

    name: str
    role: str
    command: Mapping[str, Any]
    default_arguments: Mapping[str, str]
    non_overridable_arguments: Mapping[str, str]
    max_concurrent_runs: int
    timeout_minutes: int | None
    glue_version: str | None
    worker_type: str | None
    number_of_workers: int | None
    max_capacity: float | None

    @classmethod
    def from_moto(cls, job: Any) -> JobDefinition:
        return cls(
            name=job.name,
            role=str(job.role or ""),
            command=job.command or {},
            default_arguments=dict(job.default_arguments or {}),
            non_overridable_arguments=dict(job.non_overridable_arguments or {}),
            max_concurrent_runs=int((job.execution_property or {}).get("MaxConcurrentRuns", 1)),
            timeout_minutes=job.timeout,
            glue_version=job.glue_version,
            worker_type=job.worker_type,
            number_of_workers=job.number_of_workers,
            max_capacity=job.max_capacity,
        )


@dataclass
class JobRun:
    id: str
    job_name: str
    region: str
    arguments: dict[str, str]
    timeout_minutes: int
    work_dir: Path
    command_name: str
    glue_version: str | None = None
    worker_type: str | None = None
    number_of_workers: int | None = None
    max_capacity: float | None = None
    previous_run_id: str | None = None
    attempt: int = 0
    state: str = "STARTING"
    error_message: str | None = None
    started_on: float = field(default_factory=time.time)
    last_modified_on: float = field(default_factory=time.time)
    completed_on: float | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stop_requested: bool = False
    # The job role's credentials the run acts with (its script's download, its logs; its script when cold).
    credentials: RoleCredentials | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def execution_seconds(self) -> int:
        return round((self.completed_on or time.time()) - self.started_on)

    def as_dict(self) -> dict[str, Any]:
        """The run in GetJobRun's shape (timestamps as epoch seconds, as the JSON protocol carries them)."""
        answer: dict[str, Any] = {
            "Id": self.id,
            "Attempt": self.attempt,
            "JobName": self.job_name,
            "JobMode": "SCRIPT",
            "StartedOn": self.started_on,
            "LastModifiedOn": self.last_modified_on,
            "JobRunState": self.state,
            "Arguments": self.arguments,
            "PredecessorRuns": [],
            "ExecutionTime": self.execution_seconds,
            "Timeout": self.timeout_minutes,
            "LogGroupName": LOG_GROUP,
            "ExecutionClass": "STANDARD",
        }
        optional = {
            "PreviousRunId": self.previous_run_id,
            "CompletedOn": self.completed_on,
            "ErrorMessage": self.error_message,
            "GlueVersion": self.glue_version,
            "WorkerType": self.worker_type,
            "NumberOfWorkers": self.number_of_workers,
            "MaxCapacity": self.max_capacity,
        }
        answer.update({key: value for key, value in optional.items() if value is not None})
        return answer

    def summary(self) -> dict[str, Any]:
        """The run as the control API lists it: where its files are kept."""
        return {
            "job_name": self.job_name,
            "run_id": self.id,
            "state": self.state,
            "error_message": self.error_message,
            "execution_time": self.execution_seconds,
            "work_dir": str(self.work_dir),
        }


@dataclass(frozen=True)
class RuntimeConfig:
    # Real seconds in one minute of a job's Timeout; tests shorten it so a TIMEOUT takes seconds.
    timeout_unit_seconds: float = 60.0
    # Spark runs go to a warm driver host (warm.py) instead of a process of their own.
    warm_drivers: bool = True


class GlueRuntime:
    """The job runs of every job, and the threads and processes that execute them."""

    def __init__(
        self,
        *,
        settings: EmulatorSettings,
        work_dir: Path,
        account_id: str,
        fault_for: Callable[[str], str | None],
        environ: Mapping[str, str] | None = None,
        python: str = sys.executable,
        warm_drivers: bool = True,
    ):
        self.settings = settings
        self.work_dir = work_dir
        self.account_id = account_id
        self.fault_for = fault_for
        self.environ = dict(os.environ if environ is None else environ)
        self.python = python
        self.config = RuntimeConfig(warm_drivers=warm_drivers)
        self.default_config = self.config
        self.pool = warm.WarmPool(work_dir / "glue" / "_drivers")
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], list[JobRun]] = {}

    # -- the API ------------------------------------------------------------------------------
    def start_job_run(
        self,
        region: str,
        job_name: str,
        arguments: Mapping[str, str] | None = None,
        timeout_minutes: int | None = None,
        previous_run_id: str | None = None,
        worker_type: str | None = None,
        number_of_workers: int | None = None,
        max_capacity: float | None = None,
    ) -> JobRun:
        job = self._job(region, job_name)
        merged = {**job.default_arguments, **(arguments or {}), **job.non_overridable_arguments}
        timeout = timeout_minutes or job.timeout_minutes or DEFAULT_TIMEOUT_MINUTES
        if timeout <= 0:
            raise InvalidInputException(f"Timeout must be a positive number of minutes, got {timeout}")
        with self._lock:
            runs = self._runs.setdefault((region, job_name), [])
            if sum(run.active for run in runs) >= job.max_concurrent_runs:
                raise ConcurrentRunsExceededException(f"Concurrent runs exceeded for {job_name}")
            previous = next((run for run in runs if run.id == previous_run_id), None)
            run_id = f"jr_{secrets.token_hex(32)}"
            run = JobRun(
                id=run_id,
                job_name=job_name,
                region=region,
                arguments=merged,
                timeout_minutes=timeout,
                work_dir=self.work_dir / "glue" / _safe_name(job_name) / run_id,
                command_name=str(job.command.get("Name", "glueetl")),
                glue_version=job.glue_version,
                worker_type=worker_type or job.worker_type,
                number_of_workers=number_of_workers or job.number_of_workers,
                max_capacity=max_capacity or job.max_capacity,
                previous_run_id=previous_run_id,
                attempt=previous.attempt + 1 if previous else 0,
            )
            runs.append(run)
        run.work_dir.mkdir(parents=True, exist_ok=True)
        unit = self.config.timeout_unit_seconds
        threading.Thread(
            target=self._execute, args=(run, job, unit), name=f"glue-{job_name}-{run_id[:11]}", daemon=True
        ).start()
        return run

    def get_job_run(self, region: str, job_name: str, run_id: str) -> JobRun:
        self._job(region, job_name)
        with self._lock:
            for run in self._runs.get((region, job_name), []):
                if run.id == run_id:
                    return run
        raise EntityNotFoundException(f"Job run {run_id} not found for job {job_name}.")

    def get_job_runs(self, region: str, job_name: str) -> list[JobRun]:
        """The job's runs, newest first (as GetJobRuns lists them)."""
        self._job(region, job_name)
        with self._lock:
            return list(reversed(self._runs.get((region, job_name), [])))

    def stop_job_run(self, region: str, job_name: str, run_id: str) -> None:
        run = self.get_job_run(region, job_name, run_id)
        with self._lock:
            if not run.active:
                raise InvalidInputException(f"Job run {run_id} is not running (it is {run.state}).")
            run.stop_requested = True
            self._set_state(run, "STOPPING")
            running = run.process
        if running is not None:
            _signal_group(running, signal.SIGTERM)

    def all_runs(self) -> list[JobRun]:
        with self._lock:
            return [run for runs in self._runs.values() for run in runs]

    def shutdown(self) -> None:
        """Kill every run's process group, so that stopping the emulator leaves no Spark JVM behind."""
        for run in self.all_runs():
            with self._lock:
                run.stop_requested = True
                running = run.process
            if running is not None:
                _signal_group(running, signal.SIGKILL)
        self.pool.shutdown()

    # -- a run, in its own thread -------------------------------------------------------------
    def _execute(self, run: JobRun, job: JobDefinition, timeout_unit_seconds: float) -> None:
        try:
            run.credentials = self._assume_role(run, job)
            self._check_runnable(run, job)
            script, extra_files, site = self._fetch_code(run, job)
            if self.config.warm_drivers and run.command_name in SPARK_COMMANDS:
                returncode, timed_out = self._run_warm(run, script, extra_files, timeout_unit_seconds)
            else:
                python_path = [process.import_path(f) for f in extra_files] + [site]
                returncode, timed_out = self._run_script(run, script, python_path, timeout_unit_seconds)
        except RunFailure as failure:
            if run.stop_requested:
                self._finish(run, "STOPPED", None)
            else:
                self._finish(run, "FAILED", str(failure))
            return
        except Exception as exc:  # a runtime bug must end the run, not leave it RUNNING forever
            log.exception("glue run %s of %s", run.id, run.job_name)
            self._finish(run, "FAILED", f"the emulator's Glue runtime failed: {exc}")
            return
        stderr = _read(run.work_dir / "stderr.log")
        if run.stop_requested:
            self._finish(run, "STOPPED", None, stderr)
        elif timed_out:
            minutes = run.timeout_minutes
            self._finish(run, "TIMEOUT", f"Job run timed out after {minutes} minute(s), its Timeout", stderr)
        elif returncode == 0:
            self._finish(run, "SUCCEEDED", None, stderr)
        else:
            exception = _read(run.work_dir / "exception.txt")
            self._finish(run, "FAILED", process.error_summary(exception, stderr, returncode), stderr)

    def _assume_role(self, run: JobRun, job: JobDefinition) -> RoleCredentials:
        """The job's Role, assumed by Glue for this run: what its script, its downloads and its logs act as."""
        if not job.role:
            raise RunFailure(f"Job {job.name} has no Role: set it to the ARN of the role the job runs as")
        # Glue takes the role's name or its ARN.
        role_arn = (
            job.role if job.role.startswith("arn:") else f"arn:aws:iam::{self.account_id}:role/{job.role}"
        )
        job_arn = f"arn:aws:glue:{run.region}:{self.account_id}:job/{job.name}"
        try:
            return runtime_identity.assume_role(
                role_arn, SESSION_NAME, run.region, runtime_identity.GLUE_SERVICE, job_arn
            )
        except RoleNotAssumable:
            raise RunFailure(ROLE_NOT_ASSUMABLE) from None

    def _check_runnable(self, run: JobRun, job: JobDefinition) -> None:
        fault = self.fault_for(job.name)
        if fault is not None:
            raise RunFailure(fault)
        if run.command_name in SPARK_COMMANDS and process.find_java_home(self.environ) is None:
            raise RunFailure(process.JAVA_MISSING)

    def _fetch_code(self, run: JobRun, job: JobDefinition) -> tuple[Path, list[Path], Path]:
        """The script, the --extra-py-files entries and a folder with the run's sitecustomize."""
        location = str(job.command.get("ScriptLocation") or "")
        if not location:
            raise RunFailure(
                f"Job {job.name} has no Command.ScriptLocation: set it to the s3:// URL of the script"
            )
        script = self._download(run, location, run.work_dir, "script")
        extra_files: list[Path] = []
        extra = [p.strip() for p in run.arguments.get("--extra-py-files", "").split(",") if p.strip()]
        for index, url in enumerate(extra):
            target = self._download(run, url, run.work_dir / "extra" / str(index), "--extra-py-files entry")
            extra_files.append(target)
        site = run.work_dir / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(process.sitecustomize_source(run.work_dir / "exception.txt"))
        return script, extra_files, site

    def _download(self, run: JobRun, url: str, folder: Path, what: str) -> Path:
        parsed = urlparse(url)
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or not parsed.netloc or not key:
            raise RunFailure(f"The job's {what} must be an s3://bucket/key URL, got {url!r}")
        try:
            body = (
                self._client("s3", run.region, run.credentials)
                .get_object(Bucket=parsed.netloc, Key=key)["Body"]
                .read()
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "NoSuchBucket", "404"}:
                raise RunFailure(
                    f"The job's {what} {url} was not found in S3 ({code}): upload it before starting the job"
                ) from None
            raise RunFailure(f"Could not read the job's {what} {url} from S3: {exc}") from None
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (Path(key).name or "script.py")
        target.write_bytes(body)
        return target

    def _run_script(
        self, run: JobRun, script: Path, python_path: list[Path], timeout_unit_seconds: float
    ) -> tuple[int, bool]:
        command = process.script_command(self.python, script, run.job_name, run.id, run.arguments)
        env = self._environment(run, python_path)
        (run.work_dir / "run.json").write_text(json.dumps({"command": command, "environment": env}, indent=2))
        with (
            open(run.work_dir / "stdout.log", "wb") as stdout,
            open(run.work_dir / "stderr.log", "wb") as stderr,
            self._lock,
        ):
            if run.stop_requested:
                return -1, False
            # A process group of its own: a timeout or stop then kills the Spark JVM with the script.
            run.process = subprocess.Popen(
                command,
                cwd=run.work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            if run.state == "STARTING":
                self._set_state(run, "RUNNING")
        log.info("glue run %s of %s started (files in %s)", run.id, run.job_name, run.work_dir)
        try:
            return run.process.wait(timeout=run.timeout_minutes * timeout_unit_seconds), False
        except subprocess.TimeoutExpired:
            _signal_group(run.process, signal.SIGTERM)
            try:
                run.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(run.process, signal.SIGKILL)
                run.process.wait()
            return run.process.returncode, True
        finally:
            # A stop's SIGTERM may leave the JVM of a script that ignored it: make sure nothing lingers.
            _signal_group(run.process, signal.SIGKILL)

    def _run_warm(
        self, run: JobRun, script: Path, extra_files: list[Path], timeout_unit_seconds: float
    ) -> tuple[int, bool]:
        """Run the script in a warm driver host; (return code, whether it timed out)."""
        assert run.credentials is not None
        env = self._environment(run, [])
        key = warm.host_key(
            self.python, run.region, _sdk_target(env), extra_files, role_arn=run.credentials.role_arn
        )
        host, reused = self.pool.acquire(
            key, python=self.python, extra_files=extra_files, environment=env, credentials=run.credentials
        )
        # A warm host keeps the credentials of the role it started with, in its driver and its executors.
        env = host.environment
        command = process.script_command(self.python, script, run.job_name, run.id, run.arguments)
        request = {
            "script": str(script),
            "argv": command[1:],
            "cwd": str(run.work_dir),
            "stdout": str(run.work_dir / "stdout.log"),
            "stderr": str(run.work_dir / "stderr.log"),
            "exception_file": str(run.work_dir / "exception.txt"),
        }
        for name in ("stdout.log", "stderr.log"):
            (run.work_dir / name).touch()
        described = {"key": host.key, "pid": host.process.pid, "folder": str(host.folder), "warm": reused}
        (run.work_dir / "run.json").write_text(
            json.dumps({"command": command, "environment": env, "driver_host": described}, indent=2)
        )
        with self._lock:
            if run.stop_requested:
                self.pool.release(host, healthy=True)
                return -1, False
            run.process = host.process
            if run.state == "STARTING":
                self._set_state(run, "RUNNING")
        log.info(
            "glue run %s of %s started on %s driver host %s",
            run.id,
            run.job_name,
            "a warm" if reused else "a new",
            key,
        )
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            _signal_group(host.process, signal.SIGTERM)
            time.sleep(STOP_GRACE_SECONDS)
            _signal_group(host.process, signal.SIGKILL)

        timer = threading.Timer(run.timeout_minutes * timeout_unit_seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            returncode = host.run(request)
        finally:
            timer.cancel()
        healthy = returncode is not None and not timed_out.is_set() and not run.stop_requested
        if returncode is None:
            # The host died with the run (a stop, a timeout, or the script ended the process itself).
            returncode = host.process.wait()
        self.pool.release(host, healthy=healthy)
        return returncode, timed_out.is_set()

    def _environment(self, run: JobRun, python_path: list[Path]) -> dict[str, str]:
        assert run.credentials is not None
        return process.script_environment(
            self.environ,
            sdk=runtime_identity.sdk_environment(run.credentials, self.settings),
            region=run.region,
            python=self.python,
            python_path=python_path,
            java_home=process.find_java_home(self.environ),
        )

    def _finish(self, run: JobRun, state: str, error: str | None, stderr: str | None = None) -> None:
        # Logs first: once the state is terminal, a reader may look for them.
        stdout = _read(run.work_dir / "stdout.log") or ""
        # A run that never started its script has only the reason it did not.
        self._publish_logs(run, stdout, stderr if stderr is not None else error or "")
        with self._lock:
            run.completed_on = time.time()
            run.error_message = error
            self._set_state(run, state)
        log.info(
            "glue run %s of %s: %s in %ss%s",
            run.id,
            run.job_name,
            state,
            run.execution_seconds,
            f" ({error.splitlines()[0]})" if error else "",
        )

    def _publish_logs(self, run: JobRun, stdout: str, stderr: str) -> None:
        if run.credentials is None:
            return  # the role could not be assumed: nothing could write the run's logs
        try:
            logs = self._client("logs", run.region, run.credentials)
            for group, text in ((OUTPUT_LOG_GROUP, stdout), (ERROR_LOG_GROUP, stderr)):
                _put_lines(logs, group, run.id, text)
        except (BotoCoreError, ClientError):
            log.exception("publishing the logs of glue run %s to CloudWatch Logs", run.id)

    # -- helpers ------------------------------------------------------------------------------
    def _job(self, region: str, job_name: str) -> JobDefinition:
        from moto.glue.models import glue_backends

        try:
            job = glue_backends[self.account_id][region].jobs[job_name]
        except KeyError:
            raise EntityNotFoundException(f"Job {job_name} not found.") from None
        return JobDefinition.from_moto(job)

    def _client(self, service: str, region: str, credentials: RoleCredentials | None) -> Any:
        """A client acting as the run's role, as Glue does when it reads the script and writes the logs."""
        assert credentials is not None
        ca_bundle = self.settings.ca_bundle
        # A session per call: boto3's default session is not safe to share between run threads.
        return boto3.session.Session().client(
            service,
            endpoint_url=self.settings.internal_endpoint,
            region_name=region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            verify=str(ca_bundle) if ca_bundle is not None else None,
        )

    @staticmethod
    def _set_state(run: JobRun, state: str) -> None:
        run.state = state
        run.last_modified_on = time.time()


def _sdk_target(env: Mapping[str, str]) -> str:
    """Where a run's SDK goes and whom it trusts there: the endpoint and CA bundle of its environment."""
    return f"{env.get('AWS_ENDPOINT_URL', '')} {env.get('AWS_CA_BUNDLE', '')}"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


def _signal_group(running: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group may be gone already: the script and its JVM exited on their own.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(running.pid, sig)


# CloudWatch Logs limits: 1 MiB and 10,000 events per PutLogEvents, 256 KiB per event (26 bytes overhead).
_MAX_BATCH_BYTES = 1_000_000
_MAX_BATCH_EVENTS = 10_000
_MAX_EVENT_CHARS = 200_000


def _put_lines(logs: Any, group: str, stream: str, text: str) -> None:
    for create, kwargs in (
        (logs.create_log_group, {"logGroupName": group}),
        (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
    ):
        try:
            create(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
    now = int(time.time() * 1000)
    batch: list[dict[str, Any]] = []
    size = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        message = line[:_MAX_EVENT_CHARS]
        event_size = len(message.encode()) + 26
        if batch and (size + event_size > _MAX_BATCH_BYTES or len(batch) >= _MAX_BATCH_EVENTS):
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
            batch, size = [], 0
        batch.append({"timestamp": now, "message": message})
        size += event_size
    if batch:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
