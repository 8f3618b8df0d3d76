"""Text AWS refuses and loose forms in a partner file, and a catalog with a price that is no price: each bad
row is rejected alone with its reason, a bad catalog stops the run at Extract, and every run is emailed."""

from __future__ import annotations

from datetime import date

import pytest

from etl import operations
from pipeline import layout

from .conftest import E2EStack, email_text

pytestmark = pytest.mark.e2e

HEADER = b"order_id,order_date,customer,product_id,quantity,amount,currency\n"


def test_hostile_rows_are_each_rejected_with_their_reason_and_the_valid_rows_load(stack: E2EStack) -> None:
    run_date = date(2026, 9, 14)
    day = run_date.isoformat().encode()
    rows = [
        b"HT-1," + day + b",Ada Lovelace,P-1001,1,249.00,EUR",
        b"HT-2," + day + " ,Zoë Ñúñez 👩‍💻,P-1002,2,179.00,usd".encode(),
        b"HT-3," + day + b",Grace Hopper, P-1003 , 007 ,45,GBP",
        # Text AWS refuses, in several fields: the row would reach SQS if its write failed (see the fault).
        b"HT-4," + day + ",Ann\ufffe,P-1001,1,249.00,EUR".encode(),
        b"HT-5," + day + ",Ann,P-1001\uffff,1,249.00,EUR".encode(),
        b"HT-6," + day + b"\x00,Ann,P-1001,1,249.00,EUR",
        b"HT-7," + day + b",Zo\xeb Martin,P-1001,1,249.00,EUR",  # Latin-1, not UTF-8
        b"HT-8," + day + b",Ann,P-1001,1,249.00,EUR\x1f",  # U+001F is whitespace to str.strip()
        # Forms int(), Decimal() and date.fromisoformat() take but the contract does not document.
        b"HT-9," + day + b",Ann,P-1001,1_000,249.00,EUR",
        b"HT-10,20260914,Ann,P-1001,1,249.00,EUR",
        b"HT-11," + day + b",Ann,P-1001,1,2.49e2,EUR",
    ]
    stack.put_landing(run_date, "orders.csv", HEADER + b"\n".join(rows) + b"\n")
    # Were HT-4 and HT-8 loaded, their writes would fail and their raw text would be queued for retry.
    stack.emulator.control.set_faults(dynamodb_unprocessed_keys=["HT-4", "HT-8"])

    started, execution = stack.run_direct(run_date)

    assert execution["status"] == "SUCCEEDED"
    item = stack.run_item(run_date)
    assert item["status"] == "SUCCEEDED_WITH_ERRORS"
    assert item["counts"]["extracted"] == 11
    assert item["counts"]["queued_for_retry"] == 0
    assert item["rejection_reasons"] == {
        "refused_text": 5,
        "invalid_quantity": 1,
        "invalid_date": 1,
        "invalid_amount": 1,
    }
    loaded = stack.orders()
    assert {f"HT-{n}" for n in range(1, 12)} & set(loaded) == {"HT-1", "HT-2", "HT-3"}
    assert loaded["HT-2"]["customer"] == "Zoë Ñúñez 👩‍💻" and loaded["HT-2"]["currency"] == "USD"
    assert (loaded["HT-3"]["product_id"], loaded["HT-3"]["quantity"]) == ("P-1003", 7)

    rejected = {
        line["raw"]["order_id"]: (line["reason"], line["field"], line["detail"])
        for line in stack.staged_lines(layout.rejected_prefix(item["run_id"]))
    }
    refused = "which AWS services refuse"
    assert rejected == {
        "HT-4": ("refused_text", "customer", f"holds U+FFFE at character 4, {refused}"),
        "HT-5": ("refused_text", "product_id", f"holds U+FFFF at character 7, {refused}"),
        "HT-6": ("refused_text", "order_date", f"holds U+0000 at character 11, {refused}"),
        "HT-7": (
            "refused_text",
            "customer",
            "byte 0xEB is not UTF-8 (the file is probably Latin-1 or Windows-1252: export it as UTF-8)",
        ),
        "HT-8": ("refused_text", "currency", f"holds U+001F at character 4, {refused}"),
        "HT-9": ("invalid_quantity", "quantity", "'1_000' is not a whole number"),
        "HT-10": ("invalid_date", "order_date", "'20260914' is not a YYYY-MM-DD date"),
        "HT-11": ("invalid_amount", "amount", "'2.49e2' is not an amount like 1234.50"),
    }

    [message] = stack.emails(run_date)
    assert message["Subject"].startswith("[nightly-etl] SUCCEEDED_WITH_ERRORS 2026-09-14")
    text = email_text(message)
    assert "refused_text" in text
    assert "\ufffe" not in text and "\x00" not in text


def test_a_catalog_price_of_nan_fails_the_run_at_extract_naming_the_row_and_loads_nothing(
    stack: E2EStack,
) -> None:
    run_date = date(2026, 9, 15)
    day = run_date.isoformat()
    orders = f"NC-1,{day},Ada Lovelace,P-1001,1,249.00,EUR\nNC-2,{day},Ann,P-9001,1,1.00,EUR\n"
    stack.put_landing(run_date, "orders.csv", HEADER + orders.encode())
    catalog = operations.SAMPLE_CATALOG.read_bytes() + b"P-9001,Broken Widget,Test,NaN\n"
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.outputs.landing_bucket_name, Key=layout.CATALOG_KEY, Body=catalog)
    try:
        started, execution = stack.run_direct(run_date)
    finally:
        s3.upload_file(str(operations.SAMPLE_CATALOG), stack.outputs.landing_bucket_name, layout.CATALOG_KEY)

    assert execution["status"] == "FAILED"
    item = stack.run_item(run_date)
    assert item["status"] == "FAILED"
    assert item["execution_arn"] == started.execution_arn
    assert "lock" not in item
    error = item["error"]
    assert (error["state"], error["error"]) == ("Extract", "CatalogError")
    assert (
        "products.csv row 13 (product_id 'P-9001'): unit_price 'NaN' is not a price: write it like 12.50"
        in error["message"]
    )
    assert {"NC-1", "NC-2"} & set(stack.orders()) == set()
    [message] = stack.emails(run_date)
    assert message["Subject"] == "[nightly-etl] FAILED 2026-09-15 at Extract: CatalogError"
    assert "row 13 (product_id 'P-9001'): unit_price 'NaN' is not a price" in email_text(message)
