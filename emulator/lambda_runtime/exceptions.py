"""Errors of the Lambda Invoke API, one class per AWS error code."""

from __future__ import annotations


class LambdaServiceError(Exception):
    """An Invoke request Lambda refuses; answered as a rest-json error with ``code`` and ``status``."""

    code = "ServiceException"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"Type": "User", "message": self.message}


class ResourceNotFound(LambdaServiceError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidParameterValue(LambdaServiceError):
    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContent(LambdaServiceError):
    code = "InvalidRequestContentException"
    status = 400


class RequestTooLarge(LambdaServiceError):
    code = "RequestTooLargeException"
    status = 413


class TooManyRequests(LambdaServiceError):
    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason

    def body(self) -> dict[str, str]:
        return {**super().body(), "Reason": self.reason}


class InvalidRuntime(LambdaServiceError):
    """The function cannot run here: not a zip package for the emulator's Python runtime."""

    code = "InvalidRuntimeException"
    status = 502


class InvalidZipFile(LambdaServiceError):
    code = "InvalidZipFileException"
    status = 502


class BackendError(LambdaServiceError):
    """An error moto's Lambda backend raised while looking the function up, passed on as it is."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code = code
        self.status = status
