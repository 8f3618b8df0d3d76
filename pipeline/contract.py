"""The record contract: the partner's order file, the product catalog, and the rules every order must pass.

One place for the fields, their types and the rejection reasons. The extract Lambda checks headers against
it, the Glue job parses and validates every row with it, the notifier and the dashboard name its reasons.
Pure functions only: no AWS, no Spark.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pipeline.text import describe, first_refused

ORDER_COLUMNS: tuple[str, ...] = (
    "order_id",
    "order_date",
    "customer",
    "product_id",
    "quantity",
    "amount",
    "currency",
)
CATALOG_COLUMNS: tuple[str, ...] = ("product_id", "name", "category", "unit_price")

# ISO 4217 codes the partner may send.
CURRENCIES = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN"})
MAX_CUSTOMER_LENGTH = 200
MAX_ORDER_ID_LENGTH = 64
MAX_QUANTITY = 100_000
MAX_AMOUNT = Decimal("1000000")
# The catalog's limits: what the orders table and the dashboard can show, far above any real product.
MAX_PRODUCT_ID_LENGTH = 64
MAX_PRODUCT_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 100
MAX_UNIT_PRICE = Decimal("1000000")
# The documented forms, and nothing else: ``int()`` and ``Decimal()`` also take ``1_000``, ``+5``, ``1e3``,
# ``Infinity`` and digits of other scripts (``٣``), ``date.fromisoformat`` also ``20261123`` and
# ``2026-W48-1``. Matched with ``fullmatch`` on ASCII patterns ([0-9] is ASCII only; ``\d`` is not).
ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
QUANTITY_PATTERN = re.compile(r"[0-9]+")
AMOUNT_PATTERN = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")
PRICE_PATTERN = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
# Where the CSV reader lists the bytes of a row that are not UTF-8: column → the first such byte ("0xE9").
# The column's text holds U+FFFD in their place, so the record itself stays valid text everywhere.
NOT_UTF8_KEY = "_not_utf8"
EXTRA_KEY = "_extra"
# Format characters allowed in names: zero-width joiner/non-joiner (emoji sequences, Indic scripts).
_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})


class Reason(StrEnum):
    """Why a row was rejected. The value is what reports, emails and the dashboard show."""

    MISSING_FIELD = "missing_field"
    UNEXPECTED_FIELD = "unexpected_field"
    MISSING_ORDER_ID = "missing_order_id"
    INVALID_ORDER_ID = "invalid_order_id"
    INVALID_DATE = "invalid_date"
    INVALID_CUSTOMER = "invalid_customer"
    MISSING_PRODUCT_ID = "missing_product_id"
    UNKNOWN_PRODUCT = "unknown_product"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_AMOUNT = "invalid_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    INVALID_CURRENCY = "invalid_currency"
    REFUSED_TEXT = "refused_text"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Reason.REFUSED_TEXT: (
        "a field has bytes that are not UTF-8 or a character that AWS refuses to store or send "
        "(a control character other than tab and line breaks, U+FFFE, U+FFFF, an unpaired surrogate)"
    ),
    Reason.MISSING_FIELD: "a column is missing from the row",
    Reason.UNEXPECTED_FIELD: "the row has more columns than the header",
    Reason.MISSING_ORDER_ID: "order_id is empty",
    Reason.INVALID_ORDER_ID: "order_id has characters other than letters, digits, '.', '_' and '-'",
    Reason.INVALID_DATE: "order_date is not a calendar date written YYYY-MM-DD",
    Reason.INVALID_CUSTOMER: "customer is empty, too long or has control characters",
    Reason.MISSING_PRODUCT_ID: "product_id is empty",
    Reason.UNKNOWN_PRODUCT: "product_id is not in the product catalog",
    Reason.INVALID_QUANTITY: "quantity is not a whole number of ASCII digits between 1 and 100000",
    Reason.INVALID_AMOUNT: (
        "amount is not a number of ASCII digits with at most 2 decimals after a '.', below 1000000"
    ),
    Reason.NEGATIVE_AMOUNT: "amount is negative",
    Reason.INVALID_CURRENCY: "currency is not a supported ISO 4217 code",
}


class HeaderError(ValueError):
    """A source file's header does not match the contract: the whole file is refused, nothing is loaded."""


@dataclass(frozen=True)
class Order:
    order_id: str
    order_date: date
    customer: str
    product_id: str
    quantity: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    field: str
    detail: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.detail}"


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    unit_price: Decimal


