"""The shared core of the pipeline: used by the Lambdas, the Glue job, the CLI and the tests.

Pure modules; AWS clients are passed in, never created at import time.
"""
