"""How a job script is launched: the Java it needs, its command line and environment, and how its failure reads.

Pure functions of their inputs (no AWS, no processes), so the launch contract is visible in one place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

JAVA_MISSING = (
    "Java 17 is needed to run Glue Spark jobs locally (PySpark 3.5.4, the Glue 5.0 runtime), and none was "
    "found: install a JDK 17 (e.g. the openjdk-17-jdk-headless package) and put `java` on PATH or set "
    "JAVA_HOME, then restart the emulator."
)

# Inherited variables that would point the job at another Python, Spark or AWS account than the emulator's.
_DROPPED_PREFIXES = ("AWS_", "PYTHON", "PYSPARK_")
_DROPPED = {"SPARK_HOME", "SPARK_CONF_DIR"}

_SITECUSTOMIZE = '''\
"""Set up by the emulator's Glue runtime for this job run (driver and Spark workers alike)."""

import sys
import traceback

# A development install of the project (`pip install -e .`) would make its packages importable in every
# job and hide a missing --extra-py-files that Glue would need: Glue has only its runtime and those files.
sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]
sys.path[:] = [p for p in sys.path if not p.startswith("__editable__")]
for _key in [k for k in sys.path_importer_cache if k.startswith("__editable__")]:
    del sys.path_importer_cache[_key]

_ERROR_FILE = {error_file!r}
_previous_hook = sys.excepthook


def _record_failure(kind, value, tb):
    # The exception itself, apart from whatever Spark logs around it, for the run's ErrorMessage.
    try:
        with open(_ERROR_FILE, "w", encoding="utf-8") as out:
            out.write("".join(traceback.format_exception_only(kind, value)))
    finally:
        _previous_hook(kind, value, tb)


sys.excepthook = _record_failure
'''

_MAX_ERROR_CHARS = 4000


def find_java_home(environ: Mapping[str, str]) -> Path | None:
    """The JDK PySpark would use: JAVA_HOME if it holds a java, else the one `java` on PATH belongs to."""
    java_home = environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return Path(java_home)
    java = shutil.which("java", path=environ.get("PATH", ""))
    if java is None:
        return None
    # bin/java is usually a chain of symlinks (/usr/bin/java -> /etc/alternatives -> the JDK).
    return Path(os.path.realpath(java)).parent.parent


def script_command(
    python: str, script: Path, job_name: str, run_id: str, arguments: Mapping[str, str]
) -> list[str]:
    """Glue's command line: the run's arguments as ``--key value`` pairs, plus the run's identity.

    The identity goes last so that it wins in argparse (which ``getResolvedOptions`` uses) over any
    same-named argument.
    """
    command = [python, str(script)]
    for key, value in arguments.items():
        command += [key, value]
    return command + ["--JOB_NAME", job_name, "--JOB_RUN_ID", run_id]


def import_path(entry: Path) -> Path:
    """The sys.path entry of an --extra-py-files entry: a .py file is imported from its folder; a zip (or egg,
    wheel) is a path entry itself."""
    return entry.parent if entry.suffix == ".py" else entry


def script_environment(
    inherited: Mapping[str, str],
    *,
    sdk: Mapping[str, str],
    region: str,
    python: str,
    python_path: Sequence[Path],
    java_home: Path | None,
) -> dict[str, str]:
    """The job's environment, for the driver and executors alike: ``sdk`` holds the job role's credentials
    and the emulator's endpoint (and CA bundle), as runtime_identity.sdk_environment builds them."""
    env = {
        key: value
        for key, value in inherited.items()
        if not key.startswith(_DROPPED_PREFIXES) and key not in _DROPPED
    }
    env.update(sdk)
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # Spark's Python workers are started by the JVM from these, so they import what the driver does.
            "PYSPARK_PYTHON": python,
            "PYSPARK_DRIVER_PYTHON": python,
            "PYTHONPATH": os.pathsep.join(str(p) for p in python_path),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Without it Spark binds to the machine's outward address and warns that the hostname is loopback.
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    return env


def sitecustomize_source(error_file: Path) -> str:
    """The ``sitecustomize`` module put on the job's PYTHONPATH: isolation, and a record of a fatal error."""
    return _SITECUSTOMIZE.format(error_file=str(error_file))


def error_summary(exception: str | None, stderr: str, returncode: int) -> str:
    """What went wrong, as the run's ErrorMessage: the script's exception (``ValueError: boom``).

    ``exception`` is what the script's uncaught exception printed as its last lines. An error raised in a
    Spark executor reaches the driver wrapped, with the worker's traceback embedded: the innermost
    exception of that traceback names the original error. With no exception recorded (``sys.exit(3)``,
    a kill), the exit code and the last line of stderr say what is known.
    """
    if exception and exception.strip():
        return _innermost(exception.strip())[:_MAX_ERROR_CHARS]
    tail = [line.strip() for line in stderr.splitlines() if line.strip()][-1:]
    detail = f": {tail[0]}" if tail else ""
    return f"the job script exited with code {returncode}{detail}"[:_MAX_ERROR_CHARS]


def _innermost(exception: str) -> str:
    lines = exception.splitlines()
    starts = [
        i for i, line in enumerate(lines) if line.rstrip().endswith("Traceback (most recent call last):")
    ]
    if not starts:
        return exception
    header = lines[starts[-1]]
    indent = len(header) - len(header.lstrip())
    for i, line in enumerate(lines[starts[-1] + 1 :], start=starts[-1] + 1):
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            message = [line.strip()]
            # The message may span lines; the wrapping Java exception's stack follows a blank line.
            for more in lines[i + 1 :]:
                if not more.strip() or more.lstrip().startswith("at "):
                    break
                message.append(more.strip())
            return "\n".join(message)
    return exception