def check_header(header: list[str] | None, expected: tuple[str, ...], source: str) -> None:
    """Refuse a file whose header lacks a contract column (extra columns are tolerated and ignored)."""
    if not header:
        raise HeaderError(f"{source} is empty: expected a header row with {', '.join(expected)}")
    normalized = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in expected if c not in normalized]
    if missing:
        raise HeaderError(
            f"{source} has a wrong header: missing {', '.join(missing)} "
            f"(found {', '.join(normalized[:12]) or 'nothing'}; expected {', '.join(expected)})"
        )


def order_key(raw: Mapping[str, object]) -> str:
    """The record key as it will be stored, for deduplication before validation."""
    value = raw.get("order_id")
    return value.strip() if isinstance(value, str) else ""


def parse_order(raw: Mapping[str, object]) -> Order | Rejection:
    """Cast a raw CSV row (column → text) to an Order, or say why it cannot be one.

    A missing column arrives as None (csv.DictReader's restval); extra columns under the key
    ``_extra`` (its restkey). Text that AWS refuses is looked for first, in every value of the row: a
    record that holds it could be neither queued for retry nor emailed, whatever its other fields say.
    Then rules are checked in column order so the reason is deterministic.
    """
    refused = refused_text(raw)
    if refused:
        return refused
    extra = raw.get(EXTRA_KEY)
    if extra:
        count = len(extra) if isinstance(extra, list) else 1
        return Rejection(Reason.UNEXPECTED_FIELD, EXTRA_KEY, f"{count} value(s) beyond the header")
    for column in ORDER_COLUMNS:
        if raw.get(column) is None:
            return Rejection(Reason.MISSING_FIELD, column, "column missing from the row")
    text = {c: str(raw[c]).strip() for c in ORDER_COLUMNS}

    order_id = text["order_id"]
    if not order_id:
        return Rejection(Reason.MISSING_ORDER_ID, "order_id", "empty")
    if len(order_id) > MAX_ORDER_ID_LENGTH or not ORDER_ID_PATTERN.fullmatch(order_id):
        return Rejection(Reason.INVALID_ORDER_ID, "order_id", f"{shorten(order_id)!r} is not a valid id")

    order_date = parse_date(text["order_date"])
    if order_date is None:
        return Rejection(
            Reason.INVALID_DATE, "order_date", f"{shorten(text['order_date'])!r} is not a YYYY-MM-DD date"
        )

    customer = unicodedata.normalize("NFC", text["customer"])
    customer_problem = _customer_problem(customer)
    if customer_problem:
        return Rejection(Reason.INVALID_CUSTOMER, "customer", customer_problem)

    product_id = text["product_id"]
    if not product_id:
        return Rejection(Reason.MISSING_PRODUCT_ID, "product_id", "empty")

    if not QUANTITY_PATTERN.fullmatch(text["quantity"]):
        return Rejection(
            Reason.INVALID_QUANTITY, "quantity", f"{shorten(text['quantity'])!r} is not a whole number"
        )
    quantity = int(text["quantity"].lstrip("0")[:7] or "0")  # more than 7 digits is out of range anyway
    if not 1 <= quantity <= MAX_QUANTITY:
        return Rejection(
            Reason.INVALID_QUANTITY, "quantity", f"{shorten(text['quantity'])} is outside 1..{MAX_QUANTITY}"
        )

    if not AMOUNT_PATTERN.fullmatch(text["amount"]):
        return Rejection(
            Reason.INVALID_AMOUNT, "amount", f"{shorten(text['amount'])!r} is not an amount like 1234.50"
        )
    amount = Decimal(text["amount"])
    if abs(amount) >= MAX_AMOUNT:
        return Rejection(
            Reason.INVALID_AMOUNT, "amount", f"{shorten(text['amount'])} is not below {MAX_AMOUNT}"
        )
    if amount < 0:
        return Rejection(Reason.NEGATIVE_AMOUNT, "amount", f"{amount} is negative")

    currency = text["currency"].upper()
    if currency not in CURRENCIES:
        return Rejection(
            Reason.INVALID_CURRENCY, "currency", f"{shorten(text['currency'])!r} is not supported"
        )

    # abs(): "-0.00" is zero, not a negative zero stored as such.
    return Order(
        order_id, order_date, customer, product_id, quantity, abs(amount).quantize(Decimal("0.01")), currency
    )


