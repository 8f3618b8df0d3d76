"""A thin client for Redash's REST API, and the refresh the pipeline asks for after each run.

Standard library only (urllib + json): the refresh_dashboard Lambda imports it and sees only its zip and boto3.

The payloads follow what Redash's handlers read (redash/handlers/*.py):

- ``POST /api/data_sources`` needs ``name``, ``type`` and ``options`` (400 without them); an update posts all
  three again to ``/api/data_sources/<id>``.
- ``POST /api/queries`` needs ``data_source_id`` and ``query`` and always creates a draft; publishing is an
  update with ``is_draft: false``. A ``schedule`` is ``{interval, time, day_of_week, until}`` (time in UTC).
- ``POST /api/visualizations`` needs ``query_id``, ``type``, ``name`` and ``options``.
- Dashboards are addressed by numeric id: since Redash v10 a slug in ``/api/dashboards/<x>`` is an error.
- ``POST /api/widgets`` always carries ``visualization_id`` (``null`` for a text widget); an update posts
  both ``text`` and ``options``.
- A query runs again with ``POST /api/queries/<id>/results`` and ``max_age: 0``.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Config

logger = logging.getLogger(__name__)

# Every object `etl dashboard publish` manages carries this tag, plus the environment's name.
MANAGED_TAG = "nightly-etl"
PAGE_SIZE = 100  # Redash refuses page_size above 250


class RedashError(RuntimeError):
    """Redash refused a request or could not be reached; the message names the call and what to check."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def environment_tags(environment: str) -> list[str]:
    return [MANAGED_TAG, environment]


