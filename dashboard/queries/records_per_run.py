"""
+++
name = "Records per run"
description = "Where each run's records went: loaded, rejected, queued for retry, quarantined or dropped as duplicates (etl_runs counts), last 30 days. The stack's height is what the run received."

[[visualizations]]
name = "Loaded, rejected and retried per run"
type = "CHART"
position = { col = 0, row = 12, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "column"
columnMapping = { run_date = "x", loaded = "y", rejected = "y", queued_for_retry = "y", quarantined = "y", duplicates_dropped = "y" }
series = { stacking = "stack" }
xAxis = { type = "datetime", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Records" } }]
legend = { enabled = true }

[visualizations.options.seriesOptions]
loaded = { name = "Loaded", color = "#2E9E5B", zIndex = 0, index = 0 }
rejected = { name = "Rejected", color = "#D64545", zIndex = 1, index = 1 }
queued_for_retry = { name = "Queued for retry", color = "#E8A33D", zIndex = 2, index = 2 }
quarantined = { name = "Quarantined", color = "#7B4FD6", zIndex = 3, index = 3 }
duplicates_dropped = { name = "Duplicates dropped", color = "#8A94A6", zIndex = 4, index = 4 }
+++
"""

import datetime

import boto3

RUNS_TABLE = "nightly-etl-etl-runs"
REGION = "us-east-1"
ENDPOINT_URL = None
AS_OF = None  # None: today in UTC
DAYS = 30

# One item per run date: read exactly the window's dates by key (BatchGetItem), never a scan.
today = datetime.date.fromisoformat(AS_OF) if AS_OF else datetime.datetime.now(datetime.timezone.utc).date()  # noqa: UP017 - Redash's Python predates datetime.UTC
keys = []
for offset in range(DAYS):
    keys.append({"run_date": (today - datetime.timedelta(days=offset)).isoformat()})
dynamodb = boto3.resource("dynamodb", region_name=REGION, endpoint_url=ENDPOINT_URL)
items = []
request = {RUNS_TABLE: {"Keys": keys}}
attempts = 0
while request and attempts < 5:
    attempts = attempts + 1
    response = dynamodb.batch_get_item(RequestItems=request)
    items.extend(response["Responses"].get(RUNS_TABLE, []))
    request = response.get("UnprocessedKeys") or {}
if request:
    raise RuntimeError("DynamoDB kept returning unprocessed keys for " + RUNS_TABLE + ": try again later")

COUNTS = [
    "extracted",
    "retried_in",
    "loaded",
    "rejected",
    "queued_for_retry",
    "quarantined",
    "duplicates_dropped",
]

rows = []
for item in items:
    counts = item.get("counts")
    if counts:
        row = {"run_date": item["run_date"], "status": item.get("status")}
        for name in COUNTS:
            row[name] = int(counts.get(name, 0))
        rows.append(row)

result = {
    "columns": [
        {"name": "run_date", "friendly_name": "Run date", "type": "date"},
        {"name": "status", "friendly_name": "Status", "type": "string"},
        {"name": "extracted", "friendly_name": "Extracted", "type": "integer"},
        {"name": "retried_in", "friendly_name": "Retried in", "type": "integer"},
        {"name": "loaded", "friendly_name": "Loaded", "type": "integer"},
        {"name": "rejected", "friendly_name": "Rejected", "type": "integer"},
        {"name": "queued_for_retry", "friendly_name": "Queued for retry", "type": "integer"},
        {"name": "quarantined", "friendly_name": "Quarantined", "type": "integer"},
        {"name": "duplicates_dropped", "friendly_name": "Duplicates dropped", "type": "integer"},
    ],
    "rows": sorted(rows, key=lambda row: row["run_date"]),
}