def parse_date(text: str) -> date | None:
    """A date written exactly ``YYYY-MM-DD`` (a real calendar day), or None."""
    if not DATE_PATTERN.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def refused_text(raw: Mapping[str, object], columns: tuple[str, ...] = ORDER_COLUMNS) -> Rejection | None:
    """The first field of ``raw`` that holds bytes that were not UTF-8 or a character AWS refuses, as a
    rejection naming the field and the character (``U+FFFE``), or None.

    Every value is looked at, ``columns`` first, then the values beyond the header, then any other key:
    a record is queued and reported whole, so a character anywhere in it would be refused.
    """
    not_utf8 = raw.get(NOT_UTF8_KEY)
    if isinstance(not_utf8, Mapping) and not_utf8:
        field, byte = next(iter(not_utf8.items()))
        return Rejection(
            Reason.REFUSED_TEXT,
            str(field),
            f"byte {byte} is not UTF-8 (the file is probably Latin-1 or Windows-1252: export it as UTF-8)",
        )
    for field, value in _text_values(raw, columns):
        found = first_refused(value)
        if found:
            position, char = found
            return Rejection(
                Reason.REFUSED_TEXT,
                field,
                f"holds {describe(char)} at character {position + 1}, which AWS services refuse",
            )
    return None


def _text_values(raw: Mapping[str, object], columns: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    ordered = [*columns, EXTRA_KEY, *(k for k in raw if k not in columns and k != EXTRA_KEY)]
    for field in ordered:
        value = raw.get(field)
        if isinstance(value, str):
            yield field, value
        elif isinstance(value, list | tuple):
            yield from ((field, item) for item in value if isinstance(item, str))


def parse_product(raw: Mapping[str, str | None]) -> Product:
    """A catalog row; the catalog is reference data we own, so a bad row is an error, not a rejection.

    Every field is checked (the ValueError names the field and the rule): text AWS refuses, the lengths
    of product_id, name and category, and a price written ``123.45`` (no sign, at most 2 decimals, below
    1000000): never NaN, Infinity, a negative price or an exponent.
    """
    refused = refused_text(raw, CATALOG_COLUMNS)
    if refused:
        raise ValueError(f"{refused.field} {refused.detail}")
    missing = [c for c in CATALOG_COLUMNS if not (raw.get(c) or "").strip()]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}")
    text = {c: str(raw[c]).strip() for c in CATALOG_COLUMNS}
    limits = (
        ("product_id", MAX_PRODUCT_ID_LENGTH),
        ("name", MAX_PRODUCT_NAME_LENGTH),
        ("category", MAX_CATEGORY_LENGTH),
    )
    for column, limit in limits:
        if len(text[column]) > limit:
            raise ValueError(f"{column} has {len(text[column])} characters, at most {limit} allowed")
    price = text["unit_price"]
    if not PRICE_PATTERN.fullmatch(price) or Decimal(price) >= MAX_UNIT_PRICE:
        raise ValueError(
            f"unit_price {shorten(price)!r} is not a price: write it like 12.50 "
            f"(digits, at most 2 decimals, not negative, below {MAX_UNIT_PRICE})"
        )
    return Product(
        product_id=text["product_id"], name=text["name"], category=text["category"], unit_price=Decimal(price)
    )


def enrich(order: Order, product: Product) -> dict[str, object]:
    """The cleaned, enriched order as stored in the orders table (without run bookkeeping fields)."""
    return {
        "order_id": order.order_id,
        "order_date": order.order_date.isoformat(),
        "customer": order.customer,
        "product_id": order.product_id,
        "product_name": product.name,
        "category": product.category,
        "unit_price": product.unit_price,
        "quantity": order.quantity,
        "amount": order.amount,
        "currency": order.currency,
    }


def _customer_problem(customer: str) -> str | None:
    if not customer:
        return "empty"
    if len(customer) > MAX_CUSTOMER_LENGTH:
        return f"{len(customer)} characters, at most {MAX_CUSTOMER_LENGTH} allowed"
    for char in customer:
        category = unicodedata.category(char)
        if category == "Cc" or (category == "Cf" and char not in _ALLOWED_FORMAT_CHARS):
            return f"contains the control character {describe(char)}"
    return None


def shorten(value: str, limit: int = 40) -> str:
    """``value`` cut to ``limit`` characters with a visible "…", for a rejection's detail."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
