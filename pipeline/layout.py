"""Where everything lives in S3: the one definition of the landing and staging layouts.

The staging bucket has two lifetimes. ``runs/<run_id>/`` holds what one run works with (chunks, manifest,
report, drained messages) and expires with the bucket's ``runs/`` lifecycle rule (30 days by default).
``tracking/`` holds what must outlive the queues that point at it: ``tracking/retry/`` the payloads of retry
messages too large for SQS (kept longer than a message can live on the retry queue and then its dead-letter
queue) and ``tracking/quarantine/`` the quarantined records and unreadable messages (kept for months, see
infra/modules/storage).
"""

from __future__ import annotations

import hashlib
from datetime import date

LANDING_ORDERS_PREFIX = "landing/orders"
CATALOG_KEY = "reference/products.csv"
RUNS_PREFIX = "runs/"
RETRY_PAYLOAD_PREFIX = "tracking/retry/"
QUARANTINE_PREFIX = "tracking/quarantine/"


def orders_prefix(run_date: date) -> str:
    """The partner's drop for a day: every *.csv under it is part of the day's file set."""
    return f"{LANDING_ORDERS_PREFIX}/dt={run_date.isoformat()}/"


def run_id_for(run_date: date, execution_arn: str) -> str:
    """A run's id: the date plus a digest of the execution, so retries of a step reuse the same keys
    while a forced re-run of the date (a new execution) gets fresh ones."""
    digest = hashlib.sha256(execution_arn.encode()).hexdigest()[:10]
    return f"{run_date.isoformat()}-{digest}"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


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


def quarantine_prefix(run_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{run_id}/"


def quarantine_key(run_id: str) -> str:
    """The records a run quarantined (out of attempts, or moved to the DLQ by SQS), announced on the DLQ."""
    return f"{quarantine_prefix(run_id)}records.jsonl.gz"


def requeued_quarantine_key(run_id: str) -> str:
    """Written once a run's quarantined records were put back on the retry queue (``etl requeue``)."""
    return f"{quarantine_prefix(run_id)}requeued.json"


def unreadable_key(run_id: str, source: str, message_id: str) -> str:
    """An unreadable message's raw body, attributes and parse error; ``source`` is ``retry`` or ``dlq``."""
    if source not in {"retry", "dlq"} or not message_id or "/" in message_id:
        raise ValueError(f"an unreadable message needs a source retry|dlq and a message id, got {source!r}")
    return f"{quarantine_prefix(run_id)}unreadable/{source}-{message_id}.json"


def redriven_key(run_id: str) -> str:
    """The DLQ messages SQS redrove that TrackResult received, kept so a repeat counts the same ones."""
    return f"runs/{run_id}/redriven.json"


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
    return f"{RETRY_PAYLOAD_PREFIX}{run_id}/batch-{index:05d}.jsonl.gz"


def partition_key(prefix: str, partition: int) -> str:
    return f"{prefix}part-{partition:05d}.jsonl.gz"
