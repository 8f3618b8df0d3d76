"""The end-to-end tests' fixture for the deployed stack (faults cleared around each test), shared here."""

from tests.e2e.conftest import stack  # noqa: F401
