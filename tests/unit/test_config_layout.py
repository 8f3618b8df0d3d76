import json
import re
from datetime import date
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.config import (
    DEFAULT_DRAIN_VISIBILITY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    Config,
    ConfigError,
    retry_budget_seconds,
)

REQUIRED = {
    "RUNS_TABLE": "runs",
    "ORDERS_TABLE": "orders",
    "LANDING_BUCKET": "landing",
    "STAGING_BUCKET": "staging",
    "RETRY_QUEUE_URL": "https://q/retry.fifo",
    "RETRY_DLQ_URL": "https://q/dlq.fifo",
    "STATUS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:status",
}


def test_config_reads_required_and_typed_values():
    config = Config.from_env({**REQUIRED, "MAX_ATTEMPTS": "5", "CHUNK_ROWS": "1000"})
    assert (config.runs_table, config.max_attempts, config.chunk_rows) == ("runs", 5, 1000)


def test_config_names_every_missing_variable():
    with pytest.raises(ConfigError, match="RUNS_TABLE, ORDERS_TABLE"):
        Config.from_env({k: v for k, v in REQUIRED.items() if k not in {"RUNS_TABLE", "ORDERS_TABLE"}})


def test_config_refuses_non_numbers_and_bad_limits():
    with pytest.raises(ConfigError, match="MAX_ATTEMPTS must be a whole number"):
        Config.from_env({**REQUIRED, "MAX_ATTEMPTS": "three"})
    with pytest.raises(ConfigError, match="at least 1"):
        Config.from_env({**REQUIRED, "MAX_ATTEMPTS": "0"})


def test_default_sources_follow_the_landing_layout():
    config = Config.from_env(REQUIRED)
    assert config.orders_source_for("2026-11-22") == "s3://landing/landing/orders/dt=2026-11-22/"
    assert config.catalog == "s3://landing/reference/products.csv"


def test_a_configured_source_template_takes_the_date():
    config = Config.from_env({**REQUIRED, "ORDERS_SOURCE": "https://partner.example/orders/{run_date}.csv"})
    assert config.orders_source_for("2026-11-22") == "https://partner.example/orders/2026-11-22.csv"


def test_run_ids_are_stable_per_execution_and_differ_between_executions():
    day = date(2026, 11, 22)
    first = layout.run_id_for(day, "arn:aws:states:us-east-1:1:execution:etl:a")
    assert first == layout.run_id_for(day, "arn:aws:states:us-east-1:1:execution:etl:a")
    assert first != layout.run_id_for(day, "arn:aws:states:us-east-1:1:execution:etl:b")
    assert first.startswith("2026-11-22-")


def test_staging_keys_are_derived_from_the_run_id():
    assert layout.staging_chunk_key("R", 3) == "runs/R/staging/part-00003.jsonl.gz"
    assert layout.manifest_key("R") == "runs/R/manifest.json"
    assert layout.orders_prefix(date(2026, 1, 2)) == "landing/orders/dt=2026-01-02/"


def test_quarantine_and_retry_payloads_live_under_the_durable_tracking_prefix():
    assert layout.quarantine_key("R") == "tracking/quarantine/R/records.jsonl.gz"
    assert layout.retry_payload_key("R", 2) == "tracking/retry/R/batch-00002.jsonl.gz"
    assert layout.unreadable_key("R", "dlq", "m-1") == "tracking/quarantine/R/unreadable/dlq-m-1.json"
    assert not layout.quarantine_key("R").startswith(layout.RUNS_PREFIX)
    with pytest.raises(ValueError, match="source retry\\|dlq"):
        layout.unreadable_key("R", "elsewhere", "m-1")


# --- the visibility timeout of drained messages ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _definition() -> dict:
    return json.loads((ROOT / "statemachine" / "etl.asl.json").read_text())


def _default_timeout(role: str) -> int:
    """A function's default timeout as infra/modules/compute declares it."""
    text = (ROOT / "infra" / "modules" / "compute" / "main.tf").read_text()
    block = re.search(r"default_timeouts = \{(.*?)\}", text, re.S)
    assert block, "default_timeouts not found in infra/modules/compute/main.tf"
    return int(re.search(rf"^\s*{role}\s*=\s*(\d+)", block.group(1), re.M).group(1))


def test_a_budget_counts_every_attempt_at_its_timeout_and_every_retry_wait():
    task = {
        "TimeoutSeconds": 100,
        "Retry": [
            {"ErrorEquals": ["A"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 2.0},
            {
                "ErrorEquals": ["B"],
                "IntervalSeconds": 10,
                "MaxAttempts": 3,
                "BackoffRate": 3.0,
                "MaxDelaySeconds": 40,
            },
            {"ErrorEquals": ["C"]},  # Step Functions' defaults: 1 s, 3 attempts, rate 2.0
        ],
    }
    # 9 attempts x 100 s + (3 + 6) + (10 + 30 + 40) + (1 + 2 + 4)
    assert retry_budget_seconds(task) == 900 + 9 + 80 + 7
    assert retry_budget_seconds(task, function_timeout=120) == 9 * 120 + 96
    assert retry_budget_seconds({"TimeoutSeconds": 60}) == 60
    with pytest.raises(ConfigError, match="unbounded"):
        retry_budget_seconds({"Retry": []})


def test_the_drain_visibility_covers_the_extract_and_track_result_retry_budgets_of_the_shipped_definition():
    states = _definition()["States"]
    extract = retry_budget_seconds(states["Extract"], _default_timeout("extract"))
    track = retry_budget_seconds(states["TrackResult"], _default_timeout("track_result"))

    assert (extract, track) == (5507, 2233)
    assert max(extract, track) == DEFAULT_DRAIN_VISIBILITY_SECONDS
    assert max(extract, track) <= MAX_VISIBILITY_SECONDS
    assert Config.from_env(REQUIRED).drain_visibility_seconds == 5507


def test_a_drain_visibility_beyond_sqs_twelve_hours_is_refused():
    with pytest.raises(ConfigError, match="DRAIN_VISIBILITY_SECONDS must be within 1..43200"):
        Config.from_env({**REQUIRED, "DRAIN_VISIBILITY_SECONDS": "43201"})
    assert (
        Config.from_env({**REQUIRED, "DRAIN_VISIBILITY_SECONDS": "43200"}).drain_visibility_seconds == 43200
    )
