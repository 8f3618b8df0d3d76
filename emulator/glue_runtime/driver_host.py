"""A warm Glue driver: one Python process that runs job scripts one after another on one Spark context.

Started by the emulator's Glue runtime (emulator.glue_runtime.warm) with a job's environment; standalone,
it imports nothing of the emulator, so a job sees only what a Glue job sees. Each request, one JSON line on
stdin, names a script and its argv, the run's folder and its stdout/stderr/exception files. The host runs the
script as ``__main__`` with the run's argv, working directory and output files, then answers
``{"returncode": N}`` on the file descriptor named by ``GLUE_DRIVER_REPLY_FD``.

What stays warm between runs: the JVM and its SparkContext, Spark's Python worker daemon, and the modules of
the job's runtime and --extra-py-files (the runtime only reuses a host for the same files). What does not:
each run gets a new SparkSession of that context (its own SQL settings, temporary views and UDFs), the
environment and working directory it started with, and its own output files. A script's ``spark.stop()`` /
``sc.stop()`` leaves the context to the next run, as Glue's own context outlives a script.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from typing import Any

_REPLY_FD = int(os.environ.pop("GLUE_DRIVER_REPLY_FD", "3"))


def _keep_context_alive() -> None:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    def keep(self: Any) -> None:  # the runtime owns the context; a script's stop ends nothing
        return None

    SparkSession.stop = keep  # type: ignore[method-assign]
    SparkContext.stop = keep  # type: ignore[method-assign]


def _fresh_session() -> None:
    """Make the next ``SparkSession.builder.getOrCreate()`` answer a new session of the running context."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    base = SparkSession._instantiatedSession
    if SparkContext._active_spark_context is None or base is None:
        return  # the run's script creates the context
    session = base.newSession()
    SparkSession._instantiatedSession = session
    SparkSession._activeSession = session
    session._jvm.SparkSession.setDefaultSession(session._jsparkSession)
    session._jvm.SparkSession.setActiveSession(session._jsparkSession)


def _after_run() -> None:
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        context.cancelAllJobs()


def run_one(request: dict[str, Any]) -> int:
    environ = dict(os.environ)
    cwd = os.getcwd()
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    with open(request["stdout"], "ab") as out, open(request["stderr"], "ab") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
    try:
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        _fresh_session()
        try:
            runpy.run_path(request["script"], run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
        except BaseException as error:  # the script's failure is the run's, never the host's
            traceback.print_exc()
            with open(request["exception_file"], "w", encoding="utf-8") as record:
                record.write("".join(traceback.format_exception_only(type(error), error)))
            code = 1
        _after_run()
        return code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)


def main() -> None:
    _keep_context_alive()
    with os.fdopen(_REPLY_FD, "w", buffering=1) as replies:
        for line in sys.stdin:
            if not line.strip():
                continue
            code = run_one(json.loads(line))
            replies.write(json.dumps({"returncode": code}) + "\n")


if __name__ == "__main__":
    main()
