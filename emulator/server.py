"""Start and stop the emulator: moto's server with our extensions, on one local port."""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from emulator.app import EmulatorApp, control_json
from emulator.request_guard import RequestGuard
from emulator.settings import ACCOUNT_ID, EmulatorSettings, netloc
from emulator.tls import (
    DualProtocolWSGIServer,
    KeepAliveMixin,
    TlsSchemeMixin,
    ensure_certificates,
    server_context,
)

log = logging.getLogger("emulator")


class EmulatorError(Exception):
    """Bad use of the emulator, with a message that says what to do."""


def _configure_moto(settings: EmulatorSettings) -> None:
    # The ASL interpreter calls Lambda and Glue back over HTTP on localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(settings.port)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    default_user_config["lambda"]["use_docker"] = False
    default_user_config["batch"]["use_docker"] = False
    from moto.moto_server import werkzeug_app

    # moto wraps every service app in flask-cors with "*" origins: any web page could read its answers.
    werkzeug_app.DISABLE_GLOBAL_CORS = True


def _extensions(app: EmulatorApp) -> list[Any]:
    """Every extension, hooked in this one place."""
    from emulator import (
        dynamodb_capacity,
        dynamodb_faults,
        faults,
        glue_runtime,
        message_text,
        outbox,
        scheduler,
        size_limits,
        speedups,
        sqs_redrive,
        stepfunctions_ext,
    )
    from emulator.iam.enforce import IamExtension
    from emulator.lambda_runtime import LambdaRuntimeExtension
    from emulator.terraform_compat import TerraformCompatExtension

    return [
        speedups.SpeedupsExtension(),
        IamExtension(),
        message_text.MessageTextExtension(),
        faults.FaultsExtension(app.faults),
        dynamodb_faults.DynamoDBFaultsExtension(app.faults),
        dynamodb_capacity.CapacityExtension(),
        size_limits.SizeLimitsExtension(),
        outbox.OutboxExtension(),
        sqs_redrive.SqsRedriveExtension(),
        scheduler.SchedulerExtension(),
        stepfunctions_ext.StepFunctionsExtension(),
        TerraformCompatExtension(),
        glue_runtime.GlueRuntimeExtension(),
        LambdaRuntimeExtension(),
    ]


def build_app(settings: EmulatorSettings) -> EmulatorApp:
    _configure_moto(settings)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = EmulatorApp(settings, DomainDispatcherApplication(create_backend_app))
    for extension in _extensions(app):
        app.install(extension)
    started = time.time()
    instance_id = uuid.uuid4().hex

    def status(request: Any) -> Any:
        info: dict[str, Any] = {
            "endpoint": settings.endpoint,
            "tls": {
                "endpoint": settings.internal_endpoint,
                "ca_bundle": str(settings.ca_bundle),
                # What the server made of this very request: "https" over TLS (aws:SecureTransport).
                "request_scheme": request.scheme,
            },
            "pid": os.getpid(),
            # Changes with every start: moto's state lives in memory, so local Terraform state that
            # belongs to another instance is stale.
            "instance_id": instance_id,
            "uptime_s": round(time.time() - started, 1),
            "account_id": ACCOUNT_ID,
            "region": settings.region,
            "state_dir": str(settings.state_dir),
            "extensions": [e.name for e in app.extensions],
        }
        for provider in app.status_providers:
            info.update(provider())
        return control_json(info)

    app.route("GET", "status", status)
    return app


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server itself binds: connections in TIME_WAIT from a previous run don't make the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(
                    f"port {port} on {host} is already in use. If it is a running emulator, "
                    "`make down` stops it; otherwise set EMULATOR_PORT to a free port."
                ) from None
            raise


@functools.cache
def _request_handler() -> type[WSGIRequestHandler]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class EmulatorRequestHandler(TlsSchemeMixin, KeepAliveMixin, MotoRequestHandler):
        """moto's handler (S3 metadata headers with underscores), with the scheme of each connection and
        keep-alive."""

    return EmulatorRequestHandler


class EmulatorServer:
    """The emulator in this process: ``start()`` serves in a thread, ``serve_forever()`` in the foreground."""

    def __init__(self, settings: EmulatorSettings | None = None):
        self.settings = settings or EmulatorSettings.from_env()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: EmulatorApp | None = None

    def _bind(self) -> BaseWSGIServer:
        settings = self.settings
        check_port_free(settings.host, settings.port)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_certificates(settings.tls_files, settings.server_names)
        self.app = build_app(settings)
        server = DualProtocolWSGIServer(
            settings.host,
            settings.port,
            RequestGuard(self.app, settings.allowed_hosts),
            _request_handler(),
            tls_context=server_context(settings.tls_files),
        )
        listening = netloc(*server.socket.getsockname()[:2])
        self.app.status_providers.append(lambda: {"listening": listening})
        self._server = server
        return server

    def start(self) -> EmulatorServer:
        server = self._bind()
        self._thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        server = self._bind()
        try:
            server.serve_forever()
        finally:
            self._shutdown_extensions()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._shutdown_extensions()

    def _shutdown_extensions(self) -> None:
        for extension in self.app.extensions if self.app else []:
            shutdown = getattr(extension, "shutdown", None)
            if shutdown:
                try:
                    shutdown()
                except Exception:
                    log.exception("shutting down %s", extension.name)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
