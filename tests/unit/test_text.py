"""Text AWS refuses, and the documented forms of the record contract, as properties of the parser."""

import io
import json
import string
from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.contract import (
    ORDER_COLUMNS,
    Order,
    Reason,
    Rejection,
    parse_date,
    parse_order,
)
from pipeline.sources import CsvStream
from pipeline.text import REFUSED, describe, escape_refused, first_refused, has_surrogate

GOOD = {
    "order_id": "ORD-1001",
    "order_date": "2026-11-22",
    "customer": "Ada Lovelace",
    "product_id": "P-100",
    "quantity": "2",
    "amount": "59.90",
    "currency": "EUR",
}
HEADER = ",".join(ORDER_COLUMNS) + "\n"

# Everything SQS's XML 1.0 character set leaves out: C0 controls but tab, LF and CR; surrogates; U+FFFE/F.
refused_chars = st.one_of(
    st.sampled_from([chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)]),
    st.sampled_from(["\ufffe", "\uffff"]),
    st.integers(0xD800, 0xDFFF).map(chr),
)
allowed_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30).filter(
    lambda t: first_refused(t) is None
)


def row(**changes):
    return {**GOOD, **changes}


# --- pipeline.text ----------------------------------------------------------------------------------


def test_the_refused_set_is_the_complement_of_xml_1_0_characters():
    allowed = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE), *range(0x10000, 0x110000)}
    refused = {c for c in range(0x110000) if REFUSED.fullmatch(chr(c))}
    assert refused == set(range(0x110000)) - allowed
    assert len(refused) == 29 + 2048 + 2


def test_refused_characters_are_found_described_and_escaped():
    assert first_refused("ok\ufffeno") == (2, "\ufffe")
    assert first_refused("Zoë 👩‍💻\t\n") is None
    assert describe("\ufffe") == "U+FFFE" and describe("\x00") == "U+0000"
    assert escape_refused("a\x00b\udc80") == "a\\u0000b\\udc80"
    assert has_surrogate("x\udc80") and not has_surrogate("👩")


# --- orders: refused text in any field ------------------------------------------------------------------


@settings(max_examples=300)
@given(
    field=st.sampled_from([*ORDER_COLUMNS, "_extra"]),
    before=allowed_text,
    char=refused_chars,
    after=allowed_text,
)
@example(field="quantity", before=" 12", char="\x1f", after="")  # U+001F: str.strip() would remove it
@example(field="currency", before="EUR", char="\x00", after="")
def test_a_refused_character_in_any_field_rejects_the_row_naming_field_and_character(
    field, before, char, after
):
    value = before + char + after
    raw = row(**{field: [value] if field == "_extra" else value})
    result = parse_order(raw)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.REFUSED_TEXT
    assert result.field == field
    position, found = first_refused(value)
    assert result.detail == f"holds {describe(found)} at character {position + 1}, which AWS services refuse"
    assert f"U+{ord(found):04X}" in result.message


def test_refused_text_is_found_before_any_other_rule_in_column_order():
    result = parse_order(row(order_id="", customer="A\ufffe", amount="x\uffff"))
    assert (result.reason, result.field) == (Reason.REFUSED_TEXT, "customer")
    assert result.message == "customer: holds U+FFFE at character 2, which AWS services refuse"


def test_a_column_that_was_not_utf8_is_rejected_with_the_byte():
    result = parse_order(row(customer="Zo\ufffd", _not_utf8={"customer": "0xEB"}))
    assert (result.reason, result.field) == (Reason.REFUSED_TEXT, "customer")
    assert result.detail.startswith("byte 0xEB is not UTF-8 (the file is probably Latin-1")


def test_the_reason_says_what_is_refused():
    assert "U+FFFE" in Reason.REFUSED_TEXT.description and "UTF-8" in Reason.REFUSED_TEXT.description


# --- orders: the documented forms, and only them ---------------------------------------------------------

dates = st.dates(date(1, 1, 1), date(9999, 12, 31))
quantities = st.integers(1, 100_000)
amounts = st.decimals(0, Decimal("999999.99"), places=2)


@settings(max_examples=300)
@given(
    day=dates,
    quantity=quantities,
    zeros=st.integers(0, 3),
    amount=amounts,
    decimals=st.sampled_from([0, 1, 2]),
    padding=st.sampled_from(["", " ", "  "]),
)
def test_every_documented_form_is_accepted(day, quantity, zeros, amount, decimals, padding):
    amount_text = str(amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))
    result = parse_order(
        row(
            order_date=day.isoformat(),
            quantity=padding + "0" * zeros + str(quantity) + padding,
            amount=padding + amount_text,
        )
    )
    assert isinstance(result, Order), result
    assert (result.order_date, result.quantity) == (day, quantity)
    assert result.amount == Decimal(amount_text).quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "quantity", ["1_000", "+5", "٣", "1e3", "१२", "１２", "0x10", "1.0", "12 3", "-0", "", "0", "100001"]
)
def test_loose_quantities_are_rejected(quantity):
    result = parse_order(row(quantity=quantity))
    assert (result.reason, result.field) == (Reason.INVALID_QUANTITY, "quantity")


