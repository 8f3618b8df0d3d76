"""The dashboard as one self-contained HTML file, from the same query definitions Redash runs.

Each query script runs through the Redash-compatible runner against the given runs table (the emulator's or
a real one); each visualization is drawn where the dashboard's grid places it: charts as inline SVG,
counters, the runs table with status colours. No script, stylesheet or font is loaded from anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from dashboard.definitions import GRID_COLUMNS, DashboardDefinition, Placement, QueryDefinition, Settings
from dashboard.runner import QueryResult, ScriptError, run_script
from dashboard.svg import chart_svg

COLUMN_WIDTH = 204  # px per grid column, for a 1280 px wide page
ROW_HEIGHT = 40  # px per grid row
GAP = 14
STATUS_CLASSES = {
    "SUCCEEDED": "ok",
    "SUCCEEDED_WITH_ERRORS": "warn",
    "NO_DATA": "idle",
    "FAILED": "bad",
    "RUNNING": "busy",
}


@dataclass
class LocalDashboard:
    path: Path
    results: dict[str, QueryResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # query key → why it failed


def run_query(query: QueryDefinition, settings: Settings, allowed_modules: tuple[str, ...]) -> QueryResult:
    return run_script(query.render(settings), allowed_modules, query.path.name)


def write_local_dashboard(
    definition: DashboardDefinition,
    settings: Settings,
    output: Path,
    *,
    title_suffix: str = "",
    now: datetime | None = None,
) -> LocalDashboard:
    """Run every query, render the page to ``output`` and return where it is and what failed."""
    dashboard = LocalDashboard(path=output)
    for query in definition.queries:
        try:
            dashboard.results[query.key] = run_query(query, settings, definition.data_source.allowed_modules)
        except ScriptError as error:
            dashboard.errors[query.key] = str(error)
    html = render_html(definition, dashboard.results, dashboard.errors, settings, title_suffix, now)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return dashboard


def render_html(
    definition: DashboardDefinition,
    results: dict[str, QueryResult],
    errors: dict[str, str],
    settings: Settings,
    title_suffix: str = "",
    now: datetime | None = None,
) -> str:
    generated = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    title = definition.name + (f" ({title_suffix})" if title_suffix else "")
    widgets = "\n".join(_widget(p, results, errors) for p in definition.placements())
    source = f"{settings.runs_table} · {settings.region}" + (
        f" · {settings.endpoint_url}" if settings.endpoint_url else ""
    )
    as_of = settings.as_of or "today"
    return PAGE.format(
        title=escape(title),
        generated=escape(generated),
        source=escape(source),
        as_of=escape(as_of),
        columns=GRID_COLUMNS,
        column_width=COLUMN_WIDTH,
        row_height=ROW_HEIGHT,
        gap=GAP,
        widgets=widgets,
    )


def _widget(placement: Placement, results: dict[str, QueryResult], errors: dict[str, str]) -> str:
    position = placement.position
    style = (
        f"grid-column: {position.col + 1} / span {position.size_x}; "
        f"grid-row: {position.row + 1} / span {position.size_y};"
    )
    if placement.visualization is None or placement.query is None:
        return f"<section class='widget text' style='{style}'>{_markdown(placement.text)}</section>"
    visualization, query = placement.visualization, placement.query
    kind = visualization.type.lower()
    header = f"<h2>{escape(visualization.name)}</h2>" if kind != "counter" else ""
    if query.key in errors:
        body = f"<p class='error'>The query “{escape(query.name)}” failed: {escape(errors[query.key])}</p>"
    else:
        result = results[query.key]
        if kind == "chart":
            width = position.size_x * COLUMN_WIDTH + (position.size_x - 1) * GAP - 24
            height = position.size_y * ROW_HEIGHT + (position.size_y - 1) * GAP - 58
            body = chart_svg(
                visualization.name, visualization.options, result.columns, result.rows, width, height
            )
        elif kind == "counter":
            body = _counter(visualization.name, visualization.options, result)
        else:
            body = _table(visualization.name, result)
    return (
        f"<section class='widget {kind}' style='{style}' data-query='{escape(query.key, quote=True)}'>"
        f"{header}{body}</section>"
    )


def _counter(name: str, options: dict[str, Any], result: QueryResult) -> str:
    column = str(options.get("counterColName", ""))
    row_number = int(options.get("rowNumber", 1))
    value = result.rows[row_number - 1].get(column) if len(result.rows) >= row_number else None
    shown = "—" if value is None else (f"{value:,}" if isinstance(value, int | float) else str(value))
    state = STATUS_CLASSES.get(str(value), "") if column == "status" else ""
    return (
        f"<div class='counter-body' data-visualization='{escape(name, quote=True)}' "
        f"data-value='{escape('' if value is None else str(value), quote=True)}'>"
        f"<div class='counter-value {state}'>{escape(shown)}</div>"
        f"<div class='counter-label'>{escape(str(options.get('counterLabel') or name))}</div></div>"
    )


def _table(name: str, result: QueryResult) -> str:
    head = "".join(f"<th>{escape(c.get('friendly_name') or c['name'])}</th>" for c in result.columns)
    rows = []
    for row in result.rows:
        cells = []
        for column in result.columns:
            value = row.get(column["name"])
            css = ""
            if column["name"] == "status":
                css = f" class='status {STATUS_CLASSES.get(str(value), '')}'"
            elif column["name"] == "error" and value:
                css = " class='error-text'"
            elif column["type"] in ("integer", "float"):
                css = " class='num'"
            cells.append(
                f"<td data-column='{escape(column['name'], quote=True)}'{css}>{escape(_cell(value))}</td>"
            )
        status = escape(str(row.get("status", "")), quote=True)
        rows.append(f"<tr data-status='{status}'>{''.join(cells)}</tr>")
    if not rows:
        rows.append(f"<tr><td colspan='{len(result.columns)}' class='empty'>No runs in the window</td></tr>")
    return (
        f"<div class='table-wrap'><table data-visualization='{escape(name, quote=True)}'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _markdown(text: str) -> str:
    """The little Markdown a text widget uses: paragraphs, **bold** and `code`."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    html = []
    for paragraph in paragraphs:
        escaped = escape(" ".join(paragraph.split()))
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)
        html.append(f"<p>{escaped}</p>")
    return "".join(html)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  :root {{ color-scheme: light; }}
  body {{ margin: 0; background: #F3F4F6; color: #111827;
         font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
  header {{ padding: 18px 24px 6px; max-width: 1280px; margin: 0 auto; box-sizing: border-box; }}
  header h1 {{ margin: 0; font-size: 22px; }}
  header p {{ margin: 4px 0 0; color: #6B7280; font-size: 13px; }}
  main {{ display: grid; grid-template-columns: repeat({columns}, minmax(0, 1fr));
         grid-auto-rows: {row_height}px; gap: {gap}px; padding: 14px 24px 28px;
         max-width: 1280px; margin: 0 auto; box-sizing: border-box; }}
  .widget {{ background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12);
            padding: 10px 12px; overflow: hidden; box-sizing: border-box; min-width: 0; }}
  .widget h2 {{ margin: 0 0 6px; font-size: 14px; font-weight: 600; color: #374151; }}
  .widget svg {{ display: block; width: 100%; height: auto; }}
  .text {{ font-size: 13px; line-height: 1.45; color: #374151; }}
  .text p {{ margin: 0 0 6px; }}
  code {{ background: #F3F4F6; padding: 0 3px; border-radius: 3px; font-size: 12px; }}
  .counter {{ display: flex; align-items: center; justify-content: center; text-align: center; }}
  .counter-value {{ font-size: 30px; font-weight: 700; line-height: 1.2; word-break: break-word; }}
  .counter-label {{ margin-top: 6px; font-size: 13px; color: #6B7280; }}
  .ok {{ color: #1E7B45; }} .warn {{ color: #B7791F; }} .bad {{ color: #C53030; }}
  .idle {{ color: #4B5563; }} .busy {{ color: #2B6CB0; }}
  .table-wrap {{ overflow: auto; height: calc(100% - 24px); }}
  table {{ border-collapse: collapse; width: 100%; font-size: 12.5px; }}
  th {{ text-align: left; font-weight: 600; color: #374151; border-bottom: 2px solid #E5E7EB;
       padding: 5px 6px; position: sticky; top: 0; background: #fff; vertical-align: bottom; }}
  td {{ border-bottom: 1px solid #F0F1F3; padding: 5px 6px; white-space: nowrap; }}
  td[data-column="error"] {{ white-space: normal; min-width: 180px; }}
  td.error-text {{ color: #C53030; }}
  td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
  td.status {{ font-weight: 600; }}
  td.status.ok {{ background: #E6F4EA; }} td.status.warn {{ background: #FDF3E1; }}
  td.status.bad {{ background: #FDE8E8; }} td.status.idle {{ background: #F3F4F6; }}
  td.status.busy {{ background: #E6EFFA; }}
  td.empty {{ color: #6B7280; }}
  .error {{ color: #C53030; font-size: 13px; }}
</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <p>Runs table {source} · window ending {as_of} · generated {generated}</p>
</header>
<main>
{widgets}
</main>
</body>
</html>
"""
