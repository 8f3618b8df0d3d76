"""What the tests of tests/asl share: scripts/validate_asl.py as a module, and the installed tools."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

ASL_MODULES = ROOT / ".tools" / "asl" / "node_modules"


def validate_asl() -> ModuleType:
    """scripts/validate_asl.py, loaded once (the renderer and the validators' runners)."""
    if "validate_asl_for_tests" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "validate_asl_for_tests", ROOT / "scripts" / "validate_asl.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve annotations through it
        spec.loader.exec_module(module)
    return sys.modules["validate_asl_for_tests"]


def require(path: Path) -> Path:
    """``path`` of an installed tool, or the test fails saying how to install it."""
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make asl-tools` (make test does)")
    return path
