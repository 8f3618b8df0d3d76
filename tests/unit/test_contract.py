import re
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
        ({"customer": "Nul\x00l"}, Reason.REFUSED_TEXT, "customer"),
        ({"customer": "Del\x7fete"}, Reason.INVALID_CUSTOMER, "customer"),
        ({"customer": "Ann\ufffe"}, Reason.REFUSED_TEXT, "customer"),
        ({"product_id": ""}, Reason.MISSING_PRODUCT_ID, "product_id"),
        ({"quantity": "two"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "0"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "1.5"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "1_000"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "+5"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"quantity": "\u0663"}, Reason.INVALID_QUANTITY, "quantity"),
        ({"order_date": "20261123"}, Reason.INVALID_DATE, "order_date"),
        ({"order_date": "2026-W48-1"}, Reason.INVALID_DATE, "order_date"),
        ({"amount": "1_000.00"}, Reason.INVALID_AMOUNT, "amount"),
        ({"amount": "Infinity"}, Reason.INVALID_AMOUNT, "amount"),
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
    with pytest.raises(ValueError, match="unit_price 'cheap' is not a price"):
        parse_product({"product_id": "P-1", "name": "Pen", "category": "O", "unit_price": "cheap"})


@pytest.mark.parametrize(
    "price", ["NaN", "nan", "Infinity", "-Infinity", "-1.00", "1.001", "1e3", "1_000", "+1", "١٠", "1000000"]
)
def test_a_catalog_price_that_is_not_a_plain_price_is_refused(price):
    with pytest.raises(
        ValueError,
        match=rf"^unit_price '{re.escape(price)}' is not a price: write it like 12.50 \(digits, at most 2 decimals, "
        r"not negative, below 1000000\)$",
    ):
        parse_product({"product_id": "P-1", "name": "Pen", "category": "O", "unit_price": price})


def test_a_catalog_price_of_zero_and_of_whole_units_is_a_price():
    assert (
        parse_product({"product_id": "P-1", "name": "Gift", "category": "O", "unit_price": "0"}).unit_price
        == 0
    )
    assert (
        parse_product({"product_id": "P-1", "name": "Pen", "category": "O", "unit_price": " 12 "}).unit_price
        == 12
    )


@pytest.mark.parametrize(("column", "limit"), [("product_id", 64), ("name", 200), ("category", 100)])
def test_oversized_catalog_text_is_refused_naming_the_limit(column, limit):
    raw = {"product_id": "P-1", "name": "Pen", "category": "O", "unit_price": "1"}
    parse_product({**raw, column: "x" * limit})
    with pytest.raises(ValueError, match=rf"^{column} has {limit + 1} characters, at most {limit} allowed$"):
        parse_product({**raw, column: "x" * (limit + 1)})


def test_catalog_text_aws_refuses_is_refused_naming_field_and_character():
    raw = {"product_id": "P-1", "name": "Pen\uffff", "category": "O", "unit_price": "1"}
    with pytest.raises(ValueError, match=r"^name holds U\+FFFF at character 4, which AWS services refuse$"):
        parse_product(raw)


def test_enrich_adds_catalog_fields():
    item = enrich(parse_order(GOOD), Product("P-100", "Desk Lamp", "Home", Decimal("29.95")))
    assert item["product_name"] == "Desk Lamp"
    assert item["category"] == "Home"
    assert item["unit_price"] == Decimal("29.95")
    assert item["order_date"] == "2026-11-22"
