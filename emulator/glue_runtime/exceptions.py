"""Glue errors the runtime answers with, one class per AWS error code."""

from __future__ import annotations


class GlueError(Exception):
    code = "InternalServiceException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class EntityNotFoundException(GlueError):
    code = "EntityNotFoundException"


class ConcurrentRunsExceededException(GlueError):
    code = "ConcurrentRunsExceededException"


class InvalidInputException(GlueError):
    code = "InvalidInputException"
