"""`etl` command line: thin commands over pipeline/ and the deployed stack."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Operate the nightly orders ETL: run, follow, inspect history, backfill, simulate, publish dashboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
