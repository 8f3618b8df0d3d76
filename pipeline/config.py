"""The pipeline's configuration: one typed object, read once from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from pipeline import layout

# SQS's longest visibility timeout (12 hours).
MAX_VISIBILITY_SECONDS = 43_200
# The extract's whole retry budget with the shipped state machine and function timeouts: 6 attempts at the
# Extract state's TimeoutSeconds (915) plus its retries' longest waits (1 + 2, then 2 + 4 + 8) = 5,507 s.
# Terraform sets DRAIN_VISIBILITY_SECONDS from the deployed definition (infra/modules/nightly_etl);
# tests/unit/test_config_layout.py checks this default against statemachine/etl.asl.json.
DEFAULT_DRAIN_VISIBILITY_SECONDS = 5_507


class ConfigError(ValueError):
    pass


def retry_budget_seconds(task: Mapping[str, Any], function_timeout: int = 0) -> int:
    """The longest a Task state may run from its first attempt's start to its last attempt's end.

    Every attempt (1 + each retrier's MaxAttempts) at the longer of the state's TimeoutSeconds and the
    function's own timeout, plus every retry's longest wait: IntervalSeconds x BackoffRate^n, capped by
    MaxDelaySeconds (a FULL jitter waits at most that long). The defaults are Step Functions' own
    (IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0). The same sum is done in Terraform
    (infra/modules/nightly_etl) to configure the deployed functions.
    """
    if "TimeoutSeconds" not in task and not function_timeout:
        raise ConfigError("the task has no TimeoutSeconds and no function timeout: its budget is unbounded")
    attempt = max(int(task.get("TimeoutSeconds", 0)), int(function_timeout))
    attempts = 1
    waits = 0.0
    for retrier in task.get("Retry", ()):
        interval = float(retrier.get("IntervalSeconds", 1))
        backoff = float(retrier.get("BackoffRate", 2.0))
        cap = retrier.get("MaxDelaySeconds")
        for n in range(int(retrier.get("MaxAttempts", 3))):
            wait = interval * backoff**n
            waits += min(wait, float(cap)) if cap is not None else wait
            attempts += 1
    return attempts * attempt + math.ceil(waits)


@dataclass(frozen=True)
class Config:
    runs_table: str
    orders_table: str
    landing_bucket: str
    staging_bucket: str
    retry_queue_url: str
    retry_dlq_url: str
    status_topic_arn: str
    max_attempts: int = 3
    orders_source: str = ""
    catalog_source: str = ""
    chunk_rows: int = 50_000
    environment: str = "local"
    redash_url: str = ""
    redash_api_key_parameter: str = ""
    # Fault hook for failure-path tests: the extract crashes once per run after writing this many chunks.
    extract_crash_after_chunks: int = 0
    # Fault hook for failure-path tests: Notify fails once per outcome right after publishing its email.
    notify_crash_after_publish: int = 0
    # How long drained retry messages stay hidden: the extract's whole retry budget (retry_budget_seconds).
    drain_visibility_seconds: int = DEFAULT_DRAIN_VISIBILITY_SECONDS

    def orders_source_for(self, run_date: str) -> str:
        """The day's partner source: an s3:// prefix (every .csv under it) or an https:// URL."""
        template = (
            self.orders_source
            or f"s3://{self.landing_bucket}/{layout.LANDING_ORDERS_PREFIX}/dt={{run_date}}/"
        )
        return template.format(run_date=run_date)

    @property
    def catalog(self) -> str:
        return self.catalog_source or f"s3://{self.landing_bucket}/{layout.CATALOG_KEY}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        missing = []
        for f in fields(cls):
            name = f.name.upper()
            if name in env and env[name] != "":
                text = env[name]
                if f.type == "int":
                    try:
                        values[f.name] = int(text)
                    except ValueError:
                        raise ConfigError(f"{name} must be a whole number, got {text!r}") from None
                else:
                    values[f.name] = text
            elif f.default is MISSING:
                missing.append(name)
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        config = cls(**values)  # type: ignore[arg-type]
        if config.max_attempts < 1:
            raise ConfigError(f"MAX_ATTEMPTS must be at least 1, got {config.max_attempts}")
        if config.chunk_rows < 1:
            raise ConfigError(f"CHUNK_ROWS must be at least 1, got {config.chunk_rows}")
        if not 1 <= config.drain_visibility_seconds <= MAX_VISIBILITY_SECONDS:
            raise ConfigError(
                f"DRAIN_VISIBILITY_SECONDS must be within 1..{MAX_VISIBILITY_SECONDS} (SQS's longest visibility "
                f"timeout), got {config.drain_visibility_seconds}: shorten the extract's timeout or retries"
            )
        return config
