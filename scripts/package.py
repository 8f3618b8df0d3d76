"""Build the deployable artifacts into build/ (``make package``).

- build/lambdas/<name>.zip: the handler folder lambdas/<name>/ at the zip root, the shared ``pipeline``
  package, and the third-party packages of lambdas/requirements.txt (pure Python, vendored once).
- build/glue/<job>.py for each glue_jobs/<job>.py, and build/glue/pipeline.zip (for --extra-py-files).
- build/checksums.txt: sha256 of every artifact.

Zips are byte-for-byte reproducible (sorted entries, fixed timestamps), so an unchanged Lambda keeps its
hash and Terraform re-deploys only what changed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not SKIP_PARTS.intersection(p.parts) and p.suffix not in {".pyc", ".pyo"}
    )


def _add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in _files(folder):
        info = zipfile.ZipInfo(f"{prefix}{path.relative_to(folder).as_posix()}", FIXED_TIME)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


def _write_zip(target: Path, trees: list[tuple[Path, str]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(partial, "w") as archive:
        for folder, prefix in trees:
            _add_tree(archive, folder, prefix)
    if target.exists() and target.read_bytes() == partial.read_bytes():
        partial.unlink()  # unchanged: keep the old file and its mtime
    else:
        partial.replace(target)


def _vendor(requirements: Path) -> Path:
    """Install the Lambdas' third-party packages once per requirements content."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = BUILD / ".vendor" / digest
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                "--only-binary=:all:", "--target", str(target), "-r", str(requirements),
            ],
            check=True,
        )  # fmt: skip
        for junk in target.glob("*.dist-info"):
            shutil.rmtree(junk)
        shutil.rmtree(target / "bin", ignore_errors=True)
        (target / ".complete").write_text(digest)
    return target


def build() -> list[Path]:
    artifacts: list[Path] = []
    pipeline = ROOT / "pipeline"
    requirements = ROOT / "lambdas" / "requirements.txt"
    vendored = _vendor(requirements) if requirements.exists() else None
    for handler_dir in sorted(
        p for p in (ROOT / "lambdas").iterdir() if p.is_dir() and p.name not in SKIP_PARTS
    ):
        trees = [(handler_dir, ""), (pipeline, "pipeline/")]
        if vendored:
            trees.append((vendored, ""))
        target = BUILD / "lambdas" / f"{handler_dir.name}.zip"
        _write_zip(target, trees)
        artifacts.append(target)
    for script in sorted((ROOT / "glue_jobs").glob("*.py")):
        target = BUILD / "glue" / script.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != script.read_bytes():
            shutil.copyfile(script, target)
        artifacts.append(target)
    pipeline_zip = BUILD / "glue" / "pipeline.zip"
    _write_zip(pipeline_zip, [(pipeline, "pipeline/")])
    artifacts.append(pipeline_zip)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(BUILD)}" for p in artifacts]
    (BUILD / "checksums.txt").write_text("\n".join(lines) + "\n")
    return artifacts


if __name__ == "__main__":
    for artifact in build():
        print(f"  {artifact.relative_to(ROOT)}  ({artifact.stat().st_size / 1024:.0f} KiB)")
