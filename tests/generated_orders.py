"""Generated partner files (pipeline.generator) and the orders a run of them must leave in the orders table."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from pipeline.contract import Order, Product, order_key, parse_order
from pipeline.generator import OrderFile
from pipeline.sources import EXTRA_KEY


def generate(
    products: Sequence[Product], day: date, *, rows: int, bad_rate: float, seed: int
) -> tuple[OrderFile, str]:
    """A generated file for ``day`` and its text; the file's ``expected`` counts are final."""
    orders = OrderFile(products, rows=rows, bad_rate=bad_rate, seed=seed, day=day)
    return orders, "".join(orders.lines())


def expected_orders(text: str, products: Sequence[Product]) -> dict[str, Order]:
    """The orders a run of the CSV ``text`` must load, by order_id: the last row of each order_id wins
    (as the load's deduplication decides), and is loaded when the contract accepts it and the catalog
    knows its product. Worked out row by row from the text, independently of the pipeline's Spark code."""
    known = {product.product_id for product in products}
    newest: dict[str, dict[str, str | None]] = {}
    for row in csv.DictReader(io.StringIO(text), restval=None, restkey=EXTRA_KEY):
        key = order_key(row)
        if key:
            newest[key] = row
    orders = {}
    for row in newest.values():
        parsed = parse_order(row)
        if isinstance(parsed, Order) and parsed.product_id in known:
            orders[parsed.order_id] = parsed
    return orders
