"""Execution environments: worker processes that run a function's handler, pooled and reused like Lambda's.

A pool serves one function version with one code digest and one configuration. An invocation takes an idle
worker (warm start) or starts a new one (cold start: the handler's module is imported first), so
concurrent invocations run in parallel in separate workers and module state survives between invocations
of the same worker. A code or configuration change retires the pool: its workers finish what they run and
exit. Workers idle for ``idle_timeout`` seconds are stopped, and all of them when the emulator stops.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulator import runtime_identity
from emulator.faults import FaultRegistry
from emulator.iam.credentials import RoleCredentials, RoleNotAssumable
from emulator.lambda_runtime import bootstrap, cloudwatch
from emulator.lambda_runtime.artifacts import Artifacts, python_runtime
from emulator.lambda_runtime.exceptions import (
    BackendError,
    InvalidParameterValue,
    InvalidRequestContent,
    InvalidRuntime,
    LambdaServiceError,
    TooManyRequests,
)
from emulator.settings import EmulatorSettings

log = logging.getLogger("emulator.lambda")

# AWS gives the init phase (importing the handler's module) 10 s of its own before the function's timeout.
INIT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0
LOG_TAIL_BYTES = 4096
RESPONSE_LIMIT = 6291556  # bytes, as AWS words it in the error
# Lambda's answer (InvalidParameterValueException) when the role's trust policy does not let it assume it.
ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
# Variables a function's configuration cannot override on AWS.
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
    }
)


# -- what is invoked ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment is built from; two configs that compare equal share workers."""

    account: str
    region: str
    name: str
    version: str
    runtime: str | None
    handler: str | None
    timeout: int
    memory_size: int
    environment: tuple[tuple[str, str], ...]
    code_digest: str
    layer_digests: tuple[str, ...]
    package_type: str
    code: bytes = field(compare=False, repr=False)
    layer_code: tuple[bytes, ...] = field(compare=False, repr=False)
    reserved_concurrency: int | None = field(compare=False)
    # The execution role: its credentials are the worker's; a new role means new workers.
    role: str = ""

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def pool_key(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.name, self.version)

    def check_runnable(self) -> None:
        if self.package_type != "Zip":
            raise InvalidRuntime(
                f"function {self.name} is a {self.package_type} package; the emulator runs zip packages only"
            )
        if self.runtime != python_runtime():
            raise InvalidRuntime(
                f"function {self.name} has Runtime {self.runtime}; the emulator runs {python_runtime()} "
                "functions only (set the function's runtime to it)"
            )
        if not self.handler:
            raise InvalidParameterValue(f"function {self.name} has no Handler (expected module.function)")
        if not self.code:
            raise InvalidParameterValue(
                f"function {self.name} has no code (its zip or S3 object was not found)"
            )


def lambda_backend(account: str, region: str) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(account, region)


