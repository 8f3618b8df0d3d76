from datetime import date
from decimal import Decimal

import pytest

from pipeline.contract import (
    ORDER_COLUMNS,
    HeaderError,
    Order,
    Product,
    Reason,
    Rejection,
    check_header,
    enrich,
    order_key,
    parse_order,
    parse_product,
)

GOOD = {
    "order_id": "ORD-1001",
    "order_date": "2026-11-22",
    "customer": "Ada Lovelace",
    "product_id": "P-100",
    "quantity": "2",
    "amount": "59.90",
    "currency": "usd",
}


def row(**changes):
    return {**GOOD, **changes}


def test_a_good_row_becomes_a_typed_order():
    assert parse_order(GOOD) == Order(
        order_id="ORD-1001",
        order_date=date(2026, 11, 22),
        customer="Ada Lovelace",
        product_id="P-100",
        quantity=2,
        amount=Decimal("59.90"),
        currency="USD",
    )


def test_values_are_trimmed_and_amounts_quantized_to_cents():
    order = parse_order(row(order_id="  ORD-7 ", amount="10.5", customer=" Bob "))
    assert (order.order_id, order.amount, order.customer) == ("ORD-7", Decimal("10.50"), "Bob")


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"order_id": ""}, Reason.MISSING_ORDER_ID, "order_id"),
        ({"order_id": "   "}, Reason.MISSING_ORDER_ID, "order_id"),
        ({"order_id": "ORD 1"}, Reason.INVALID_ORDER_ID, "order_id"),
        ({"order_id": "X" * 65}, Reason.INVALID_ORDER_ID, "order_id"),
        ({"order_date": "22/11/2026"}, Reason.INVALID_DATE, "order_date"),
        ({"order_date": "2026-02-30"}, Reason.INVALID_DATE, "order_date"),
        ({"customer": ""}, Reason.INVALID_CUSTOMER, "customer"),
        ({"customer": "x" * 201}, Reason.INVALID_CUSTOMER, "customer"),
        ({"customer": "Eve\u202eliam"}, Reason.INVALID_CUSTOMER, "customer"),
        ({"customer": "Nul\x00l"}, Reason.INVALID_CUSTOMER, "customer"),
        ({"product_id": ""}, Reason.MISSING_PRODUCT_ID, "product_id"),
        ({"quantity": "two"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "0"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "1.5"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"amount": "abc"}, Reason.INVALID_AMOUNT, "amount"),
        ({"amount": "1.001"}, Reason.INVALID_AMOUNT, "amount"),
        ({"amount": "NaN"}, Reason.INVALID_AMOUNT, "amount"),
        ({"amount": "1e9"}, Reason.INVALID_AMOUNT, "amount"),
        ({"amount": "-5.00"}, Reason.NEGATIVE_AMOUNT, "amount"),
        ({"currency": "XXX"}, Reason.INVALID_CURRENCY, "currency"),
        ({"currency": None}, Reason.MISSING_FIELD, "currency"),
        ({"_extra": ["surplus"]}, Reason.UNEXPECTED_FIELD, "_extra"),
    ],
)
def test_each_rule_rejects_with_its_reason(changes, reason, field):
    result = parse_order(row(**changes))
    assert isinstance(result, Rejection)
    assert (result.reason, result.field) == (reason, field)


def test_the_first_failing_column_decides_the_reason():
    result = parse_order(row(order_id="", amount="-1"))
    assert result.reason is Reason.MISSING_ORDER_ID


def test_a_zalgo_name_longer_than_the_limit_is_rejected_but_emoji_sequences_are_kept():
    bomb = "Z" + "\u0336\u0335\u0334" * 100
    assert parse_order(row(customer=bomb)).reason is Reason.INVALID_CUSTOMER
    assert parse_order(row(customer="Zoë Ñúñez 👩‍💻")).customer == "Zoë Ñúñez 👩‍💻"


def test_customer_is_normalized_to_nfc():
    decomposed = "Zoe\u0308"
    assert parse_order(row(customer=decomposed)).customer == "Zo\u00eb"


def test_every_reason_has_a_description():
    assert all(reason.description for reason in Reason)


def test_header_check_names_the_missing_columns():
    with pytest.raises(HeaderError, match="missing amount, currency"):
        check_header(
            ["order_id", "order_date", "customer", "product_id", "quantity"], ORDER_COLUMNS, "s3://b/o.csv"
        )


def test_header_check_accepts_bom_case_and_extra_columns():
    check_header(["\ufeffORDER_ID", *ORDER_COLUMNS[1:], "notes"], ORDER_COLUMNS, "f.csv")


def test_an_empty_file_has_no_header():
    with pytest.raises(HeaderError, match="is empty"):
        check_header(None, ORDER_COLUMNS, "s3://b/empty.csv")


def test_order_key_is_the_trimmed_id():
    assert order_key({"order_id": " A-1 "}) == "A-1"
    assert order_key({"order_id": None}) == ""


def test_catalog_rows_are_parsed_strictly():
    product = parse_product({"product_id": "P-1", "name": "Pen", "category": "Office", "unit_price": "1.20"})
    assert product == Product("P-1", "Pen", "Office", Decimal("1.20"))
    with pytest.raises(ValueError, match="lacks category"):
        parse_product({"product_id": "P-1", "name": "Pen", "category": "", "unit_price": "1"})
    with pytest.raises(ValueError, match="not a number"):
        parse_product({"product_id": "P-1", "name": "Pen", "category": "O", "unit_price": "cheap"})


def test_enrich_adds_catalog_fields():
    item = enrich(parse_order(GOOD), Product("P-100", "Desk Lamp", "Home", Decimal("29.95")))
    assert item["product_name"] == "Desk Lamp"
    assert item["category"] == "Home"
    assert item["unit_price"] == Decimal("29.95")
    assert item["order_date"] == "2026-11-22"
