"""What a worker's import path is made of: unpacked deployment zips and the runtime's own packages."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from emulator.lambda_runtime.exceptions import InvalidRuntime, InvalidZipFile

# What AWS's Python runtime puts on the path besides the standard library (/var/runtime): the SDK and its
# dependencies, nothing else. A function that needs more must bundle it, here as on AWS.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


def python_runtime() -> str:
    """The Lambda runtime identifier this emulator can run, e.g. ``python3.11``."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


class Artifacts:
    """Files under ``root``: zips unpacked once per content digest, and the runtime directory."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._runtime_dir: Path | None = None

    def unpacked(self, kind: str, digest: str, archive: bytes) -> Path:
        """The directory holding ``archive`` unpacked (``kind`` is ``code`` or ``layers``)."""
        target = self.root / kind / digest
        with self._lock:
            if target.is_dir():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=target.parent))
            try:
                with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                    bundle.extractall(staging)
            except (zipfile.BadZipFile, ValueError) as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise InvalidZipFile(f"Lambda was unable to unzip the deployment package ({exc})") from None
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            staging.rename(target)
            return target

    def runtime_dir(self) -> Path:
        """A directory of links to the runtime's packages as installed for this interpreter."""
        with self._lock:
            if self._runtime_dir is None:
                self._runtime_dir = self._build_runtime_dir()
            return self._runtime_dir

    def _build_runtime_dir(self) -> Path:
        entries: dict[str, Path] = {}
        fingerprint = hashlib.sha256(sys.version.encode())
        for name in RUNTIME_DISTRIBUTIONS:
            try:
                distribution = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                raise InvalidRuntime(
                    f"the emulator's Python has no {name} installed, which AWS's {python_runtime()} runtime "
                    "provides; reinstall the project's environment"
                ) from None
            for top in sorted(
                {f.parts[0] for f in distribution.files or () if f.parts[0] not in ("..", "__pycache__")}
            ):
                source = Path(distribution.locate_file(top))
                if source.exists() and (source.is_dir() or source.suffix == ".py"):
                    entries[top] = source
            fingerprint.update(f"{name}={distribution.version}@{distribution.locate_file('')}".encode())
        target = self.root / "runtime" / f"{python_runtime()}-{fingerprint.hexdigest()[:12]}"
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=target.parent))
        for top, source in entries.items():
            try:
                os.symlink(source, staging / top, target_is_directory=source.is_dir())
            except OSError:  # no symlinks on this filesystem
                if source.is_dir():
                    shutil.copytree(source, staging / top)
                else:
                    shutil.copy2(source, staging / top)
        try:
            staging.rename(target)
        except OSError:  # another emulator on the same state dir built it first
            shutil.rmtree(staging, ignore_errors=True)
        return target
