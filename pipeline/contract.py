"""The record contract: the partner's order file, the product catalog, and the rules every order must pass.

One place for the fields, their types and the rejection reasons. The extract Lambda checks headers against
it, the Glue job parses and validates every row with it, the notifier and the dashboard name its reasons.
Pure functions only: no AWS, no Spark.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

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
ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
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

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Reason.MISSING_FIELD: "a column is missing from the row",
    Reason.UNEXPECTED_FIELD: "the row has more columns than the header",
    Reason.MISSING_ORDER_ID: "order_id is empty",
    Reason.INVALID_ORDER_ID: "order_id has characters other than letters, digits, '.', '_' and '-'",
    Reason.INVALID_DATE: "order_date is not a YYYY-MM-DD date",
    Reason.INVALID_CUSTOMER: "customer is empty, too long or has control characters",
    Reason.MISSING_PRODUCT_ID: "product_id is empty",
    Reason.UNKNOWN_PRODUCT: "product_id is not in the product catalog",
    Reason.INVALID_QUANTITY: "quantity is not a whole number between 1 and 100000",
    Reason.INVALID_AMOUNT: "amount is not a decimal number with at most 2 decimals below 1000000",
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


def parse_order(raw: Mapping[str, str | None]) -> Order | Rejection:
    """Cast a raw CSV row (column → text) to an Order, or say why it cannot be one.

    A missing column arrives as None (csv.DictReader's restval); extra columns under the key
    ``_extra`` (its restkey). Rules are checked in column order so the reason is deterministic.
    """
    if raw.get("_extra"):
        return Rejection(
            Reason.UNEXPECTED_FIELD, "_extra", f"{len(raw['_extra'])} value(s) beyond the header"
        )
    for column in ORDER_COLUMNS:
        if raw.get(column) is None:
            return Rejection(Reason.MISSING_FIELD, column, "column missing from the row")
    text = {c: str(raw[c]).strip() for c in ORDER_COLUMNS}

    order_id = text["order_id"]
    if not order_id:
        return Rejection(Reason.MISSING_ORDER_ID, "order_id", "empty")
    if len(order_id) > MAX_ORDER_ID_LENGTH or not ORDER_ID_PATTERN.match(order_id):
        return Rejection(Reason.INVALID_ORDER_ID, "order_id", f"{_shorten(order_id)!r} is not a valid id")

    try:
        order_date = date.fromisoformat(text["order_date"])
    except ValueError:
        return Rejection(
            Reason.INVALID_DATE, "order_date", f"{_shorten(text['order_date'])!r} is not YYYY-MM-DD"
        )

    customer = unicodedata.normalize("NFC", text["customer"])
    customer_problem = _customer_problem(customer)
    if customer_problem:
        return Rejection(Reason.INVALID_CUSTOMER, "customer", customer_problem)

    product_id = text["product_id"]
    if not product_id:
        return Rejection(Reason.MISSING_PRODUCT_ID, "product_id", "empty")

    try:
        quantity = int(text["quantity"])
    except ValueError:
        return Rejection(
            Reason.INVALID_QUANTITY, "quantity", f"{_shorten(text['quantity'])!r} is not a whole number"
        )
    if not 1 <= quantity <= MAX_QUANTITY:
        return Rejection(Reason.INVALID_QUANTITY, "quantity", f"{quantity} is outside 1..{MAX_QUANTITY}")

    try:
        amount = Decimal(text["amount"])
    except InvalidOperation:
        return Rejection(Reason.INVALID_AMOUNT, "amount", f"{_shorten(text['amount'])!r} is not a number")
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or abs(amount) >= MAX_AMOUNT:  # type: ignore[operator]
        return Rejection(
            Reason.INVALID_AMOUNT, "amount", f"{_shorten(text['amount'])!r} is not a valid amount"
        )
    if amount < 0:
        return Rejection(Reason.NEGATIVE_AMOUNT, "amount", f"{amount} is negative")

    currency = text["currency"].upper()
    if currency not in CURRENCIES:
        return Rejection(
            Reason.INVALID_CURRENCY, "currency", f"{_shorten(text['currency'])!r} is not supported"
        )

    return Order(
        order_id, order_date, customer, product_id, quantity, amount.quantize(Decimal("0.01")), currency
    )


def parse_product(raw: Mapping[str, str | None]) -> Product:
    """A catalog row; the catalog is reference data we own, so a bad row is an error, not a rejection."""
    missing = [c for c in CATALOG_COLUMNS if not (raw.get(c) or "").strip()]
    if missing:
        raise ValueError(f"catalog row for {raw.get('product_id')!r} lacks {', '.join(missing)}")
    try:
        price = Decimal(str(raw["unit_price"]).strip())
    except InvalidOperation:
        raise ValueError(
            f"catalog row {raw['product_id']!r}: unit_price {raw['unit_price']!r} is not a number"
        ) from None
    return Product(
        product_id=str(raw["product_id"]).strip(),
        name=str(raw["name"]).strip(),
        category=str(raw["category"]).strip(),
        unit_price=price,
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
            return f"contains the control character U+{ord(char):04X}"
    return None


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
