"""Wire handlers for Lambda Invoke (and the legacy InvokeAsync), answered by our runtime instead of moto's."""

from __future__ import annotations

import json
import logging
import re
import threading

from werkzeug.wrappers import Request, Response

from emulator.app import EmulatorApp, control_json
from emulator.lambda_runtime.exceptions import InvalidParameterValue, LambdaServiceError, RequestTooLarge
from emulator.lambda_runtime.models import (
    FunctionRef,
    Invocation,
    InvocationResult,
    LambdaService,
    check_role_assumable,
)
from emulator.settings import ACCOUNT_ID

log = logging.getLogger("emulator.lambda")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")
INVOKE_ASYNC_PATH = re.compile(r"^/2014-11-13/functions/(?P<function>[^/]+)/invoke-async/?$")
CREATE_FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/?$")
UPDATE_CONFIGURATION_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/configuration/?$")
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/")
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/")
# Invoke's request payload quotas.
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024


def _matches(pattern: re.Pattern[str], method: str = "POST"):
    def match(request: Request) -> bool:
        return request.method == method and pattern.match(request.path) is not None

    return match


class LambdaRuntimeExtension:
    name = "lambda_runtime"

    def __init__(self) -> None:
        self.service: LambdaService | None = None
        self._region = "us-east-1"

    def install(self, app: EmulatorApp) -> None:
        settings = app.settings
        self._region = settings.region
        self.service = LambdaService(settings, app.faults)
        app.intercept("lambda.invoke", _matches(INVOKE_PATH), self._invoke)
        app.intercept("lambda.invoke_async", _matches(INVOKE_ASYNC_PATH), self._invoke_async)
        # CreateFunction and UpdateFunctionConfiguration refuse a role Lambda cannot assume, as on AWS.
        app.intercept(
            "lambda.create_function",
            _matches(CREATE_FUNCTION_PATH),
            lambda request: self._check_role(app, request, None),
        )
        app.intercept(
            "lambda.update_function_configuration",
            _matches(UPDATE_CONFIGURATION_PATH, "PUT"),
            lambda request: self._check_role(app, request, UPDATE_CONFIGURATION_PATH),
        )
        app.route("GET", "lambda", lambda _request: control_json(self._service.describe()))
        app.status_providers.append(lambda: {"lambda_workers": self._service.worker_count()})

    def shutdown(self) -> None:
        if self.service is not None:
            self.service.shutdown()

    @property
    def _service(self) -> LambdaService:
        assert self.service is not None, "install() first"
        return self.service

    # -- handlers -----------------------------------------------------------------------------------

    def _invoke(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except LambdaServiceError as exc:
            return _error(exc)

    def _dispatch(self, request: Request) -> Response:
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        log_type = request.headers.get("X-Amz-Log-Type", "None")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy "
                "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )
        if log_type not in ("None", "Tail"):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [None, Tail]"
            )
        ref = self._function_ref(request, INVOKE_PATH)
        payload = request.get_data()
        limit = SYNC_PAYLOAD_LIMIT if invocation_type == "RequestResponse" else ASYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the Invoke operation")
        invocation = Invocation.build(payload, ref.invoked_arn, request.headers.get("X-Amz-Client-Context"))
        if invocation_type == "DryRun":
            config = ref.resolve()
            config.check_runnable()
            return Response(b"", status=204, headers=_headers(invocation.request_id))
        if invocation_type == "Event":
            ref.resolve().check_runnable()
            self._in_background(ref, invocation)
            return Response(b"", status=202, headers=_headers(invocation.request_id))
        result = self._service.invoke(ref, invocation)
        return _invoke_response(result, tail=log_type == "Tail")

    def _check_role(self, app: EmulatorApp, request: Request, path: re.Pattern[str] | None) -> Response:
        """Refuse the request when its Role does not trust lambda.amazonaws.com; else moto answers it."""
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return app.forward(request)  # moto answers the malformed request as it does
        role = body.get("Role") if isinstance(body, dict) else None
        if isinstance(role, str) and ROLE_ARN.match(role):
            if path is None:
                name = str(body.get("FunctionName") or "")
            else:
                match = path.match(request.path)
                assert match is not None
                name = match.group("function")
            scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
            region = scope.group("region") if scope else self._region
            try:
                ref = FunctionRef.parse(name, None, ACCOUNT_ID, region)
            except LambdaServiceError:
                return app.forward(request)  # moto validates the name
            try:
                check_role_assumable(role, ref)
            except LambdaServiceError as exc:
                return _error(exc)
        return app.forward(request)

    def _invoke_async(self, request: Request) -> Response:
        try:
            ref = self._function_ref(request, INVOKE_ASYNC_PATH)
            invocation = Invocation.build(request.get_data(), ref.invoked_arn, None)
            ref.resolve().check_runnable()
        except LambdaServiceError as exc:
            return _error(exc)
        self._in_background(ref, invocation)
        return Response(json.dumps({"Status": 202}), status=202, headers=_headers(invocation.request_id))

    def _in_background(self, ref: FunctionRef, invocation: Invocation) -> None:
        def run() -> None:
            try:
                result = self._service.invoke(ref, invocation)
            except Exception:
                log.exception("event invocation %s of %s", invocation.request_id, ref.name)
                return
            if result.function_error:
                log.info(
                    "event invocation %s of %s failed: %s",
                    invocation.request_id,
                    ref.name,
                    result.payload[:500],
                )

        threading.Thread(target=run, name=f"lambda-event-{invocation.request_id[:8]}", daemon=True).start()

    def _function_ref(self, request: Request, pattern: re.Pattern[str]) -> FunctionRef:
        match = pattern.match(request.path)
        assert match is not None
        scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
        region = scope.group("region") if scope else self._region
        return FunctionRef.parse(match.group("function"), request.args.get("Qualifier"), ACCOUNT_ID, region)


def _headers(request_id: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id, "Content-Type": "application/json"}


def _invoke_response(result: InvocationResult, tail: bool) -> Response:
    headers = _headers(result.request_id)
    headers["X-Amz-Executed-Version"] = result.executed_version
    if result.function_error:
        headers["X-Amz-Function-Error"] = "Unhandled"
    if tail:
        headers["X-Amz-Log-Result"] = result.log_tail
    return Response(result.payload, status=200, headers=headers)


def _error(exc: LambdaServiceError) -> Response:
    return Response(
        json.dumps(exc.body()),
        status=exc.status,
        headers={"x-amzn-ErrorType": exc.code, "Content-Type": "application/json"},
    )
