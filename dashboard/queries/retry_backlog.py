"""
+++
name = "Retry backlog"
description = "Records waiting in the retry queue after each run, and the running total of quarantined records (etl_runs retry_backlog, quarantine_total), last 30 days."

[[visualizations]]
name = "Retry backlog over time"
type = "CHART"
position = { col = 3, row = 12, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "line"
columnMapping = { run_date = "x", retry_backlog = "y", quarantine_total = "y" }
xAxis = { type = "datetime", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Records" } }]
legend = { enabled = true }

[visualizations.options.seriesOptions]
retry_backlog = { name = "Waiting for retry", color = "#E8A33D", zIndex = 0, index = 0 }
quarantine_total = { name = "Quarantined (total)", color = "#7B4FD6", zIndex = 1, index = 1 }
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

rows = []
for item in items:
    if "retry_backlog" in item:
        rows.append(
            {
                "run_date": item["run_date"],
                "retry_backlog": int(item["retry_backlog"]),
                "quarantine_total": int(item.get("quarantine_total", 0)),
            }
        )

result = {
    "columns": [
        {"name": "run_date", "friendly_name": "Run date", "type": "date"},
        {"name": "retry_backlog", "friendly_name": "Waiting for retry", "type": "integer"},
        {"name": "quarantine_total", "friendly_name": "Quarantined (total)", "type": "integer"},
    ],
    "rows": sorted(rows, key=lambda row: row["run_date"]),
}
