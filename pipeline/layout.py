"""Where everything lives in S3: the one definition of the landing and staging layouts."""

from __future__ import annotations

import hashlib
from datetime import date

LANDING_ORDERS_PREFIX = "landing/orders"
CATALOG_KEY = "reference/products.csv"


def orders_prefix(run_date: date) -> str:
    """The partner's drop for a day: every *.csv under it is part of the day's file set."""
    return f"{LANDING_ORDERS_PREFIX}/dt={run_date.isoformat()}/"


def run_id_for(run_date: date, execution_arn: str) -> str:
    """A run's id: the date plus a digest of the execution, so retries of a step reuse the same keys
    while a forced re-run of the date (a new execution) gets fresh ones."""
    digest = hashlib.sha256(execution_arn.encode()).hexdigest()[:10]
    return f"{run_date.isoformat()}-{digest}"


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def staging_chunk_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/staging/part-{index:05d}.jsonl.gz"


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def report_key(run_id: str) -> str:
    return f"runs/{run_id}/report.json"


def rejected_prefix(run_id: str) -> str:
    return f"runs/{run_id}/rejected/"


def failed_prefix(run_id: str) -> str:
    return f"runs/{run_id}/failed/"


def quarantine_key(run_id: str) -> str:
    return f"runs/{run_id}/quarantine/records.jsonl.gz"


def staged_catalog_key(run_id: str) -> str:
    """The catalog as checked by the extract: the load joins against this copy, not the live reference."""
    return f"runs/{run_id}/catalog.csv"


def drained_batch_key(run_id: str, index: int) -> str:
    """Retry messages the extract received (records and receipt handles), kept before anything is staged."""
    return f"runs/{run_id}/drained/batch-{index:05d}.jsonl.gz"


def drained_complete_key(run_id: str) -> str:
    """Written once the drain is over: a re-run of the extract reuses the batches instead of receiving."""
    return f"runs/{run_id}/drained/complete.json"


def fault_marker_key(run_id: str, fault: str) -> str:
    """Remembers that a test fault already fired for a run, so it fires on the first attempt only."""
    return f"runs/{run_id}/faults/{fault}"


def retry_payload_key(run_id: str, index: int) -> str:
    """Failed records too large for one SQS message are kept here and the message points at them."""
    return f"runs/{run_id}/retry/batch-{index:05d}.jsonl.gz"


def partition_key(prefix: str, partition: int) -> str:
    return f"{prefix}part-{partition:05d}.jsonl.gz"
