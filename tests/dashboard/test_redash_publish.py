"""Publishing the dashboard to the fake Redash: what is created, and that a second publish creates nothing."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

from dashboard.definitions import Position, Settings
from dashboard.publish import publish
from etl.cli import app
from pipeline.redash import RedashClient
from tests.dashboard.seed_runs import REGION

SETTINGS = Settings("prod-etl-runs", REGION)
DECLARED_VISUALIZATIONS = 11  # 4 counters, 6 charts, 1 table
QUERIES = 7


def test_publish_creates_the_data_source_queries_visualizations_and_one_dashboard(redash, definition):
    result = publish(RedashClient(redash.url, redash.api_key), definition, SETTINGS, "prod")

    # Redash adds a default "Table" visualization to every new query.
    assert redash.counts() == {
        "data_sources": 1,
        "queries": QUERIES,
        "visualizations": QUERIES + DECLARED_VISUALIZATIONS,
        "dashboards": 1,
        "widgets": DECLARED_VISUALIZATIONS + 1,
    }
    source = next(iter(redash.data_sources.values()))
    assert source == {
        "id": result.data_source_id,
        "name": "Nightly ETL runs (Python + boto3)",
        "type": "python",
        "options": {"allowedImportModules": "boto3,datetime"},
    }
    dashboard = redash.dashboards[result.dashboard_id]
    assert dashboard["name"] == "Nightly orders ETL (prod)"
    assert dashboard["is_draft"] is False and dashboard["tags"] == ["nightly-etl", "prod"]
    assert result.url == f"{redash.url}/dashboards/{result.dashboard_id}"


def test_published_queries_refresh_daily_after_the_run_and_read_the_given_table(redash, definition):
    result = publish(RedashClient(redash.url, redash.api_key), definition, SETTINGS, "prod")
    revenue = redash.queries[result.query_ids["revenue_per_day"]]
    assert revenue["name"] == "Revenue per day (prod)"
    assert revenue["is_draft"] is False
    assert revenue["schedule"] == {"interval": 86400, "time": "07:30", "day_of_week": None, "until": None}
    assert "RUNS_TABLE = 'prod-etl-runs'" in revenue["query"] and "REGION = 'eu-west-1'" in revenue["query"]
    assert revenue["data_source_id"] == result.data_source_id
    assert sorted(q for q, _ in redash.executed) == sorted(result.query_ids.values())
    assert all(max_age == 0 for _, max_age in redash.executed)


def test_widgets_sit_where_the_definitions_place_them(redash, definition):
    result = publish(RedashClient(redash.url, redash.api_key), definition, SETTINGS, "prod")
    table_id = result.visualization_ids[("recent_runs", "Recent runs")]
    widget = next(w for w in redash.widgets.values() if w["visualization_id"] == table_id)
    assert {k: widget["options"]["position"][k] for k in ("col", "row", "sizeX", "sizeY")} == {
        "col": 0,
        "row": 28,
        "sizeX": 6,
        "sizeY": 10,
    }
    text = next(w for w in redash.widgets.values() if w["visualization_id"] is None)
    assert text["text"].startswith("**Nightly orders ETL**")
    line = redash.visualizations[result.visualization_ids[("revenue_per_day", "Revenue per day")]]
    assert line["type"] == "CHART" and line["options"]["globalSeriesType"] == "line"
    assert line["options"]["columnMapping"] == {"run_date": "x", "revenue": "y", "currency": "series"}


def test_publishing_twice_creates_nothing_and_keeps_every_id(redash, definition):
    client = RedashClient(redash.url, redash.api_key)
    first = publish(client, definition, SETTINGS, "prod")
    counts = redash.counts()
    writes_before = len(redash.writes())

    second = publish(client, definition, SETTINGS, "prod", refresh=False)

    assert redash.counts() == counts
    assert (second.dashboard_id, second.data_source_id) == (first.dashboard_id, first.data_source_id)
    assert second.query_ids == first.query_ids and second.visualization_ids == first.visualization_ids
    assert second.created == second.updated == second.deleted == []
    assert redash.writes()[writes_before:] == []


def test_another_environment_gets_its_own_queries_and_dashboard(redash, definition):
    client = RedashClient(redash.url, redash.api_key)
    prod = publish(client, definition, SETTINGS, "prod")
    dev = publish(client, definition, Settings("dev-etl-runs", REGION), "dev")
    assert dev.dashboard_id != prod.dashboard_id and dev.data_source_id == prod.data_source_id
    assert redash.counts()["dashboards"] == 2 and redash.counts()["queries"] == 2 * QUERIES
    assert "dev-etl-runs" in redash.queries[dev.query_ids["recent_runs"]]["query"]


def test_a_changed_definition_updates_in_place_and_drops_stale_widgets(redash, definition):
    client = RedashClient(redash.url, redash.api_key)
    first = publish(client, definition, SETTINGS, "prod")
    counts = redash.counts()
    recent = definition.query("recent_runs")
    moved = dataclasses.replace(recent.visualizations[-1], position=Position(0, 30, 6, 12))
    changed_query = dataclasses.replace(
        recent, description="Changed.", visualizations=(*recent.visualizations[:3], moved)
    )
    changed = dataclasses.replace(
        definition, queries=tuple(changed_query if q.key == "recent_runs" else q for q in definition.queries)
    )

    second = publish(client, changed, SETTINGS, "prod", refresh=False)

    assert second.created == []
    assert second.updated == ["query Recent runs (prod)", "widget Recent runs"]
    assert len(second.deleted) == 1  # the "Quarantine" counter's widget
    assert redash.counts() == dict(counts, widgets=counts["widgets"] - 1)
    assert redash.queries[first.query_ids["recent_runs"]]["description"] == "Changed."
    table = next(
        w
        for w in redash.widgets.values()
        if w["visualization_id"] == first.visualization_ids[("recent_runs", "Recent runs")]
    )
    assert table["options"]["position"]["row"] == 30 and table["options"]["position"]["sizeY"] == 12


def test_publish_resumes_a_dashboard_left_untagged_by_an_interrupted_publish(redash, definition):
    client = RedashClient(redash.url, redash.api_key)
    left_over = client.create_dashboard("Nightly orders ETL (prod)")
    result = publish(client, definition, SETTINGS, "prod")
    assert result.dashboard_id == left_over["id"] and redash.counts()["dashboards"] == 1


def test_the_command_prints_the_dashboard_url(redash):
    arguments = ["dashboard", "publish", "--redash-url", redash.url, "--api-key", redash.api_key]
    arguments += ["--env", "prod", "--runs-table", "prod-etl-runs", "--region", REGION]
    first = CliRunner().invoke(app, arguments)
    second = CliRunner().invoke(app, [*arguments, "--no-refresh"])
    dashboard_id = next(iter(redash.dashboards))
    assert first.exit_code == 0, first.output
    assert first.output.strip().splitlines()[-1] == f"{redash.url}/dashboards/{dashboard_id}"
    assert "created query Revenue per day (prod)" in first.output
    assert second.exit_code == 0 and "everything was up to date" in second.output


def test_the_command_explains_a_refused_api_key(redash):
    result = CliRunner().invoke(
        app,
        ["dashboard", "publish", "--redash-url", redash.url, "--api-key", "wrong", "--runs-table", "t"],
    )
    assert result.exit_code == 1
    assert "Redash answers 404 to an unknown API key" in result.output
