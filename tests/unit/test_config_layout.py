from datetime import date

import pytest

from pipeline import layout
from pipeline.config import Config, ConfigError

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
