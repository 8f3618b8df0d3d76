"""The dashboard as code: Redash query definitions (``queries/``), the dashboard's layout (``dashboard.toml``),
a Redash-compatible runner for the query scripts, the publisher and the local HTML dashboard."""
