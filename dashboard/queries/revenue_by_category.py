"""
+++
name = "Revenue by category"
description = "Revenue per product category and currency over the last 30 run dates (etl_runs aggregates.by_category)."

[[visualizations]]
name = "Revenue by category"
type = "CHART"
position = { col = 3, row = 4, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "column"
columnMapping = { category = "x", revenue = "y", currency = "series" }
xAxis = { type = "category", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Revenue" } }]
legend = { enabled = true }
sortX = false
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

totals = {}
for item in items:
    by_category = (item.get("aggregates") or {}).get("by_category") or {}
    for category in by_category:
        revenue = by_category[category].get("revenue") or {}
        for currency in revenue:
            key = (category, currency)
            totals[key] = totals.get(key, 0.0) + float(revenue[currency])

rows = []
for key in totals:
    rows.append({"category": key[0], "currency": key[1], "revenue": round(totals[key], 2)})

result = {
    "columns": [
        {"name": "category", "friendly_name": "Category", "type": "string"},
        {"name": "currency", "friendly_name": "Currency", "type": "string"},
        {"name": "revenue", "friendly_name": "Revenue", "type": "float"},
    ],
    "rows": sorted(rows, key=lambda row: (-row["revenue"], row["category"], row["currency"])),
}