@pytest.mark.parametrize(
    "amount",
    ["1_000.00", "١٠", "Infinity", "-Infinity", "NaN", "sNaN", "1.5e1", "1E2", "+1.50", ".5", "1.", "1,50",
     "1.001", "1 000", "１２", "1000000", "0x1p3", ""],
)  # fmt: skip
def test_loose_amounts_are_rejected(amount):
    result = parse_order(row(amount=amount))
    assert (result.reason, result.field) == (Reason.INVALID_AMOUNT, "amount")


def test_a_negative_amount_in_the_documented_form_is_its_own_reason_and_minus_zero_is_zero():
    assert parse_order(row(amount="-1.50")).reason is Reason.NEGATIVE_AMOUNT
    assert str(parse_order(row(amount="-0.00")).amount) == "0.00"


@pytest.mark.parametrize(
    "text", ["20261123", "2026-W48-1", "2026W481", "2026-327", "2026-11-23T00:00", "٢٠٢٦-١١-٢٣", "2026-1-5",
             "2026-02-30", "26-11-23", "2026/11/23", ""],
)  # fmt: skip
def test_dates_other_than_yyyy_mm_dd_are_rejected(text):
    assert parse_date(text) is None
    result = parse_order(row(order_date=text))
    assert (result.reason, result.field) == (Reason.INVALID_DATE, "order_date")


@given(st.text(alphabet=string.digits + "-W_+ T:", max_size=12))
def test_no_text_but_yyyy_mm_dd_is_a_date(text):
    parsed = parse_date(text)
    assert parsed is None or parsed.isoformat() == text


# --- from the bytes of a file to the reason --------------------------------------------------------------


@pytest.mark.parametrize("block_size", [1, 5, 4096])
def test_hostile_rows_of_a_file_are_each_rejected_and_the_others_parse(block_size):
    good = "ORD-1,2026-01-15,Zoë,P-1,1,1.50,EUR\n".encode()
    data = (
        HEADER.encode()
        + good
        + b"ORD-2,2026-01-15,Zo\xeb,P-1,1,1,EUR\n"  # Latin-1
        + b"ORD-3,2026-01-15,A\x00B,P-1,1,1,EUR\n"  # NUL
        + "ORD-4,2026-01-15,Ann,P-1\ufffe,1,1,EUR\n".encode()
        + "ORD-5,2026-01-15,Ann,P-1,1,1\uffff,EUR\n".encode()
        + b"ORD-6,2026-01-15,Ann,P-1,1,1,EUR,\xed\xa0\x80\n"  # a UTF-8-encoded surrogate is not UTF-8
        + b"ORD-7,2026-01-15,Ann,P-1,1_000,1,EUR\n"
        + b"ORD-8,20261123,Ann,P-1,1,1,EUR\n"
        + b"ORD-9,2026-01-15,Ann,P-1,1,1,EUR,\xc3"  # the file ends inside a character
    )
    rows = list(CsvStream(io.BytesIO(data), "s3://landing/x.csv", ORDER_COLUMNS, block_size))
    outcomes = [parse_order(r) for r in rows]
    assert isinstance(outcomes[0], Order) and outcomes[0].customer == "Zoë"
    assert [(o.reason.value, o.field) for o in outcomes[1:]] == [
        ("refused_text", "customer"),
        ("refused_text", "customer"),
        ("refused_text", "product_id"),
        ("refused_text", "amount"),
        ("refused_text", "_extra"),
        ("invalid_quantity", "quantity"),
        ("invalid_date", "order_date"),
        ("refused_text", "_extra"),
    ]
    assert outcomes[1].detail.startswith("byte 0xEB is not UTF-8")
    assert outcomes[2].detail == "holds U+0000 at character 2, which AWS services refuse"
    assert outcomes[5].detail.startswith("byte 0xED is not UTF-8")
    assert outcomes[8].detail.startswith("byte 0xC3 is not UTF-8")
    # The records stay text every UTF-8 encoder takes: U+FFFD stands in for the bytes.
    assert rows[1]["customer"] == "Zo\ufffd" and rows[1]["_not_utf8"] == {"customer": "0xEB"}
    assert not any(has_surrogate(str(r)) for r in rows)


def test_a_staged_record_with_an_escaped_lone_surrogate_is_rejected_and_its_rejected_line_stays_utf8():
    from pipeline.staging import decode_lines, encode_lines
    from pipeline.transforms import Deduplicated, LoadContext, _with, outcome_of

    # json.dumps escapes a lone surrogate as "\udc80", and json.loads gives the lone surrogate back.
    line = json.dumps(
        {"raw": row(customer="Zo\udceb"), "origin": {"kind": "retry", "source": "s3://b/o.csv", "line": 3}}
    )
    outcome = outcome_of(Deduplicated("ORD-1001", line, 0), {}, LoadContext("r", "2026-11-22", "t"))
    assert (outcome.reason, outcome.field, outcome.item) == ("refused_text", "customer", None)
    assert outcome.detail == "holds U+DCEB at character 3, which AWS services refuse"
    rejected = _with(line, reason=outcome.reason, field=outcome.field, detail=outcome.detail)
    (back,) = decode_lines(encode_lines([rejected]))
    assert json.loads(back)["raw"]["customer"] == "Zo\udceb" and json.loads(back)["reason"] == "refused_text"