class RedashClient:
    """One Redash instance, authenticated with a user API key (``Authorization: Key <key>``)."""

    def __init__(self, url: str, api_key: str, *, timeout: float = 15.0, deadline: float | None = None):
        """``timeout`` bounds each request; ``deadline`` (a ``time.monotonic()`` instant) all of them: a request
        gets what is left before it, and none starts after it."""
        if not url.startswith(("http://", "https://")):
            raise RedashError(f"Redash URL {url!r} must start with http:// or https://")
        if not api_key:
            raise RedashError("a Redash user API key is needed (Redash: your profile → API Key)")
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._deadline = deadline

    # --- transport ---------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        params: Iterable[tuple[str, str]] = (),
    ) -> Any:
        query = urllib.parse.urlencode(list(params))
        target = f"{self.url}{path}" + (f"?{query}" if query else "")
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(target, data=body, method=method)
        request.add_header("Authorization", f"Key {self._api_key}")
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        timeout = self._timeout
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - time.monotonic())
            if timeout <= 0:
                raise RedashError(f"{method} {path}: not sent, the refresh ran out of time")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            raise RedashError(_describe(method, path, error), error.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RedashError(f"{method} {path}: cannot reach Redash at {self.url} ({reason})") from None
        return json.loads(text) if text.strip() else None

    def _pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self.request(
                "GET", path, params=[*params, ("page", str(page)), ("page_size", str(PAGE_SIZE))]
            )
            results = answer.get("results", [])
            yield from results
            if page * PAGE_SIZE >= int(answer.get("count", 0)) or not results:
                return
            page += 1

    # --- data sources ------------------------------------------------------------------------------
    def data_sources(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/data_sources")

    def data_source(self, data_source_id: int) -> dict[str, Any]:
        """A data source with its options (admins only)."""
        return self.request("GET", f"/api/data_sources/{int(data_source_id)}")

    def create_data_source(self, name: str, type_: str, options: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/data_sources", {"name": name, "type": type_, "options": options})

    def update_data_source(
        self, data_source_id: int, name: str, type_: str, options: dict[str, Any]
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            f"/api/data_sources/{int(data_source_id)}",
            {"name": name, "type": type_, "options": options},
        )

    # --- queries -----------------------------------------------------------------------------------
    def queries(self, tags: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Every query (drafts included) carrying all of ``tags``."""
        return list(self._pages("/api/queries", [("tags", tag) for tag in tags]))

    def query(self, query_id: int) -> dict[str, Any]:
        """A query with its visualizations."""
        return self.request("GET", f"/api/queries/{int(query_id)}")

    def create_query(
        self,
        *,
        name: str,
        query: str,
        data_source_id: int,
        description: str = "",
        schedule: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        tags: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Create a query; Redash makes every new query a draft (see ``publish_query``)."""
        return self.request(
            "POST",
            "/api/queries",
            {
                "name": name,
                "query": query,
                "data_source_id": int(data_source_id),
                "description": description,
                "schedule": schedule,
                "options": options if options is not None else {"parameters": []},
                "tags": list(tags),
            },
        )

    def update_query(self, query_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/api/queries/{int(query_id)}", fields)

    def publish_query(self, query_id: int) -> dict[str, Any]:
        return self.update_query(query_id, is_draft=False)

    def refresh_query(self, query_id: int) -> dict[str, Any]:
        """Run the query now, whatever its cached result's age; returns Redash's job (or a fresh result)."""
        return self.request("POST", f"/api/queries/{int(query_id)}/results", {"max_age": 0, "parameters": {}})

    # --- visualizations ----------------------------------------------------------------------------
    def create_visualization(
        self, query_id: int, type_: str, name: str, options: dict[str, Any], description: str = ""
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            "/api/visualizations",
            {
                "query_id": int(query_id),
                "type": type_,
                "name": name,
                "description": description,
                "options": options,
            },
        )

    def update_visualization(self, visualization_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/api/visualizations/{int(visualization_id)}", fields)

    # --- dashboards and widgets --------------------------------------------------------------------
    def dashboards(self, tags: Iterable[str] = ()) -> list[dict[str, Any]]:
        return list(self._pages("/api/dashboards", [("tags", tag) for tag in tags]))

    def dashboard(self, dashboard_id: int) -> dict[str, Any]:
        """A dashboard with its widgets, by numeric id (never by slug)."""
        return self.request("GET", f"/api/dashboards/{int(dashboard_id)}")

    def create_dashboard(self, name: str) -> dict[str, Any]:
        return self.request("POST", "/api/dashboards", {"name": name})

    def update_dashboard(self, dashboard_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/api/dashboards/{int(dashboard_id)}", fields)

    def create_widget(
        self,
        dashboard_id: int,
        options: dict[str, Any],
        *,
        visualization_id: int | None = None,
        text: str = "",
    ) -> dict[str, Any]:
        """A visualization widget, or a text widget when ``visualization_id`` is None."""
        return self.request(
            "POST",
            "/api/widgets",
            {
                "dashboard_id": int(dashboard_id),
                "visualization_id": None if visualization_id is None else int(visualization_id),
                "text": text,
                "width": 1,
                "options": options,
            },
        )

    def update_widget(self, widget_id: int, text: str, options: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/widgets/{int(widget_id)}", {"text": text, "options": options})

    def delete_widget(self, widget_id: int) -> None:
        self.request("DELETE", f"/api/widgets/{int(widget_id)}")

    def dashboard_url(self, dashboard: dict[str, Any]) -> str:
        return f"{self.url}/dashboards/{int(dashboard['id'])}"


def dashboard_query_ids(dashboard: dict[str, Any]) -> list[int]:
    """The queries behind a dashboard's visualization widgets, each once, in widget order."""
    ids: list[int] = []
    for widget in dashboard.get("widgets") or []:
        query = (widget.get("visualization") or {}).get("query") or {}
        if query.get("id") is not None and int(query["id"]) not in ids:
            ids.append(int(query["id"]))
    return ids


@dataclass
class RefreshOutcome:
    """What ``refresh_dashboard`` did: ``skipped`` (not configured), ``refreshed`` or ``failed``."""

    status: str
    message: str
    dashboard_ids: list[int] = field(default_factory=list)
    query_ids: list[int] = field(default_factory=list)

    def as_record(self, finished_at: str) -> dict[str, Any]:
        """What the run's item keeps as ``dashboard_refresh``."""
        return {"status": self.status, "message": self.message, "finished_at": finished_at}

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "dashboard_ids": self.dashboard_ids,
            "query_ids": self.query_ids,
        }


def refresh_dashboard(
    config: Config, ssm: Any, *, timeout: float = 10.0, budget_seconds: float | None = None
) -> RefreshOutcome:
    """Ask Redash to re-run the queries of this environment's published dashboard.

    Does nothing unless ``config.redash_url`` and ``config.redash_api_key_parameter`` are set; reads the API
    key from SSM Parameter Store (SecureString, decrypted). ``timeout`` bounds each request and
    ``budget_seconds`` all of them together, so that a slow Redash ends the refresh as ``failed`` before
    the function's own timeout would. Never raises: a dashboard that cannot be refreshed must not fail the
    run, so every problem is logged and returned.
    """
    if not config.redash_url or not config.redash_api_key_parameter:
        return RefreshOutcome("skipped", "no Redash configured (REDASH_URL, REDASH_API_KEY_PARAMETER)")
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    try:
        parameter = ssm.get_parameter(Name=config.redash_api_key_parameter, WithDecryption=True)
        client = RedashClient(
            config.redash_url, parameter["Parameter"]["Value"], timeout=timeout, deadline=deadline
        )
        dashboards = client.dashboards(tags=environment_tags(config.environment))
        if not dashboards:
            outcome = RefreshOutcome(
                "failed",
                f"no dashboard tagged {', '.join(environment_tags(config.environment))} in "
                f"{config.redash_url}: run `etl dashboard publish --env {config.environment}`",
            )
            logger.warning(outcome.message)
            return outcome
        dashboard_ids = [int(d["id"]) for d in dashboards]
        query_ids: list[int] = []
        for dashboard_id in dashboard_ids:
            for query_id in dashboard_query_ids(client.dashboard(dashboard_id)):
                if query_id not in query_ids:
                    client.refresh_query(query_id)
                    query_ids.append(query_id)
    # The dashboard is a convenience: whatever goes wrong here, the run's own outcome stands.
    except Exception as error:
        outcome = RefreshOutcome("failed", f"Redash refresh failed: {type(error).__name__}: {error}")
        logger.warning(outcome.message)
        return outcome
    outcome = RefreshOutcome(
        "refreshed",
        f"asked Redash to refresh {len(query_ids)} queries of dashboard(s) {', '.join(map(str, dashboard_ids))}",
        dashboard_ids,
        query_ids,
    )
    logger.info(outcome.message)
    return outcome


def _describe(method: str, path: str, error: urllib.error.HTTPError) -> str:
    try:
        detail = error.read().decode("utf-8", "replace")
        detail = json.loads(detail).get("message", detail) if detail.strip().startswith("{") else detail
    except (OSError, ValueError, AttributeError):
        detail = ""
    detail = str(detail).strip()[:300]
    hint = ""
    if error.code in (401, 403):
        hint = " (check the API key: a user API key with admin rights is needed to manage data sources)"
    elif error.code == 404 and "login" in detail.lower():
        hint = " (Redash answers 404 to an unknown API key: check it)"
    return f"{method} {path}: Redash answered {error.code} {detail}{hint}".rstrip()
