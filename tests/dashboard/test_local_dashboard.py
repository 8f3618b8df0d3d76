"""The local HTML dashboard, rendered from the seeded runs and opened in headless Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard.local import write_local_dashboard
from etl.cli import app
from tests.dashboard.headless_chromium import count_colour, dump_dom, read_png, screenshot
from tests.dashboard.seed_runs import AS_OF, REGION, RUNS_TABLE

WINDOW = (1280, 2200)


class Marks(HTMLParser):
    """The data-carrying elements of the page, each with the visualization it belongs to."""

    def __init__(self) -> None:
        super().__init__()
        self.svg: str | None = None
        self.marks: list[tuple[str, str, dict[str, str]]] = []  # (visualization, tag, attributes)
        self.counters: dict[str, str] = {}
        self.table_rows: list[str] = []
        self.status_cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "svg" and "data-visualization" in attributes:
            self.svg = attributes["data-visualization"]
        elif self.svg and tag in ("circle", "rect") and "data-y" in attributes:
            self.marks.append((self.svg, tag, attributes))
        elif "counter-body" in attributes.get("class", ""):
            self.counters[attributes["data-visualization"]] = attributes["data-value"]
        elif tag == "tr" and "data-status" in attributes:
            self.table_rows.append(attributes["data-status"])
        elif tag == "td" and attributes.get("data-column") == "status":
            self.status_cells.append(attributes.get("class", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.svg = None

    def values(self, visualization: str) -> set[tuple[str, str, float]]:
        return {
            (a["data-series"], a["data-x"], float(a["data-y"]))
            for name, _, a in self.marks
            if name == visualization
        }


@pytest.fixture
def page(definition, settings, tmp_path: Path) -> Path:
    dashboard = write_local_dashboard(definition, settings, tmp_path / "dashboard.html")
    assert dashboard.errors == {}
    return dashboard.path


@pytest.fixture
def rendered(page: Path, chromium: str, tmp_path: Path) -> Marks:
    """The DOM as Chromium built it from the file."""
    dom = dump_dom(chromium, tmp_path / "profile-dom", page.as_uri())
    marks = Marks()
    marks.feed(dom)
    return marks


def test_the_page_loads_nothing_from_anywhere(page: Path):
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html
    assert set(re.findall(r"https?://[^\s'\"<>]+", html)) == {"http://www.w3.org/2000/svg"}


def test_revenue_per_day_draws_one_line_per_currency(rendered: Marks):
    assert rendered.values("Revenue per day") == {
        ("EUR", "2026-11-17", 5230.4),
        ("EUR", "2026-11-18", 4100.1),
        ("USD", "2026-11-18", 950.0),
        ("EUR", "2026-11-20", 3999.99),
    }
    assert {tag for name, tag, _ in rendered.marks if name == "Revenue per day"} == {"circle"}


def test_records_per_run_stack_the_outcomes_of_each_run(rendered: Marks):
    bars = rendered.values("Loaded, rejected and retried per run")
    assert {b for b in bars if b[1] == "2026-11-18"} == {
        ("loaded", "2026-11-18", 120.0),
        ("rejected", "2026-11-18", 6.0),
        ("queued_for_retry", "2026-11-18", 4.0),
        ("quarantined", "2026-11-18", 0.0),
        ("duplicates_dropped", "2026-11-18", 0.0),
    }
    assert sum(v for s, x, v in bars if x == "2026-11-20") == 104  # extracted 100 + retried in 4


def test_category_rejection_and_backlog_charts_show_the_window(rendered: Marks):
    assert rendered.values("Revenue by category") == {
        ("EUR", "Garden", 5430.4),
        ("EUR", "Books", 5400.1),
        ("EUR", "Toys", 2499.99),
        ("USD", "Books", 950.0),
    }
    assert rendered.values("Top rejection reasons") == {
        ("rejected", "unknown_product", 5.0),
        ("rejected", "invalid_amount", 2.0),
        ("rejected", "invalid_date", 2.0),
    }
    assert ("retry_backlog", "2026-11-18", 4.0) in rendered.values("Retry backlog over time")
    assert ("quarantine_total", "2026-11-21", 1.0) in rendered.values("Retry backlog over time")


def test_counters_show_the_latest_run(rendered: Marks):
    assert rendered.counters == {
        "Last run status": "NO_DATA",
        "Orders loaded (last run)": "0",
        "Retry backlog": "0",
        "Quarantine": "1",
    }


def test_the_runs_table_colours_each_status(rendered: Marks):
    assert rendered.table_rows == [
        "NO_DATA",
        "SUCCEEDED_WITH_ERRORS",
        "FAILED",
        "SUCCEEDED_WITH_ERRORS",
        "SUCCEEDED",
    ]
    assert rendered.status_cells == ["status idle", "status warn", "status bad", "status warn", "status ok"]


def test_the_screenshot_shows_the_charts_in_their_colours(page: Path, chromium: str, tmp_path: Path):
    shot = screenshot(chromium, tmp_path / "profile-shot", page.as_uri(), tmp_path / "dashboard.png", WINDOW)
    assert shot.stat().st_size > 30_000
    width, height, rows = read_png(shot)
    assert (width, height) == WINDOW
    # Loaded (green) dominates the stacked columns; rejections (red) fill the reasons' bars and a few stacks.
    assert count_colour(rows, "#2E9E5B") > 20_000
    assert count_colour(rows, "#D64545") > 5_000
    assert count_colour(rows, "#356AFF") > 20_000  # EUR revenue and orders
    assert count_colour(rows, "#7B4FD6") > 200  # the quarantine line


def test_the_local_command_prints_the_path_of_the_page(runs_table: str, tmp_path: Path):
    target = tmp_path / "out" / "dash.html"
    arguments = ["dashboard", "local", "--runs-table", RUNS_TABLE, "--region", REGION]
    result = CliRunner().invoke(app, [*arguments, "--as-of", AS_OF, "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target.resolve())
    assert "Revenue by category" in target.read_text(encoding="utf-8")


def test_the_local_command_fails_when_the_table_is_missing(aws: None, tmp_path: Path):
    arguments = ["dashboard", "local", "--runs-table", "no-such-table", "--region", REGION]
    result = CliRunner().invoke(app, [*arguments, "--output", str(tmp_path / "d.html")])
    assert result.exit_code == 1
    assert "ResourceNotFoundException" in result.output
