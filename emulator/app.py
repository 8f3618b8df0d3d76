"""The WSGI application: moto's dispatcher, with our extensions hooked in one place.

Each extension (one module per added runtime or knob) registers, in ``install``:
- interceptors: an AWS operation it answers itself, or whose request/response it adjusts
  (calling ``forward`` to let moto do the rest);
- control routes under ``/_emulator/`` (status, fire a schedule, set a fault, ...);
- patches of moto backends, where moto's own model must change behaviour.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from emulator.settings import EmulatorSettings

log = logging.getLogger("emulator")

CONTROL_PREFIX = "/_emulator/"

Handler = Callable[[Request], Response]
Matcher = Callable[[Request], bool]
# Runs before any interceptor or moto: an answer (e.g. AccessDenied) ends the request, None lets it go on.
Guard = Callable[[Request], Response | None]


class Extension(Protocol):
    name: str

    def install(self, app: EmulatorApp) -> None: ...


@dataclass(frozen=True)
class Operation:
    """The AWS service and action a request is for, as far as the wire tells."""

    target: str | None  # X-Amz-Target, e.g. "AWSStepFunctions.StartExecution"
    action: str | None  # the action name alone, e.g. "StartExecution"


def operation_of(request: Request) -> Operation:
    target = request.headers.get("X-Amz-Target")
    if target:
        return Operation(target=target, action=target.rsplit(".", 1)[-1])
    action = request.args.get("Action") or request.form.get("Action")
    return Operation(target=None, action=action)


def target_is(*targets: str) -> Matcher:
    """Match JSON-protocol requests by their X-Amz-Target header."""
    wanted = set(targets)

    def match(request: Request) -> bool:
        return request.headers.get("X-Amz-Target") in wanted

    return match


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, default=str),
        status=status,
        headers=headers or {},
        content_type="application/x-amz-json-1.0",
    )


def aws_error(code: str, message: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"__type": code, "message": message}),
        status=status,
        headers={"x-amzn-ErrorType": code},
        content_type="application/x-amz-json-1.0",
    )


class EmulatorApp:
    def __init__(self, settings: EmulatorSettings, inner: Callable[..., Iterable[bytes]]):
        self.settings = settings
        self.inner = inner
        self._interceptors: list[tuple[str, Matcher, Handler]] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self.guards: list[Guard] = []
        self.extensions: list[Extension] = []
        self.status_providers: list[Callable[[], dict[str, Any]]] = []
        from emulator.faults import FaultRegistry

        self.faults = FaultRegistry()

    # -- registration -------------------------------------------------------------------------
    def install(self, extension: Extension) -> None:
        extension.install(self)
        self.extensions.append(extension)

    def intercept(self, name: str, matcher: Matcher, handler: Handler) -> None:
        self._interceptors.append((name, matcher, handler))

    def route(self, method: str, path: str, handler: Handler) -> None:
        """A control route, served at ``/_emulator/<path>``."""
        self._routes[(method.upper(), CONTROL_PREFIX + path.strip("/"))] = handler

    # -- calling moto -------------------------------------------------------------------------
    def forward(self, request: Request, body: bytes | None = None) -> Response:
        """Let moto answer ``request`` (optionally with a replaced body) and return its response."""
        environ = dict(request.environ)
        data = request.get_data(cache=True) if body is None else body
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers

        chunks = self.inner(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return Response(payload, status=captured["status"], headers=headers)

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)(environ, start_response)
        body = request.get_data(cache=True)
        for guard in self.guards:
            try:
                refused = guard(request)
            except Exception as exc:  # a guard that fails must not let the request through unchecked
                log.exception("guard %s failed on %s", getattr(guard, "__qualname__", guard), request.path)
                refused = aws_error("InternalFailure", f"emulator guard: {exc}", 500)
            if refused is not None:
                return refused(environ, start_response)
        for name, matcher, handler in self._interceptors:
            if matcher(request):
                try:
                    response = handler(request)
                except Exception as exc:  # an extension bug must surface, not hang the caller
                    log.exception("extension %s failed on %s", name, request.path)
                    response = aws_error("InternalFailure", f"emulator extension {name}: {exc}", 500)
                return response(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.inner(environ, start_response)

    def _control(self, request: Request) -> Response:
        handler = self._routes.get((request.method, request.path.rstrip("/")))
        if handler is None:
            known = sorted(f"{m} {p}" for m, p in self._routes)
            return Response(
                json.dumps({"error": f"no control route {request.method} {request.path}", "routes": known}),
                status=404,
                content_type="application/json",
            )
        try:
            return handler(request)
        except ControlError as exc:
            return Response(
                json.dumps({"error": str(exc)}), status=exc.status, content_type="application/json"
            )


class ControlError(Exception):
    """A control request that cannot be served; its message goes back to the caller."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def control_body(request: Request, what: str = "the request body") -> dict[str, Any]:
    """A control request's JSON object body (empty: ``{}``); anything else is a ControlError naming ``what``."""
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise ControlError(f"{what} must be a JSON object: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(f"{what} must be a JSON object")
    return body


def control_json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=str), status=status, content_type="application/json")
