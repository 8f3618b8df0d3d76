"""`etl` command line: thin commands over pipeline/ and the deployed stack."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console

from etl import operations as ops
from etl.dashboard_cmd import dashboard_app
from etl.follow import follow, iter_history
from etl.generate_cmd import generate
from etl.simulate import DayResult, FaultSpecError, parse_faults
from etl.simulate import simulate as simulate_days
from etl.stack import Stack, StackError
from etl.summary import add_day, print_email, run_panel, runs_table, simulation_table
from pipeline.tracking import requeue_quarantined

app = typer.Typer(
    help="Operate the nightly orders ETL: run, follow, inspect history, backfill, simulate, publish dashboards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(dashboard_app, name="dashboard")

# --- commands ----------------------------------------------------------------------------------
# Each command only translates arguments and output; the work is in etl.operations and pipeline/.


console = Console()
EnvOption = Annotated[
    str, typer.Option("--env", "-e", envvar="ETL_ENV", help="local (the emulator), dev or prod.")
]
DateOption = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Run date (YYYY-MM-DD).")]


def _stack(env: str) -> Stack:
    try:
        return Stack(env)
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _report(stack: Stack, started: ops.StartedRun, follow_steps: bool, since: float) -> str:
    """Follow (or wait for) a run, print its summary and email; returns the run's status."""
    sfn = stack.client("stepfunctions")
    console.print(f"execution [dim]{started.execution_arn}[/dim]")
    if follow_steps:
        follow(
            lambda: sfn.describe_execution(executionArn=started.execution_arn),
            lambda: list(iter_history(sfn, started.execution_arn)),
            console,
        )
    else:
        ops.wait(stack, started.execution_arn)
    refusal = ops.lock_refusal(stack, started.execution_arn)
    if refusal:
        console.print(f"[red]not run:[/red] {refusal}")
        return "LOCKED"
    item = ops.run_item(stack, started.run_date)
    if item is None:
        console.print(f"[red]no run record for {started.run_date}[/red]")
        return "FAILED"
    console.print(run_panel(item))
    email = ops.latest_email(stack, started.run_date, since=since)
    if email:
        print_email(console, email)
    return str(item.get("status"))


def _exit_for(status: str) -> None:
    if status not in {"SUCCEEDED", "SUCCEEDED_WITH_ERRORS", "NO_DATA"}:
        raise typer.Exit(1)


@app.command()
def run(
    env: EnvOption = "local",
    run_date: DateOption = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Take the date from a holding execution whose status Step Functions cannot tell. A holder that "
            "stopped loses the date without it; one that still runs never does (stop it first)."
        ),
    ] = False,
    follow_steps: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Print each state as it runs.")
    ] = True,
) -> None:
    """Run the pipeline for a date (default: today) and print the summary. Exits 1 if the run failed."""
    stack = _stack(env)
    day = (run_date or datetime.now(UTC)).date()
    since = time.time()
    try:
        started = ops.start_run(stack, day, force=force)
        _exit_for(_report(stack, started, follow_steps, since))
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def demo(
    env: EnvOption = "local",
    follow_steps: Annotated[bool, typer.Option("--follow/--no-follow")] = True,
) -> None:
    """Drop the sample partner file as today's, fire the daily schedule, follow the run (what `make run` does)."""
    stack = _stack(env)
    now = datetime.now(UTC).replace(microsecond=0)
    since = time.time()
    try:
        uri = ops.upload_partner_file(stack, now.date())
        console.print(f"partner file dropped at {uri}")
        started = ops.fire_schedule(stack, now)
        console.print(f"fired the daily schedule ({stack.outputs.daily_rule_name}) as of {now.isoformat()}")
        status = _report(stack, started, follow_steps, since)
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _exit_for(status)


@app.command()
def status(env: EnvOption = "local", run_date: DateOption = None) -> None:
    """Show a run (default: the latest)."""
    stack = _stack(env)
    try:
        if run_date is not None:
            item = ops.run_item(stack, run_date.date())
        else:
            history = ops.run_history(stack, limit=1)
            item = history[0] if history else None
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if item is None:
        console.print("no runs yet")
        raise typer.Exit(1)
    console.print(run_panel(item))


