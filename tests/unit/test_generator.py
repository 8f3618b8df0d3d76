import csv
import datetime as dt
import io
from collections import Counter
from itertools import islice
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from pipeline.contract import ORDER_COLUMNS, Reason, Rejection, order_key, parse_order
from pipeline.generator import BAD_KINDS, OrderFile, load_products, write_lines
from pipeline.runs import RunStatus

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "data" / "products.csv"
DAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def products():
    return load_products(CATALOG)


def generated(products, rows=2000, bad_rate=0.3, seed=7) -> tuple[str, OrderFile]:
    file = OrderFile(products, rows=rows, bad_rate=bad_rate, seed=seed, day=DAY)
    return "".join(file.lines()), file


def outcomes(text: str, known_products: set[str]) -> Counter:
    """What a load makes of a file: dedupe by order_id (the later row wins), then validate the survivors."""
    rows = list(csv.DictReader(io.StringIO(text), restval=None, restkey="_extra"))
    last_line = {order_key(row): line for line, row in enumerate(rows) if order_key(row)}
    counts: Counter = Counter()
    for line, row in enumerate(rows):
        key = order_key(row)
        if key and last_line[key] != line:
            counts["duplicates_dropped"] += 1
            continue
        order = parse_order(row)
        if isinstance(order, Rejection):
            counts[order.reason.value] += 1
        elif order.product_id not in known_products:
            counts[Reason.UNKNOWN_PRODUCT.value] += 1
        else:
            counts["loaded"] += 1
    return counts


def test_the_same_seed_and_day_give_the_same_file_and_another_seed_another(products):
    first, _ = generated(products, seed=7)
    again, _ = generated(products, seed=7)
    other, _ = generated(products, seed=8)
    assert first == again
    assert first != other
    assert first.splitlines()[0] == ",".join(ORDER_COLUMNS)


def test_the_expected_counts_are_what_the_contract_makes_of_every_row(products):
    text, file = generated(products, rows=5000, bad_rate=0.4, seed=21)
    counts = outcomes(text, {p.product_id for p in products})

    expected = file.expected
    assert expected.rows == 5000 == len(text.splitlines()) - 1
    assert counts.pop("loaded") == expected.loaded
    assert counts.pop("duplicates_dropped") == expected.duplicates_dropped
    assert dict(counts) == expected.rejected


def test_every_rejection_reason_and_duplicates_appear_at_about_the_bad_rate(products):
    _, file = generated(products, rows=5000, bad_rate=0.4, seed=21)
    expected = file.expected
    assert set(expected.rejected) == {reason.value for reason in Reason}
    assert expected.duplicates_dropped > 0
    share_per_kind = 5000 * 0.4 / len(BAD_KINDS)
    assert all(0.6 * share_per_kind < n < 1.4 * share_per_kind for n in expected.rejected.values())
    assert 0.35 < expected.bad_rows / expected.rows < 0.45


def test_a_file_without_bad_rows_loads_entirely(products):
    text, file = generated(products, rows=500, bad_rate=0.0)
    assert (file.expected.loaded, file.expected.bad_rows) == (500, 0)
    assert outcomes(text, {p.product_id for p in products}) == Counter(loaded=500)


def test_the_expected_counts_balance_the_accounting_identity(products):
    _, file = generated(products, rows=3000, bad_rate=0.2, seed=3)
    counts = file.expected.as_counts().check()
    assert counts.extracted == 3000
    assert counts.loaded + counts.rejected + counts.duplicates_dropped == 3000
    assert counts.status() is RunStatus.SUCCEEDED_WITH_ERRORS


def test_lines_are_generated_lazily_whatever_the_size(products):
    file = OrderFile(products, rows=10**12, bad_rate=0.1, seed=1, day=DAY)
    lines = list(islice(file.lines(), 4))
    assert lines[1].startswith("ORD-20260115-0000001,2026-01-15,")
    assert file.expected.rows == 3


def test_amounts_are_the_catalog_price_times_the_quantity(products):
    text, _ = generated(products, rows=200, bad_rate=0.0)
    prices = {p.product_id: p.unit_price for p in products}
    for row in csv.DictReader(io.StringIO(text)):
        assert str(prices[row["product_id"]] * int(row["quantity"])) == row["amount"]


def test_a_path_and_stdout_get_the_same_bytes(products, tmp_path):
    path = tmp_path / "nested" / "orders.csv"
    write_lines(OrderFile(products, rows=300, bad_rate=0.2, seed=2, day=DAY).lines(), str(path))
    stdout = io.StringIO()
    write_lines(OrderFile(products, rows=300, bad_rate=0.2, seed=2, day=DAY).lines(), "-", stdout=stdout)
    assert path.read_bytes() == stdout.getvalue().encode()


def test_a_big_file_is_uploaded_to_s3_in_parts(products, tmp_path, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    local = tmp_path / "orders.csv"
    write_lines(OrderFile(products, rows=140_000, bad_rate=0.05, seed=9, day=DAY).lines(), str(local))
    assert local.stat().st_size > 8 * 1024 * 1024  # above upload_fileobj's multipart threshold
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="landing")
        file = OrderFile(products, rows=140_000, bad_rate=0.05, seed=9, day=DAY)
        write_lines(file.lines(), "s3://landing/landing/orders/dt=2026-01-15/orders.csv", s3=s3)
        stored = s3.get_object(Bucket="landing", Key="landing/orders/dt=2026-01-15/orders.csv")
        assert stored["ETag"].strip('"').endswith("-2")  # a multipart upload of two parts
        assert stored["Body"].read() == local.read_bytes()
    assert file.expected.rows == 140_000


def test_writing_to_s3_without_a_client_is_refused(products):
    with pytest.raises(ValueError, match=r"s3://b/k.csv needs an S3 client"):
        write_lines(iter(["a\n"]), "s3://b/k.csv")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"rows": -1, "bad_rate": 0.1}, "rows must be at least 0"), ({"rows": 1, "bad_rate": 1.5}, "bad_rate")],
)
def test_impossible_settings_are_refused(products, arguments, message):
    with pytest.raises(ValueError, match=message):
        OrderFile(products, seed=1, day=DAY, **arguments)


# --- the command ----------------------------------------------------------------------------------


def test_etl_generate_writes_the_file_and_prints_its_expected_counts(products, tmp_path):
    from etl.cli import app

    out = tmp_path / "orders.csv"
    arguments = ["--rows", "40", "--bad-rate", "0.5", "--seed", "4", "--date", "2026-01-15"]
    result = CliRunner().invoke(app, ["generate", *arguments, "--out", str(out), "--catalog", str(CATALOG)])

    assert result.exit_code == 0, result.output
    file = OrderFile(products, rows=40, bad_rate=0.5, seed=4, day=DAY)
    assert out.read_text(encoding="utf-8") == "".join(file.lines())
    table = {
        cells[0]: int(cells[1])
        for line in result.output.splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")])
        and len(cells) == 2
        and cells[1].isdigit()
    }
    assert table["extracted"] == 40
    assert table["loaded"] == file.expected.loaded
    assert table["rejected"] == sum(file.expected.rejected.values())
    assert table["duplicates_dropped"] == file.expected.duplicates_dropped


def test_etl_generate_to_stdout_keeps_the_counts_out_of_the_csv(tmp_path):
    from etl.cli import app

    arguments = ["--rows", "5", "--seed", "1", "--date", "2026-01-15", "--catalog", str(CATALOG)]
    result = CliRunner().invoke(app, ["generate", *arguments])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ",".join(ORDER_COLUMNS)
    assert len(result.stdout.splitlines()) == 6
    assert "extracted" in result.stderr
