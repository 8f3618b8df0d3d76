"""The Lambda runtime: Invoke runs the deployed zip in pooled worker processes, as Lambda's Python runtime does."""

from emulator.lambda_runtime.responses import LambdaRuntimeExtension

__all__ = ["LambdaRuntimeExtension"]