@app.command()
def runs(env: EnvOption = "local", limit: Annotated[int, typer.Option(help="How many days.")] = 30) -> None:
    """The run history as a table, newest first."""
    stack = _stack(env)
    try:
        console.print(runs_table(ops.run_history(stack, limit)))
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def backfill(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First date.")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last date (inclusive).")],
    env: EnvOption = "local",
) -> None:
    """Run a range of dates in order, one after the other; exits 1 if any run failed."""
    stack = _stack(env)
    failed = []
    try:
        days = ops.date_range(start.date(), end.date())
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for day in days:
        console.rule(str(day))
        started = ops.start_run(stack, day)
        status_ = _report(stack, started, follow_steps=False, since=time.time())
        if status_ == "FAILED":
            failed.append(day)
    console.print(runs_table([i for i in ops.run_history(stack, limit=len(days) + 30) if _in(i, days)]))
    if failed:
        console.print(f"[red]failed: {', '.join(map(str, failed))}[/red]")
        raise typer.Exit(1)


def _in(item: dict, days: list[date]) -> bool:
    return str(item.get("run_date")) in {d.isoformat() for d in days}


app.command("generate")(generate)


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, help="Consecutive days to run.")] = 3,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="NAME[=VALUE]@DAYS: unprocessed=0.3@1 (DynamoDB writes), load@2 (Glue job fails)."),
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows per day's file.")] = 1000,
    bad_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of bad rows.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the generated files and fault draws.")] = 7,
    start: Annotated[
        datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="First day.")
    ] = None,
    env: EnvOption = "local",
) -> None:
    """Run consecutive days on the emulator with faults, and show failed records coming back."""
    stack = _stack(env)
    first = (start or datetime.now(UTC)).date()
    try:
        plan = parse_faults(fault or [], stack.outputs.load_job_name)
        table = simulation_table()
        with console.status("simulating…") as status:

            def show(result: DayResult) -> None:
                add_day(table, result)
                status.update(f"day {result.day} {result.run_date}: {result.status}")
                console.print(f"day {result.day} {result.run_date}: {result.status}")

            results = simulate_days(stack, days, first, rows, bad_rate, seed, plan, on_day=show)
    except (StackError, FaultSpecError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(table)
    if any(not r.counts.balanced for r in results):
        console.print("[red]the accounting identity did not hold on every day[/red]")
        raise typer.Exit(1)


@app.command()
def requeue(
    run_id: Annotated[
        str | None,
        typer.Option(
            help="Only the records quarantined by this run; read from its quarantine object in S3 "
            "(tracking/quarantine/) once its DLQ announcement has expired."
        ),
    ] = None,
    env: EnvOption = "local",
) -> None:
    """Put quarantined records back on the retry queue (after fixing what made them fail).

    Unreadable messages, kept raw under tracking/quarantine/<run_id>/unreadable/, are never requeued.
    """
    stack = _stack(env)
    try:
        count = requeue_quarantined(
            stack.pipeline_config(), stack.client("s3"), stack.client("sqs"), run_id=run_id
        )
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"requeued {count} record(s); the next run retries them")


@app.command()
def smoke(
    env: EnvOption = "local",
    canary_date: Annotated[
        datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="A date that never has partner data.")
    ] = datetime(2000, 1, 1),
) -> None:
    """Check a deployment: run the state machine for a canary date (no partner file, so nothing is
    written to the orders table) and require a NO_DATA run whose status email was published."""
    stack = _stack(env)
    try:
        started = ops.start_run(stack, canary_date.date())
        execution = ops.wait(stack, started.execution_arn, timeout_seconds=900)
        problems = ops.smoke_problems(stack, started, execution)
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if problems:
        for problem in problems:
            console.print(f"[red]smoke test failed:[/red] {problem}")
        raise typer.Exit(1)
    console.print(
        f"smoke test passed: {started.execution_arn} SUCCEEDED, NO_DATA run recorded, status email published"
    )