@dataclass(frozen=True)
class FunctionRef:
    """A function identifier as Invoke accepts it: a name, a full or partial ARN, each with a qualifier."""

    account: str
    region: str
    name: str
    qualifier: str | None

    @classmethod
    def parse(cls, identifier: str, qualifier: str | None, account: str, region: str) -> FunctionRef:
        parts = identifier.split(":")
        if (
            identifier.startswith("arn:")
            and len(parts) in (7, 8)
            and parts[2] == "lambda"
            and parts[5] == "function"
        ):
            region, account, name = parts[3], parts[4], parts[6]
            from_name = parts[7] if len(parts) == 8 else None
        elif len(parts) in (3, 4) and parts[1] == "function":
            account, name = parts[0], parts[2]
            from_name = parts[3] if len(parts) == 4 else None
        elif len(parts) in (1, 2):
            name = parts[0]
            from_name = parts[1] if len(parts) == 2 else None
        else:
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{identifier}' at 'functionName' failed to satisfy "
                "constraint: it must be a function name, a function ARN or a partial ARN"
            )
        if from_name and qualifier and from_name != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,140}", name):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"
            )
        return cls(account, region, name, from_name or qualifier)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"

    @property
    def invoked_arn(self) -> str:
        arn = self.function_arn
        return f"{arn}:{self.qualifier}" if self.qualifier else arn

    def resolve(self) -> FunctionConfig:
        """The function's current configuration from moto's Lambda backend."""
        from moto.core.exceptions import JsonRESTError

        backend = lambda_backend(self.account, self.region)
        try:
            fn = backend.get_function(self.name, self.qualifier)
        except JsonRESTError as exc:
            raise BackendError(exc.error_type, exc.message, exc.code) from None
        layers = [backend.layers_versions_by_arn(layer["Arn"]) for layer in fn.layers]
        # Reserved concurrency belongs to the function, which moto keeps on $LATEST only.
        reserved = backend.get_function(fn.function_name, None).reserved_concurrency
        return FunctionConfig(
            account=self.account,
            region=self.region,
            name=fn.function_name,
            version=str(fn.version),
            runtime=fn.run_time,
            handler=fn.handler,
            timeout=int(fn.timeout),
            memory_size=int(fn.memory_size),
            environment=tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items())),
            code_digest=getattr(fn, "code_digest", ""),
            layer_digests=tuple(layer.code_digest for layer in layers if layer),
            package_type=fn.package_type,
            code=getattr(fn, "code_bytes", b""),
            layer_code=tuple(layer.code_bytes for layer in layers if layer),
            reserved_concurrency=None if reserved is None else int(reserved),
            role=fn.role,
        )


def check_role_assumable(role_arn: str, ref: FunctionRef) -> None:
    """What CreateFunction and UpdateFunctionConfiguration check of a Role: that Lambda can assume it for
    the function (InvalidParameterValueException otherwise, as AWS answers)."""
    try:
        runtime_identity.check_assumable(role_arn, runtime_identity.LAMBDA_SERVICE, ref.function_arn)
    except RoleNotAssumable:
        raise InvalidParameterValue(ROLE_NOT_ASSUMABLE) from None


@dataclass(frozen=True)
class Invocation:
    """One request to run the function."""

    event: str  # the payload: JSON text
    invoked_arn: str
    client_context: dict[str, Any] | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def build(cls, payload: bytes, invoked_arn: str, client_context_header: str | None) -> Invocation:
        try:
            event = payload.decode().strip() or "{}"
            json.loads(event)
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
        context = None
        if client_context_header:
            try:
                context = json.loads(base64.b64decode(client_context_header, validate=True))
            except (ValueError, binascii.Error):
                context = None
            if not isinstance(context, dict):
                raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
        return cls(event=event, invoked_arn=invoked_arn, client_context=context)


@dataclass
class InvocationResult:
    request_id: str
    payload: bytes
    function_error: bool
    log_text: str
    executed_version: str

    @property
    def log_tail(self) -> str:
        """The last 4 KB of the invocation's log, base64-encoded, as in ``X-Amz-Log-Result``."""
        return base64.b64encode(self.log_text.encode()[-LOG_TAIL_BYTES:]).decode()


def function_error(error_type: str, message: str, **extra: Any) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message, **extra}).encode()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ms(epoch_s: float) -> int:
    return int(epoch_s * 1000)


