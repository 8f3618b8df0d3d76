"""The query scripts, executed by the Redash-compatible runner against a seeded runs table."""

from __future__ import annotations

import boto3
import pytest

from dashboard.definitions import DashboardDefinition, DefinitionError, Settings, load_query
from dashboard.local import run_query
from dashboard.runner import ScriptError, run_script
from tests.dashboard.seed_runs import AS_OF, REGION


def rows(definition: DashboardDefinition, settings: Settings, key: str) -> list[dict]:
    return run_query(definition.query(key), settings, definition.data_source.allowed_modules).rows


def test_revenue_per_day_has_one_row_per_day_and_currency_inside_the_window(definition, settings):
    assert rows(definition, settings, "revenue_per_day") == [
        {"run_date": "2026-11-17", "currency": "EUR", "revenue": 5230.4},
        {"run_date": "2026-11-18", "currency": "EUR", "revenue": 4100.1},
        {"run_date": "2026-11-18", "currency": "USD", "revenue": 950.0},
        {"run_date": "2026-11-20", "currency": "EUR", "revenue": 3999.99},
    ]


def test_orders_per_day_skips_runs_without_aggregates(definition, settings):
    assert rows(definition, settings, "orders_per_day") == [
        {"run_date": "2026-11-17", "orders": 118, "quantity": 240},
        {"run_date": "2026-11-18", "orders": 120, "quantity": 250},
        {"run_date": "2026-11-20", "orders": 99, "quantity": 180},
    ]


def test_revenue_by_category_sums_the_window_per_category_and_currency(definition, settings):
    assert rows(definition, settings, "revenue_by_category") == [
        {"category": "Garden", "currency": "EUR", "revenue": 5430.4},
        {"category": "Books", "currency": "EUR", "revenue": 5400.1},
        {"category": "Toys", "currency": "EUR", "revenue": 2499.99},
        {"category": "Books", "currency": "USD", "revenue": 950.0},
    ]


def test_records_per_run_lists_every_outcome_of_each_tracked_run(definition, settings):
    result = rows(definition, settings, "records_per_run")
    assert [r["run_date"] for r in result] == ["2026-11-17", "2026-11-18", "2026-11-20", "2026-11-21"]
    assert result[2] == {
        "run_date": "2026-11-20",
        "status": "SUCCEEDED_WITH_ERRORS",
        "extracted": 100,
        "retried_in": 4,
        "loaded": 99,
        "rejected": 3,
        "queued_for_retry": 0,
        "quarantined": 1,
        "duplicates_dropped": 1,
    }
    for row in result:
        assert row["extracted"] + row["retried_in"] == sum(
            row[k] for k in ("loaded", "rejected", "queued_for_retry", "quarantined", "duplicates_dropped")
        )


def test_retry_backlog_follows_the_runs_in_date_order(definition, settings):
    assert rows(definition, settings, "retry_backlog") == [
        {"run_date": "2026-11-17", "retry_backlog": 0, "quarantine_total": 0},
        {"run_date": "2026-11-18", "retry_backlog": 4, "quarantine_total": 0},
        {"run_date": "2026-11-20", "retry_backlog": 0, "quarantine_total": 1},
        {"run_date": "2026-11-21", "retry_backlog": 0, "quarantine_total": 1},
    ]


def test_rejection_reasons_are_summed_and_ranked(definition, settings):
    assert rows(definition, settings, "rejection_reasons") == [
        {"reason": "unknown_product", "rejected": 5},
        {"reason": "invalid_amount", "rejected": 2},
        {"reason": "invalid_date", "rejected": 2},
    ]


def test_recent_runs_are_newest_first_with_failures_and_durations(definition, settings):
    result = rows(definition, settings, "recent_runs")
    assert [(r["run_date"], r["status"]) for r in result] == [
        ("2026-11-21", "NO_DATA"),
        ("2026-11-20", "SUCCEEDED_WITH_ERRORS"),
        ("2026-11-19", "FAILED"),
        ("2026-11-18", "SUCCEEDED_WITH_ERRORS"),
        ("2026-11-17", "SUCCEEDED"),
    ]
    failed = result[2]
    assert failed["error"] == "Load: load_orders ran out of memory"
    assert failed["loaded"] is None and failed["attempts"] == 2 and failed["duration_s"] == 600.0
    assert result[3]["duration_s"] == 150.5
    assert result[1]["quarantine_total"] == 1 and result[1]["identity_ok"] is True


