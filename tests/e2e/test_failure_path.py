"""A run whose Glue load fails: recorded FAILED with its cause, the lock released, the team told; the next
run of the date succeeds once the cause is gone."""

from __future__ import annotations

from datetime import date

import pytest

from etl import operations

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

RUN_DATE = date(2026, 11, 5)


def test_a_failed_load_fails_the_run_and_the_date_can_be_run_again(stack: E2EStack) -> None:
    operations.upload_partner_file(stack, RUN_DATE)
    stack.emulator.control.set_faults(fail_glue={stack.outputs.load_job_name: "boom"})

    started, execution = stack.run_direct(RUN_DATE)

    assert execution["status"] == "FAILED"
    item = stack.run_item(RUN_DATE)
    assert item["status"] == "FAILED"
    assert item["execution_arn"] == started.execution_arn
    assert "lock" not in item
    error = item["error"]
    assert error["state"] == "Load"
    assert error["message"].startswith(f"Load failed: the Glue job {stack.outputs.load_job_name} (run ")
    assert error["message"].endswith("ended FAILED: boom")
    assert stack.orders(RUN_DATE) == {}
    [message] = stack.emails(RUN_DATE)
    assert message["Subject"] == f"[nightly-etl] FAILED 2026-11-05 at Load: {error['error']}"
    text = email_text(message)
    assert "The run stopped at Load." in text
    assert "ended FAILED: boom" in text
    assert "The lock on 2026-11-05 is released: once the cause is fixed, run the date again." in text

    stack.emulator.control.clear_faults()
    again, execution = stack.run_direct(RUN_DATE)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(RUN_DATE)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["execution_arn"] == again.execution_arn
    assert "error" not in item
    assert item["counts"]["loaded"] == 5
    assert item["counts"]["retried_in"] == 0
    assert set(stack.orders(RUN_DATE)) == {"ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1008"}
    assert len(stack.emails(RUN_DATE)) == 2