class LogRecord:
    """The CloudWatch events of one invocation, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str]] = []

    def add(self, message: str, at: float | None = None) -> None:
        if message:
            self.events.append((_ms(time.time() if at is None else at), message))

    def add_output(self, output: str, at: float) -> None:
        for line in output.splitlines():
            self.add(line.rstrip().replace("\r", "\n"), at)

    @property
    def text(self) -> str:
        return "".join(message + "\n" for _, message in self.events)


@dataclass(frozen=True)
class Outcome:
    """How an invocation ended, before it is logged and answered."""

    payload: bytes
    function_error: bool = False
    reusable: bool = True  # the worker can serve the next invocation
    log_line: str | None = None  # what the platform logs after the function's output
    status: str = ""  # the REPORT line's status fields

    @classmethod
    def timed_out(cls, request_id: str, timeout: int) -> Outcome:
        message = f"Task timed out after {timeout:.2f} seconds"
        return cls(
            function_error("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}"),
            function_error=True,
            reusable=False,
            log_line=f"{_iso(time.time())} {request_id} {message}",
            status="\tStatus: timeout",
        )

    @classmethod
    def exited(cls, request_id: str, how: str) -> Outcome:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        return cls(
            function_error("Runtime.ExitError", message),
            function_error=True,
            reusable=False,
            log_line=f"{message}\nRuntime.ExitError",
            status=_error_status("Runtime.ExitError"),
        )


def _error_status(error_type: str) -> str:
    return f"\tStatus: error\tError Type: {error_type}"


def _report(request_id: str, duration_ms: float, memory_size: int, used_mb: int, extras: str) -> str:
    return (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {used_mb} MB{extras}\t"
    )


# -- one execution environment ----------------------------------------------------------------------


class WorkerTimeout(Exception):
    pass


class WorkerExited(Exception):
    pass


class Worker:
    """One execution environment: a Python process running ``bootstrap.py`` for one function config."""

    def __init__(
        self,
        config: FunctionConfig,
        import_path: list[Path],
        task_root: Path,
        scratch: Path,
        settings: EmulatorSettings,
    ):
        self.config = config
        self.id = uuid.uuid4().hex
        self.created = time.time()
        self.log_stream = f"{datetime.fromtimestamp(self.created, UTC):%Y/%m/%d}/[{config.version}]{self.id}"
        self.invocations = 0
        self.last_used = time.monotonic()
        self.max_rss_kb = 0
        self._import_path = import_path
        self._task_root = task_root
        self._output_path = scratch / f"{self.id}.log"
        self._output_offset = 0
        self._settings = settings
        self.credentials: RoleCredentials | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Any = None
        self._responses = -1
        self._selector: selectors.BaseSelector | None = None
        self._buffer = bytearray()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def assume_role(self) -> RoleCredentials:
        """The execution role's temporary credentials for this environment, in a session named after the
        function as Lambda names it; InvalidParameterValue when the role does not trust Lambda."""
        config = self.config
        try:
            self.credentials = runtime_identity.assume_role(
                config.role, config.name, config.region, runtime_identity.LAMBDA_SERVICE, config.arn
            )
        except RoleNotAssumable:
            raise InvalidParameterValue(ROLE_NOT_ASSUMABLE) from None
        return self.credentials

    def needs_new_credentials(self) -> bool:
        """Whether the credentials it started with expire too soon for it to take another invocation."""
        return self.credentials is not None and runtime_identity.needs_renewal(self.credentials)

    def environment(self) -> dict[str, str]:
        config = self.config
        credentials = self.credentials or self.assume_role()
        # The emulator's endpoint (and CA bundle over TLS), which the function's own variables may override
        # as on AWS; its role's credentials are reserved variables, set below.
        sdk = runtime_identity.sdk_environment(credentials, self._settings)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8"}
        env.update((k, v) for k, v in sdk.items() if k not in RESERVED_VARIABLES)
        env.update((k, v) for k, v in config.environment if k not in RESERVED_VARIABLES)
        env.update(credentials.environment())
        env.update(
            {
                "_HANDLER": config.handler or "",
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": config.version,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "LAMBDA_TASK_ROOT": str(self._task_root),
                "LAMBDA_RUNTIME_DIR": str(self._import_path[-1]),
                "TZ": "UTC",
                # Keep the developer's ~/.aws files (profiles, endpoints, regions) out of the function's SDK.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        return env

    def start(self) -> dict[str, Any] | None:
        """Start the process and import the handler's module: None when ready, else AWS's init error."""
        self.assume_role()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        spec = {
            "path": [str(p) for p in self._import_path],
            "request_fd": request_read,
            "response_fd": response_write,
        }
        command = [sys.executable, "-I", "-S", "-B", "-u", "-X", "utf8", bootstrap.__file__, json.dumps(spec)]
        # Ours from the start, so that ``stop`` closes them even if the process never starts.
        self._requests = os.fdopen(request_write, "wb")
        self._responses = response_read
        try:
            with open(self._output_path, "ab") as output:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    cwd=self._task_root,
                    pass_fds=(request_read, response_write),
                    # Its own process group, so a timeout also stops what the handler started.
                    start_new_session=True,
                )
        finally:
            os.close(request_read)
            os.close(response_write)
        self._selector = selectors.DefaultSelector()
        self._selector.register(response_read, selectors.EVENT_READ)
        message = self._receive(time.monotonic() + INIT_TIMEOUT_S + self.config.timeout)
        if message["type"] == "init_error":
            return message["error"]
        return None

    def invoke(self, invocation: Invocation, deadline_epoch_s: float) -> dict[str, Any]:
        """Run one invocation; raises WorkerTimeout or WorkerExited."""
        self.invocations += 1
        request = {
            "request_id": invocation.request_id,
            "event": invocation.event,
            "deadline_ms": _ms(deadline_epoch_s),
            "invoked_function_arn": invocation.invoked_arn,
            "client_context": invocation.client_context,
        }
        try:
            self._requests.write(json.dumps(request).encode() + b"\n")
            self._requests.flush()
        except (BrokenPipeError, ValueError):
            raise WorkerExited() from None
        message = self._receive(time.monotonic() + max(deadline_epoch_s - time.time(), 0))
        self.max_rss_kb = max(self.max_rss_kb, int(message.get("max_rss_kb", 0)))
        return message

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            if self._selector is None or not self._selector.select(remaining):
                continue
            chunk = os.read(self._responses, 1 << 16)
            if not chunk:
                raise WorkerExited()
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return json.loads(line)

    def take_output(self) -> str:
        """What the process wrote to stdout/stderr since the last call."""
        try:
            with open(self._output_path, "rb") as output:
                output.seek(self._output_offset)
                data = output.read()
        except FileNotFoundError:
            return ""
        self._output_offset += len(data)
        return data.decode(errors="replace")

    def peak_memory_mb(self) -> int:
        return math.ceil(max(self.max_rss_kb, self._peak_from_proc()) / 1024)

    def _peak_from_proc(self) -> int:
        # Where /proc exists, it also knows the peak of a worker that never reported (it timed out).
        if self._process is None or self._process.poll() is not None:
            return 0
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0
        match = re.search(r"VmHWM:\s+(\d+)", status)
        return int(match.group(1)) if match else 0

    def exit_description(self) -> str:
        code = self._process.wait(timeout=5) if self._process else None
        if code is not None and code < 0:
            return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        return f"exit status {code}"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """Stop the process and whatever it started; its output stays readable until ``stop``."""
        process = self._process
        if process is not None and process.poll() is None:
            self.max_rss_kb = max(self.max_rss_kb, self._peak_from_proc())
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        if self._requests is not None:
            with contextlib.suppress(OSError):  # the worker is gone: nothing left to flush to
                self._requests.close()
            self._requests = None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._responses >= 0:
            os.close(self._responses)
            self._responses = -1
        self._output_path.unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "log_stream": self.log_stream,
            "invocations": self.invocations,
            "idle_s": round(time.monotonic() - self.last_used, 1),
        }


# -- pools -------------------------------------------------------------------------------------------


class Pool:
    """The workers of one function configuration: idle ones wait for the next invocation."""

    def __init__(self, config: FunctionConfig):
        self.config = config
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self.retired = False

    def acquire(self, reserved_concurrency: int | None, new_worker: Any) -> tuple[Worker, bool]:
        """A warm worker if one is idle (``False``), else a new, not yet started one (``True``)."""
        stale: list[Worker] = []
        try:
            with self._lock:
                if reserved_concurrency is not None and len(self._busy) >= reserved_concurrency:
                    raise TooManyRequests(
                        "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"
                    )
                while self._idle:
                    worker = self._idle.pop()
                    # A worker whose role credentials are about to expire makes way for one with new ones.
                    if worker.alive() and not worker.needs_new_credentials():
                        self._busy.add(worker)
                        return worker, False
                    stale.append(worker)
                worker = new_worker(self.config)
                self._busy.add(worker)
                return worker, True
        finally:
            for worker in stale:
                worker.stop()

    def release(self, worker: Worker, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            if reusable and not self.retired and worker.alive():
                worker.last_used = time.monotonic()
                self._idle.append(worker)
                return
        worker.stop()

    def retire(self, stop_busy: bool = False) -> None:
        """Take no more invocations; idle workers stop now, busy ones when done (or now: ``stop_busy``)."""
        with self._lock:
            self.retired = True
            idle, self._idle = self._idle, []
            busy = list(self._busy) if stop_busy else []
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.kill()  # the invoking thread sees it exit, answers, and releases it

    def reap(self, idle_timeout: float) -> None:
        cutoff = time.monotonic() - idle_timeout
        with self._lock:
            expired = [w for w in self._idle if w.last_used < cutoff]
            self._idle = [w for w in self._idle if w.last_used >= cutoff]
        for worker in expired:
            worker.stop()

    @property
    def empty(self) -> bool:
        with self._lock:
            return not self._idle and not self._busy

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "function": self.config.name,
                "version": self.config.version,
                "region": self.config.region,
                "code_digest": self.config.code_digest,
                "busy": [w.describe() for w in self._busy],
                "idle": [w.describe() for w in self._idle],
            }


# -- the service -------------------------------------------------------------------------------------


class LambdaService:
    """Runs invocations on pooled workers; one per emulator."""

    def __init__(
        self, settings: EmulatorSettings, faults: FaultRegistry, idle_timeout: float = IDLE_TIMEOUT_S
    ):
        work_dir = settings.work_dir
        self.artifacts = Artifacts(work_dir / "lambda")
        self._scratch = work_dir / "lambda" / "workers"
        self._settings = settings
        self._faults = faults
        self._idle_timeout = idle_timeout
        self._pools: dict[tuple[str, str, str, str], Pool] = {}
        self._retired: list[Pool] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None

    def invoke(self, ref: FunctionRef, invocation: Invocation) -> InvocationResult:
        config = ref.resolve()
        fault = self._faults.current().fail_lambda.get(config.name)
        if fault is not None:
            return self._emulated_fault(config, invocation, fault)
        config.check_runnable()
        pool = self._pool_for(config)
        worker, cold = pool.acquire(config.reserved_concurrency, self._new_worker)
        reusable = False
        try:
            result, reusable = self._run(worker, cold, invocation)
        finally:
            pool.release(worker, reusable)
        return result

    def _run(self, worker: Worker, cold: bool, invocation: Invocation) -> tuple[InvocationResult, bool]:
        """Run ``invocation`` on ``worker``; also says whether the worker can serve the next one."""
        config, request_id = worker.config, invocation.request_id
        record = LogRecord()
        init_ms = None
        if cold:
            clock = time.monotonic()
            failure = self._start(worker, request_id)
            init_ms = (time.monotonic() - clock) * 1000
            record.add_output(worker.take_output(), time.time())
            if failure is not None:
                record.add(f"START RequestId: {request_id} Version: {config.version}")
                return self._complete(worker, record, request_id, 0.0, init_ms, failure)
        record.add(f"START RequestId: {request_id} Version: {config.version}")
        clock = time.monotonic()
        outcome = self._call(worker, invocation)
        return self._complete(worker, record, request_id, (time.monotonic() - clock) * 1000, init_ms, outcome)

    @staticmethod
    def _start(worker: Worker, request_id: str) -> Outcome | None:
        """Start ``worker`` and import the handler's module; the failed invocation's outcome if that fails."""
        try:
            init_error = worker.start()
        except WorkerTimeout:
            worker.kill()
            return Outcome.timed_out(request_id, worker.config.timeout)
        except WorkerExited:
            return Outcome.exited(request_id, worker.exit_description())
        if init_error is None:
            return None
        # The bootstrap logged the error itself, as AWS's runtime does.
        return Outcome(
            json.dumps(init_error).encode(), True, False, status=_error_status(init_error["errorType"])
        )

    @staticmethod
    def _call(worker: Worker, invocation: Invocation) -> Outcome:
        try:
            message = worker.invoke(invocation, time.time() + worker.config.timeout)
        except WorkerTimeout:
            worker.kill()
            return Outcome.timed_out(invocation.request_id, worker.config.timeout)
        except WorkerExited:
            return Outcome.exited(invocation.request_id, worker.exit_description())
        if message["type"] == "error":
            return Outcome(json.dumps(message["error"]).encode(), function_error=True)
        payload = message["payload"].encode()
        if len(payload) > RESPONSE_LIMIT:
            error = f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes)."
            return Outcome(function_error("Function.ResponseSizeTooLarge", error), function_error=True)
        return Outcome(payload)

    @staticmethod
    def _complete(
        worker: Worker,
        record: LogRecord,
        request_id: str,
        duration_ms: float,
        init_ms: float | None,
        outcome: Outcome,
    ) -> tuple[InvocationResult, bool]:
        config = worker.config
        now = time.time()
        record.add_output(worker.take_output(), now)
        if outcome.log_line:
            record.add(outcome.log_line, now)
        record.add(f"END RequestId: {request_id}")
        init = f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""
        record.add(
            _report(
                request_id, duration_ms, config.memory_size, worker.peak_memory_mb(), init + outcome.status
            )
        )
        cloudwatch.put_events(
            config.account, config.region, config.log_group, worker.log_stream, record.events
        )
        result = InvocationResult(
            request_id, outcome.payload, outcome.function_error, record.text, config.version
        )
        return result, outcome.reusable

    def _emulated_fault(
        self, config: FunctionConfig, invocation: Invocation, message: str
    ) -> InvocationResult:
        request_id = invocation.request_id
        record = LogRecord()
        record.add(f"START RequestId: {request_id} Version: {config.version}")
        record.add(f"[ERROR] EmulatedFault: {message}")
        record.add(f"END RequestId: {request_id}")
        record.add(_report(request_id, 0.0, config.memory_size, 0, _error_status("EmulatedFault")))
        # No execution environment ran: the invocation gets a log stream of its own.
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[{config.version}]{uuid.uuid4().hex}"
        cloudwatch.put_events(config.account, config.region, config.log_group, stream, record.events)
        payload = function_error("EmulatedFault", message, requestId=request_id, stackTrace=[])
        return InvocationResult(request_id, payload, True, record.text, config.version)

    # -- pools and workers --------------------------------------------------------------------------

    def _pool_for(self, config: FunctionConfig) -> Pool:
        with self._lock:
            if self._stopping.is_set():
                raise LambdaServiceError("the emulator is shutting down")
            pool = self._pools.get(config.pool_key)
            if pool is not None and pool.config == config:
                return pool
            if pool is not None:
                pool.retire()
                self._retired.append(pool)
            pool = self._pools[config.pool_key] = Pool(config)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap_forever, name="lambda-reaper", daemon=True)
                self._reaper.start()
            return pool

    def _new_worker(self, config: FunctionConfig) -> Worker:
        task_root = self.artifacts.unpacked("code", config.code_digest, config.code)
        import_path = [task_root]
        # A later layer overrides an earlier one's files in /opt on AWS: it comes first on the path here.
        for digest, code in reversed(list(zip(config.layer_digests, config.layer_code, strict=True))):
            layer = self.artifacts.unpacked("layers", digest, code)
            version = python_runtime()
            candidates = [layer / "python" / "lib" / version / "site-packages", layer / "python"]
            import_path.extend(p for p in candidates if p.is_dir())
        import_path.append(self.artifacts.runtime_dir())
        self._scratch.mkdir(parents=True, exist_ok=True)
        return Worker(config, import_path, task_root, self._scratch, self._settings)

    def _reap_forever(self) -> None:
        while not self._stopping.wait(min(30.0, self._idle_timeout / 2)):
            with self._lock:
                pools = list(self._pools.values()) + self._retired
            for pool in pools:
                pool.reap(self._idle_timeout)
            with self._lock:
                self._retired = [p for p in self._retired if not p.empty]

    def describe(self) -> dict[str, Any]:
        with self._lock:
            pools = list(self._pools.values())
        return {"pools": [pool.describe() for pool in pools]}

    def worker_count(self) -> int:
        return sum(len(pool["busy"]) + len(pool["idle"]) for pool in self.describe()["pools"])

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            pools = list(self._pools.values()) + self._retired
            self._pools.clear()
            self._retired.clear()
        for pool in pools:
            pool.retire(stop_busy=True)
