"""`etl generate`: write a realistic partner file and print the counts a run of it must produce."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.generator import Expected, OrderFile, load_products, write_lines
from pipeline.sources import SourceError


def generate(
    rows: Annotated[int, typer.Option(min=0, help="Data rows to write (the header excluded).")] = 1000,
    bad_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of rows with one defect (rejection or duplicate).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="The same seed and date give the same file.")] = 42,
    out: Annotated[
        str, typer.Option("--out", "-o", help="'-' for stdout, a local path, or s3://bucket/key.")
    ] = "-",
    catalog: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Product catalog CSV the orders refer to.")
    ] = Path("data/products.csv"),
    day: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Order date (default: today, UTC)."),
    ] = None,
) -> None:
    """Generate an order file of any size (streamed; multipart upload to S3) with known expected counts."""
    try:
        products = load_products(catalog)
    except SourceError as error:
        raise typer.BadParameter(str(error), param_hint="--catalog") from None
    order_date = (day or datetime.now(UTC)).date()
    file = OrderFile(products, rows=rows, bad_rate=bad_rate, seed=seed, day=order_date)
    s3 = None
    if out.startswith("s3://"):
        import boto3  # only when uploading: writing a local file needs no AWS configuration

        s3 = boto3.client("s3")
    write_lines(file.lines(), out, s3=s3)
    # With the file on stdout, the counts go to stderr so a pipe receives only the CSV.
    Console(stderr=out == "-").print(expected_table(file.expected, out))


def expected_table(expected: Expected, out: str) -> Table:
    table = Table(title="Expected outcome", caption=out if out != "-" else None, title_justify="left")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    table.add_row("extracted", str(expected.rows), style="bold")
    table.add_row("loaded", str(expected.loaded), style="green")
    table.add_row("duplicates_dropped", str(expected.duplicates_dropped))
    table.add_row("rejected", str(sum(expected.rejected.values())), style="yellow")
    for reason, count in sorted(expected.rejected.items()):
        table.add_row(f"  {reason}", str(count), style="dim")
    return table
