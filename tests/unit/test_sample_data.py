import unicodedata
from pathlib import Path

import pytest

from pipeline.contract import ORDER_COLUMNS, Order, Reason, Rejection, order_key, parse_order
from pipeline.generator import load_products
from pipeline.runs import Counts, RunStatus
from pipeline.sources import CsvStream

DATA = Path(__file__).resolve().parents[2] / "data"
ROWS = 11

# data/README.md, row by row: what the contract alone says (None: it accepts the row).
CONTRACT_VERDICT = {
    1: None,
    2: None,
    3: None,
    4: None,
    5: Reason.MISSING_ORDER_ID,
    6: Reason.NEGATIVE_AMOUNT,
    7: Reason.INVALID_CUSTOMER,
    8: None,
    9: None,
    10: None,
    11: Reason.MISSING_FIELD,
}


@pytest.fixture(scope="module")
def rows() -> dict[int, dict]:
    with (DATA / "orders_sample.csv").open("rb") as stream:
        return dict(enumerate(CsvStream(stream, "data/orders_sample.csv", ORDER_COLUMNS), start=1))


@pytest.fixture(scope="module")
def catalog() -> dict[str, object]:
    return {p.product_id: p for p in load_products(DATA / "products.csv")}


def test_the_sample_file_has_the_documented_rows(rows):
    assert len(rows) == ROWS


def test_the_contract_accepts_or_rejects_each_row_as_documented(rows):
    verdicts = {}
    for line, row in rows.items():
        result = parse_order(row)
        verdicts[line] = result.reason if isinstance(result, Rejection) else None
    assert verdicts == CONTRACT_VERDICT


def test_the_non_ascii_name_is_accepted_exactly_as_sent(rows):
    order = parse_order(rows[4])
    assert isinstance(order, Order)
    assert order.customer == "Zoë Ñúñez 👩\u200d💻"


def test_the_unicode_bomb_is_zalgo_with_a_right_to_left_override(rows):
    customer = rows[7]["customer"]
    assert "\u202e" in customer
    assert sum(1 for c in customer if unicodedata.category(c) == "Mn") == 280
    rejection = parse_order(rows[7])
    assert rejection == Rejection(Reason.INVALID_CUSTOMER, "customer", "289 characters, at most 200 allowed")


def test_only_row_8_orders_a_product_outside_the_catalog(rows, catalog):
    accepted = {line: parse_order(row) for line, row in rows.items() if CONTRACT_VERDICT[line] is None}
    unknown = {line for line, order in accepted.items() if order.product_id not in catalog}
    assert unknown == {8}
    assert accepted[8].product_id == "P-9999"


def test_row_10_repeats_row_3_and_wins_with_its_own_values(rows):
    keys = [order_key(row) for row in rows.values() if order_key(row)]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == ["ORD-1003"]
    earlier, later = parse_order(rows[3]), parse_order(rows[10])
    assert (earlier.quantity, str(earlier.amount)) == (1, "119.00")
    assert (later.quantity, str(later.amount)) == (2, "238.00")


def test_the_documented_counts_follow_from_the_rows(rows, catalog):
    rejected = sum(1 for reason in CONTRACT_VERDICT.values() if reason) + 1  # + row 8, the unknown product
    duplicates = 1  # row 3, superseded by row 10
    loaded = ROWS - rejected - duplicates
    counts = Counts(extracted=ROWS, loaded=loaded, rejected=rejected, duplicates_dropped=duplicates).check()
    assert (counts.loaded, counts.rejected, counts.duplicates_dropped) == (5, 5, 1)
    assert counts.status() is RunStatus.SUCCEEDED_WITH_ERRORS
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert (
        "| 11        | 0          | 5      | 5        | 1                  | 0                | 0           |"
        in readme
    )


def test_the_loaded_orders_are_the_documented_ones(rows, catalog):
    survivors = {order_key(row): line for line, row in rows.items() if order_key(row)}
    loaded = sorted(
        key
        for key, line in survivors.items()
        if isinstance(order := parse_order(rows[line]), Order) and order.product_id in catalog
    )
    assert loaded == ["ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1008"]


def test_the_catalog_has_twelve_products_with_a_quoted_name(catalog):
    assert len(catalog) == 12
    assert catalog["P-4001"].name == "Notebook, Dotted A5"
    assert {p.category for p in catalog.values()} == {"Kitchen", "Electronics", "Sports", "Office"}
