"""Render a run (its etl_runs item) and the run history for a terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipeline.contract import Reason
from pipeline.runs import Counts

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "SUCCEEDED_WITH_ERRORS": "yellow",
    "NO_DATA": "cyan",
    "FAILED": "red",
    "RUNNING": "blue",
}
OUTCOMES = ("loaded", "rejected", "queued_for_retry", "quarantined", "duplicates_dropped")


def duration_seconds(item: dict[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(item["started_at"]))
        end = datetime.fromisoformat(str(item["finished_at"]))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def run_panel(item: dict[str, Any]) -> Panel:
    status = str(item.get("status", "?"))
    counts = Counts.from_dict(item.get("counts") or {})
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    table.add_row("extracted (today's file)", str(counts.extracted))
    table.add_row("retried in (from earlier runs)", str(counts.retried_in))
    for name in OUTCOMES:
        table.add_row(f"  → {name.replace('_', ' ')}", str(getattr(counts, name)))
    identity = "holds" if counts.balanced else "BROKEN"
    parts: list[Any] = [
        f"run date [bold]{item.get('run_date')}[/bold]   run id {item.get('run_id', '?')}",
        f"duration {_fmt_duration(duration_seconds(item))}   retry backlog {item.get('retry_backlog', 0)}   "
        f"quarantine total {item.get('quarantine_total', 0)}",
        "",
        table,
        "",
        f"identity: {counts.received} received = {counts.accounted} accounted for ({identity})",
    ]
    reasons = item.get("rejection_reasons") or {}
    if reasons:
        parts += ["", "[bold]rejection reasons[/bold]"]
        for reason, count in sorted(reasons.items(), key=lambda kv: (-int(kv[1]), kv[0])):
            description = Reason(reason).description if reason in Reason._value2member_map_ else ""
            parts.append(f"  {int(count):>6}  {reason}  [dim]{description}[/dim]")
    error = item.get("error") or {}
    if error:
        parts += [
            "",
            f"[red]failed at {error.get('state', '?')}[/red]: {error.get('message') or error.get('cause', '')}",
        ]
    style = STATUS_STYLE.get(status, "white")
    return Panel(Group(*parts), title=f"[{style}]{status}[/{style}]", expand=False)


def runs_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title="Run history", header_style="bold")
    for column in (
        "run date",
        "status",
        "extracted",
        "retried in",
        "loaded",
        "rejected",
        "retrying",
        "quarantined",
        "dupes",
        "backlog",
        "duration",
    ):
        table.add_column(column, justify="left" if column in {"run date", "status"} else "right")
    for item in items:
        counts = Counts.from_dict(item.get("counts") or {})
        status = str(item.get("status", "?"))
        style = STATUS_STYLE.get(status, "white")
        table.add_row(
            str(item.get("run_date")),
            f"[{style}]{status}[/{style}]",
            str(counts.extracted),
            str(counts.retried_in),
            str(counts.loaded),
            str(counts.rejected),
            str(counts.queued_for_retry),
            str(counts.quarantined),
            str(counts.duplicates_dropped),
            str(item.get("retry_backlog", 0)),
            _fmt_duration(duration_seconds(item)),
        )
    return table


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def print_email(console: Console, text: str) -> None:
    # The email is data, not markup: "[nightly-etl]" in its subject must print as written.
    console.print(Panel(Text(text.rstrip()), title="status email", expand=False))


def simulation_table() -> Table:
    table = Table(title="Simulated days", header_style="bold")
    for column in (
        "day",
        "run date",
        "status",
        "extracted",
        "retried in",
        "loaded",
        "rejected",
        "retrying",
        "quarantined",
        "dupes",
        "backlog",
        "identity",
    ):
        table.add_column(column, justify="left" if column in {"run date", "status"} else "right")
    return table


def add_day(table: Table, result: Any) -> None:
    counts = result.counts
    style = STATUS_STYLE.get(result.status, "white")
    table.add_row(
        str(result.day),
        str(result.run_date),
        f"[{style}]{result.status}[/{style}]",
        str(counts.extracted),
        str(counts.retried_in),
        str(counts.loaded),
        str(counts.rejected),
        str(counts.queued_for_retry),
        str(counts.quarantined),
        str(counts.duplicates_dropped),
        str(result.retry_backlog),
        "holds" if counts.balanced else "[red]BROKEN[/red]",
    )