def test_the_window_ends_at_the_as_of_date(definition, settings):
    earlier = Settings(settings.runs_table, settings.region, as_of="2026-11-18")
    assert [r["run_date"] for r in rows(definition, earlier, "recent_runs")] == ["2026-11-18", "2026-11-17"]


def test_queries_read_the_runs_table_by_key_and_never_touch_the_orders_table(definition):
    for query in definition.queries:
        assert "batch_get_item" in query.source, query.key
        assert ".scan(" not in query.source and "orders_table" not in query.source.lower(), query.key


def test_rendering_fills_in_the_settings_and_drops_the_front_matter(definition):
    text = definition.query("revenue_per_day").render(
        Settings("prod-etl-runs", "eu-central-1", "http://localhost:4590", "2026-01-31")
    )
    assert "RUNS_TABLE = 'prod-etl-runs'\n" in text
    assert "REGION = 'eu-central-1'\n" in text
    assert "ENDPOINT_URL = 'http://localhost:4590'\n" in text
    assert "AS_OF = '2026-01-31'  # None: today in UTC\n" in text
    assert "+++" not in text and "columnMapping" not in text
    assert text.startswith("# Revenue per day: ")


def test_an_empty_table_gives_empty_results_not_errors(definition, aws):
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="empty-runs",
        KeySchema=[{"AttributeName": "run_date", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_date", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    empty = Settings("empty-runs", REGION, as_of=AS_OF)
    for query in definition.queries:
        result = run_query(query, empty, definition.data_source.allowed_modules)
        assert result.rows == [] and result.columns, query.key


# --- the sandbox behaves like Redash's ------------------------------------------------------------
def test_a_comprehension_cannot_see_top_level_names_as_in_redash():
    script = "limit = 2\nvalues = [n for n in range(5) if n < limit]\nresult = {'columns': [], 'rows': []}\n"
    with pytest.raises(ScriptError, match="NameError: name 'limit' is not defined"):
        run_script(script, ["boto3"])


def test_only_the_data_sources_modules_can_be_imported():
    with pytest.raises(ScriptError, match="'os' is not configured as a supported import module"):
        run_script("import os\nresult = {'columns': [], 'rows': []}\n", ["boto3", "datetime"])


def test_names_starting_with_an_underscore_are_refused():
    with pytest.raises(ScriptError, match="'_private' starts with '_'"):
        run_script("_private = 1\nresult = {'columns': [], 'rows': []}\n", [])


def test_a_result_without_rows_is_refused():
    with pytest.raises(ScriptError, match="missing `rows` field"):
        run_script("result = {'columns': []}\n", [])


def test_print_goes_to_the_log_and_helpers_build_the_result():
    script = (
        "print('hello')\n"
        "add_result_column(result, 'n', 'N', TYPE_INTEGER)\n"
        "add_result_row(result, {'n': 3})\n"
    )
    outcome = run_script(script, [])
    assert outcome.rows == [{"n": 3}] and outcome.log == ["hello"]
    assert outcome.columns == [{"name": "n", "friendly_name": "N", "type": "integer"}]


def test_a_query_file_must_assign_every_setting(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text('"""\n+++\nname = "Broken"\n+++\n"""\n\nRUNS_TABLE = "x"\nresult = {}\n')
    with pytest.raises(DefinitionError, match="REGION, ENDPOINT_URL, AS_OF"):
        load_query(path)


def test_the_layout_fits_the_grid_without_overlaps(definition):
    placements = definition.placements()
    assert len(placements) == 12  # 4 counters, 6 charts, the runs table and the text box
    cells = [cell for p in placements for cell in p.position.cells()]
    assert len(cells) == len(set(cells))
    assert all(0 <= col < 6 for col, _ in cells)
