"""
+++
name = "Orders per day"
description = "Orders and units loaded each run date (etl_runs aggregates.orders and quantity), last 30 days."

[[visualizations]]
name = "Orders per day"
type = "CHART"
position = { col = 3, row = 20, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "column"
columnMapping = { run_date = "x", orders = "y" }
xAxis = { type = "datetime", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Orders" } }]
legend = { enabled = false }
seriesOptions = { orders = { name = "Orders", color = "#356AFF" } }
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
    aggregates = item.get("aggregates")
    if aggregates:
        rows.append(
            {
                "run_date": item["run_date"],
                "orders": int(aggregates.get("orders", 0)),
                "quantity": int(aggregates.get("quantity", 0)),
            }
        )

result = {
    "columns": [
        {"name": "run_date", "friendly_name": "Run date", "type": "date"},
        {"name": "orders", "friendly_name": "Orders", "type": "integer"},
        {"name": "quantity", "friendly_name": "Units", "type": "integer"},
    ],
    "rows": sorted(rows, key=lambda row: row["run_date"]),
}
