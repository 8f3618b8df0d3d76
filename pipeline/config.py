"""The pipeline's configuration: one typed object, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields

from pipeline import layout


class ConfigError(ValueError):
    pass


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
        return config
