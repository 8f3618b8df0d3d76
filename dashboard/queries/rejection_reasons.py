"""
+++
name = "Top rejection reasons"
description = "Rejected records per reason over the last 30 run dates (etl_runs rejection_reasons), the 10 most frequent."

[[visualizations]]
name = "Top rejection reasons"
type = "CHART"
position = { col = 0, row = 20, sizeX = 3, sizeY = 8 }

[visualizations.options]
globalSeriesType = "column"
swappedAxes = true
sortX = false
columnMapping = { reason = "x", rejected = "y" }
xAxis = { type = "category", labels = { enabled = true } }
yAxis = [{ type = "linear", title = { text = "Rejected records" } }]
legend = { enabled = false }
seriesOptions = { rejected = { name = "Rejected", color = "#D64545" } }
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

LIMIT = 10

totals = {}
for item in items:
    reasons = item.get("rejection_reasons") or {}
    for reason in reasons:
        totals[reason] = totals.get(reason, 0) + int(reasons[reason])

rows = []
for reason in totals:
    rows.append({"reason": reason, "rejected": totals[reason]})

result = {
    "columns": [
        {"name": "reason", "friendly_name": "Reason", "type": "string"},
        {"name": "rejected", "friendly_name": "Rejected records", "type": "integer"},
    ],
    "rows": sorted(rows, key=lambda row: (-row["rejected"], row["reason"]))[:LIMIT],
}
