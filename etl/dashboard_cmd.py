"""`etl dashboard publish` and `etl dashboard local`: translate arguments, call dashboard/, print the outcome."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import boto3
import typer

from dashboard import definitions
from dashboard.local import write_local_dashboard
from dashboard.publish import publish as publish_dashboard
from etl.stack import ROOT, Stack, StackError
from pipeline.redash import RedashClient, RedashError

dashboard_app = typer.Typer(
    help="Publish the Redash dashboard, or render it as one local HTML file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

EnvOption = Annotated[
    str, typer.Option("--env", "-e", envvar="ETL_ENV", help="local (the emulator), dev or prod.")
]
RunsTableOption = Annotated[
    str | None,
    typer.Option(help="The runs table to read (default: the deployed stack's, from Terraform's outputs)."),
]
RegionOption = Annotated[
    str | None, typer.Option(help="The runs table's region (default: the AWS session's).")
]


def _settings(
    env: str, runs_table: str | None, region: str | None, endpoint_url: str | None, as_of: str | None
) -> definitions.Settings:
    if runs_table is None:
        try:
            runs_table = Stack(env).outputs.runs_table_name
        except StackError as exc:
            typer.echo(f"error: {exc} (or name the table with --runs-table)", err=True)
            raise typer.Exit(2) from None
    region = region or boto3.session.Session().region_name or "us-east-1"
    return definitions.Settings(runs_table, region, endpoint_url, as_of)


def _load() -> definitions.DashboardDefinition:
    try:
        return definitions.load()
    except definitions.DefinitionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@dashboard_app.command()
def publish(
    redash_url: Annotated[str, typer.Option(envvar="REDASH_URL", help="Redash's base URL.")],
    api_key: Annotated[
        str, typer.Option(envvar="REDASH_API_KEY", help="A Redash user API key with admin rights.")
    ],
    env: EnvOption = "local",
    runs_table: RunsTableOption = None,
    region: RegionOption = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="An AWS endpoint for Redash to use instead of AWS's (rarely needed).")
    ] = None,
    refresh: Annotated[bool, typer.Option(help="Run every query once after publishing.")] = True,
) -> None:
    """Create or update the data source, queries, visualizations and dashboard in Redash; print its URL."""
    definition = _load()
    settings = _settings(env, runs_table, region, endpoint_url, as_of=None)
    try:
        result = publish_dashboard(
            RedashClient(redash_url, api_key), definition, settings, env, refresh=refresh
        )
    except RedashError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for verb, names in (
        ("created", result.created),
        ("updated", result.updated),
        ("removed", result.deleted),
    ):
        for name in names:
            typer.echo(f"  {verb} {name}")
    if not (result.created or result.updated or result.deleted):
        typer.echo("  everything was up to date")
    typer.echo(result.url)


@dashboard_app.command()
def local(
    env: EnvOption = "local",
    runs_table: RunsTableOption = None,
    region: RegionOption = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="The AWS endpoint (default: AWS_ENDPOINT_URL).")
    ] = None,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day of the window (default: today).")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Where to write the page.")] = None,
) -> None:
    """Run the dashboard's queries and write it as one self-contained HTML file; print the file's path."""
    definition = _load()
    settings = _settings(env, runs_table, region, endpoint_url, as_of.date().isoformat() if as_of else None)
    target = (output or ROOT / "build" / "dashboard" / f"{env}.html").resolve()
    page = write_local_dashboard(definition, settings, target, title_suffix=env)
    for key, error in page.errors.items():
        typer.echo(f"warning: query {key} failed: {error}", err=True)
    typer.echo(str(page.path))
    if page.errors:
        raise typer.Exit(1)
