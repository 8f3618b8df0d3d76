"""
+++
name = "Revenue per day"
description = "Revenue of the orders loaded each run date, per currency (etl_runs aggregates.revenue), last 30 days."

[[visualizations]]
name = "Revenue per day"
type = "CHART"
position = { col = 0, row = 4, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "line"
columnMapping = { run_date = "x", revenue = "y", currency = "series" }
xAxis = { type = "datetime", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Revenue" } }]
legend = { enabled = true }
numberFormat = "0,0.00"
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
    revenue = (item.get("aggregates") or {}).get("revenue") or {}
    for currency in sorted(revenue):
        rows.append(
            {
                "run_date": item["run_date"],
                "currency": currency,
                "revenue": round(float(revenue[currency]), 2),
            }
        )

result = {
    "columns": [
        {"name": "run_date", "friendly_name": "Run date", "type": "date"},
        {"name": "currency", "friendly_name": "Currency", "type": "string"},
        {"name": "revenue", "friendly_name": "Revenue", "type": "float"},
    ],
    "rows": sorted(rows, key=lambda row: (row["run_date"], row["currency"])),
}
