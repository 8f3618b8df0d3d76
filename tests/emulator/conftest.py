"""Fixtures of the emulator's own tests."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="module")
def bucket(emulator) -> str:
    """A bucket of the session's emulator for one test module's scripts and files."""
    name = f"emulator-tests-{uuid.uuid4().hex[:8]}"
    emulator.client("s3").create_bucket(Bucket=name)
    return name
