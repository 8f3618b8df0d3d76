"""The runtime inside one Lambda execution environment (a worker process).

Started by the emulator as ``python -I -S -B -u bootstrap.py <spec>``: no site-packages, no PYTHON* variables,
so this file may import the standard library only. ``<spec>`` is JSON: the import path to set (the unpacked
zip, the layers, the runtime directory) and the two pipe descriptors that carry the protocol, so that the
handler's own stdout/stderr stay free for its logs.

Protocol, one JSON object per line. To the emulator, once: ``{"type": "ready"}`` after the handler's module
imported, or ``{"type": "init_error", "error": {...}}`` and exit. Then for each invocation the emulator sends
``{"request_id", "event", "deadline_ms", "invoked_function_arn", "client_context"}`` (``event`` is the JSON
text of the payload) and gets ``{"type": "result", "payload": <JSON text>}`` or ``{"type": "error",
"error": {...}}``, both with ``max_rss_kb``. Errors have the shape AWS's Python runtime returns:
``{"errorMessage", "errorType", "requestId", "stackTrace"}``.

Mirrors AWS's runtime interface client where user code can tell: error types and messages
(``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``, ...), the context object (``memory_limit_in_mb``
is a string there too), and the root logger's pre-installed handler (so ``logging.basicConfig`` is a no-op
and ``logging.info`` is silent until the level is lowered, as on AWS).
"""

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback

_request_id = ""


class FaultError(Exception):
    """A failure of the runtime itself, reported with AWS's ``Runtime.*`` error type."""

    def __init__(self, error_type, message, stack_trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def make_error(message, error_type, stack_trace, request_id=""):
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def error_from_exception(exc, request_id=""):
    frames = traceback.extract_tb(exc.__traceback__)
    # The user's frames only: the first ones are this file's.
    while frames and frames[0].filename == __file__:
        frames = frames[1:]
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def log_error(error):
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    write_log_event("\n".join(lines))


def write_log_event(text):
    # One CloudWatch event per line of output; a multi-line message (a traceback) travels with its newlines
    # turned into carriage returns so it stays one event, as AWS's runtime does.
    sys.stderr.write(text.replace("\n", "\r") + "\n")
    sys.stderr.flush()


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        try:
            write_log_event(self.format(record))
        except Exception:
            self.handleError(record)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


def setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class Client:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = Client(data["client"]) if data.get("client") else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity()
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message):
        sys.stdout.write(str(message))
        sys.stdout.flush()

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def load_handler(handler):
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        # AWS reports a missing handler on every invocation, not at init.
        fault = FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )

        def missing(event, context):
            raise fault

        return missing
    return function


def max_rss_kb():
    # Linux carries ru_maxrss over exec, so it would report the emulator's own peak: prefer the process's
    # high-water mark where /proc has it.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


class Channel:
    def __init__(self, request_fd, response_fd):
        self._requests = os.fdopen(request_fd, "rb")
        self._responses = os.fdopen(response_fd, "wb")

    def receive(self):
        line = self._requests.readline()
        return json.loads(line) if line else None

    def send(self, message):
        self._responses.write(json.dumps(message).encode() + b"\n")
        self._responses.flush()


def handle(handler, request):
    global _request_id
    _request_id = request["request_id"]
    context = LambdaContext(
        request["request_id"],
        request["deadline_ms"],
        request["invoked_function_arn"],
        request.get("client_context"),
    )
    try:
        result = handler(json.loads(request["event"]), context)
    except FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.stack_trace, _request_id)
    except Exception as exc:
        error = error_from_exception(exc, _request_id)
    else:
        try:
            return {"type": "result", "payload": json.dumps(result)}
        except (TypeError, ValueError) as exc:
            error = make_error(f"Unable to marshal response: {exc}", "Runtime.MarshalError", [], _request_id)
    log_error(error)
    return {"type": "error", "error": error}


def main():
    spec = json.loads(sys.argv[1])
    sys.path[:0] = spec["path"]
    channel = Channel(spec["request_fd"], spec["response_fd"])
    setup_logging()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.stack_trace)
    except Exception as exc:
        error = error_from_exception(exc)
    else:
        error = None
    if error is not None:
        log_error(error)
        channel.send({"type": "init_error", "error": error})
        return 1
    channel.send({"type": "ready"})
    while (request := channel.receive()) is not None:
        response = handle(handler, request)
        sys.stdout.flush()
        sys.stderr.flush()
        response["max_rss_kb"] = max_rss_kb()
        channel.send(response)
    return 0


if __name__ == "__main__":
    sys.exit(main())
