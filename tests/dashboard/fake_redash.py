"""An in-process Redash API: the routes `etl dashboard publish` and the refresh use, with the checks Redash's
handlers make (redash/handlers/*.py), so a payload the real server would refuse is refused here too.

- every /api call needs ``Authorization: Key <key>``; Redash answers 404 to a wrong key;
- data sources: ``name``, ``type`` and ``options`` are required (400), the type must be known and the options
  must match the runner's configuration schema (400), names are unique (400);
- queries: ``data_source_id`` and ``query`` are required (500: the handler pops them); a new query is a
  draft with a default "Table" visualization; ``version`` mismatches are 409;
- visualizations: ``query_id`` and ``options`` are required (500), ``type`` and ``name`` too (not null);
- dashboards: addressed by numeric id; a slug is a 500 (Postgres refuses it as an integer), an unknown id 404;
- widgets: ``visualization_id`` is required, null for a text widget (500 without it); updates need ``text``
  and ``options`` (500); the dashboard must exist (404).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

PYTHON_RUNNER_OPTIONS = {"allowedImportModules", "additionalModulesPaths", "additionalBuiltins"}
QUERY_FIELDS = {"name", "description", "query_text", "schedule", "options", "tags", "is_draft", "version"}
VISUALIZATION_FIELDS = {"type", "name", "description", "options"}
WIDGET_FIELDS = {"dashboard_id", "visualization", "text", "width", "options"}
DASHBOARD_UPDATES = (
    "name",
    "layout",
    "version",
    "tags",
    "is_draft",
    "is_archived",
    "dashboard_filters_enabled",
    "options",
)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """Requests are recorded in FakeRedash.requests; the access log would only bury a failure's output."""


class HandlerError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class FakeRedash:
    def __init__(self, api_key: str = "test-api-key"):
        self.api_key = api_key
        self.data_sources: dict[int, dict[str, Any]] = {}
        self.queries: dict[int, dict[str, Any]] = {}
        self.visualizations: dict[int, dict[str, Any]] = {}
        self.dashboards: dict[int, dict[str, Any]] = {}
        self.widgets: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.executed: list[tuple[int, int | None]] = []  # (query id, max_age) of each run asked for
        self._ids = itertools.count(1)
        self.app = self._build()
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeRedash:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def counts(self) -> Counter:
        return Counter(
            data_sources=len(self.data_sources),
            queries=len(self.queries),
            visualizations=len(self.visualizations),
            dashboards=len(self.dashboards),
            widgets=len(self.widgets),
        )

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests if m != "GET"]

    # --- the API ---------------------------------------------------------------------------------
    def _build(self) -> Flask:
        app = Flask("fake_redash")

        @app.before_request
        def authenticate():
            self.requests.append((request.method, request.path))
            if request.headers.get("Authorization") != f"Key {self.api_key}":
                response = jsonify({"message": "Couldn't find resource. Please login and try again."})
                response.status_code = 404
                return response
            return None

        @app.errorhandler(HandlerError)
        def handler_error(error: HandlerError):
            response = jsonify({"message": error.message})
            response.status_code = error.status
            return response

        @app.get("/api/data_sources")
        def list_data_sources():
            return jsonify(
                sorted(
                    ({k: v for k, v in d.items() if k != "options"} for d in self.data_sources.values()),
                    key=lambda d: d["name"].lower(),
                )
            )

        @app.post("/api/data_sources")
        def create_data_source():
            body = _json()
            missing = [f for f in ("options", "name", "type") if f not in body]
            if missing:
                raise HandlerError(400, f"Missing field: {missing[0]}")
            self._check_data_source(body)
            source = {
                "id": next(self._ids),
                "name": body["name"],
                "type": body["type"],
                "options": body["options"],
            }
            self.data_sources[source["id"]] = source
            return jsonify(source)

        @app.get("/api/data_sources/<int:source_id>")
        def get_data_source(source_id: int):
            return jsonify(self._get(self.data_sources, source_id))

        @app.post("/api/data_sources/<int:source_id>")
        def update_data_source(source_id: int):
            source = self._get(self.data_sources, source_id)
            body = _json()
            try:
                self._check_data_source(body, exclude=source_id)
                source.update(name=body["name"], type=body["type"], options=body["options"])
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            return jsonify(source)

        @app.get("/api/queries")
        def list_queries():
            found = [dict(q) for q in self.queries.values() if not q["is_archived"]]
            return jsonify(_paginate(_tagged(found)))

        @app.post("/api/queries")
        def create_query():
            body = _json()
            try:
                data_source_id = body.pop("data_source_id")
                body["query_text"] = body.pop("query")
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            self._get(self.data_sources, data_source_id)
            for ignored in (
                "id",
                "created_at",
                "api_key",
                "visualizations",
                "latest_query_data",
                "last_modified_by",
            ):
                body.pop(ignored, None)
            unknown = set(body) - QUERY_FIELDS
            if unknown:
                raise HandlerError(500, f"TypeError: unexpected Query fields {sorted(unknown)}")
            if not body.get("name"):
                raise HandlerError(500, "IntegrityError: null value in column name")
            query = {
                "id": next(self._ids),
                "name": body["name"],
                "description": body.get("description"),
                "query": body["query_text"],
                "data_source_id": data_source_id,
                "schedule": body.get("schedule"),
                "options": body.get("options") or {},
                "tags": body.get("tags") or [],
                "is_draft": True,
                "is_archived": False,
                "version": 1,
            }
            self.queries[query["id"]] = query
            default = {"id": next(self._ids), "query_id": query["id"], "type": "TABLE", "name": "Table"}
            self.visualizations[default["id"]] = {**default, "description": "", "options": {}}
            return jsonify(self._query_full(query))

        @app.get("/api/queries/<int:query_id>")
        def get_query(query_id: int):
            return jsonify(self._query_full(self._get(self.queries, query_id)))

        @app.post("/api/queries/<int:query_id>")
        def update_query(query_id: int):
            query = self._get(self.queries, query_id)
            body = _json()
            for ignored in ("id", "created_at", "api_key", "visualizations", "latest_query_data", "user"):
                body.pop(ignored, None)
            if "version" in body and body["version"] != query["version"]:
                raise HandlerError(409, "version conflict")
            if "data_source_id" in body:
                self._get(self.data_sources, body["data_source_id"])
            if "tags" in body:
                body["tags"] = [t for t in body["tags"] if t]
            query.update(body)
            query["version"] += 1
            return jsonify(self._query_full(query))

        @app.post("/api/queries/<int:query_id>/results")
        def execute_query(query_id: int):
            body = request.get_json(force=True, silent=True) or {}
            self._get(self.queries, query_id)
            max_age = body.get("max_age", -1)
            try:
                max_age = int(-1 if max_age is None else max_age)
            except (TypeError, ValueError):
                raise HandlerError(500, f"ValueError: max_age {max_age!r}") from None
            self.executed.append((query_id, max_age))
            return jsonify({"job": {"id": f"job-{query_id}-{len(self.executed)}", "status": 1}})

        @app.post("/api/queries/<int:query_id>/refresh")
        def refresh_query(query_id: int):
            self._get(self.queries, query_id)
            self.executed.append((query_id, None))
            return jsonify({"job": {"id": f"job-{query_id}-{len(self.executed)}", "status": 1}})

        @app.post("/api/visualizations")
        def create_visualization():
            body = _json()
            try:
                query_id = body.pop("query_id")
                body["options"] = body["options"]
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            self._get(self.queries, query_id)
            unknown = set(body) - VISUALIZATION_FIELDS
            if unknown:
                raise HandlerError(500, f"TypeError: unexpected Visualization fields {sorted(unknown)}")
            if not body.get("type") or not body.get("name"):
                raise HandlerError(500, "IntegrityError: null value in column type or name")
            visualization = {"id": next(self._ids), "query_id": query_id, "description": "", **body}
            self.visualizations[visualization["id"]] = visualization
            return jsonify(_visualization(visualization))

        @app.post("/api/visualizations/<int:visualization_id>")
        def update_visualization(visualization_id: int):
            visualization = self._get(self.visualizations, visualization_id)
            body = _json()
            body.pop("id", None)
            body.pop("query_id", None)
            visualization.update(body)
            return jsonify(_visualization(visualization))

        @app.get("/api/dashboards")
        def list_dashboards():
            return jsonify(_paginate(_tagged([dict(d) for d in self.dashboards.values()])))

        @app.post("/api/dashboards")
        def create_dashboard():
            body = _json()
            try:
                name = body["name"]
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            dashboard = {
                "id": next(self._ids),
                "name": name,
                "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
                "tags": [],
                "is_draft": True,
                "is_archived": False,
                "layout": [],
                "version": 1,
                "dashboard_filters_enabled": False,
            }
            self.dashboards[dashboard["id"]] = dashboard
            return jsonify(dict(dashboard))

        @app.get("/api/dashboards/<dashboard_id>")
        def get_dashboard(dashboard_id: str):
            dashboard = self._get(self.dashboards, self._dashboard_id(dashboard_id))
            return jsonify(self._dashboard_full(dashboard))

        @app.post("/api/dashboards/<dashboard_id>")
        def update_dashboard(dashboard_id: str):
            dashboard = self._get(self.dashboards, self._dashboard_id(dashboard_id))
            updates = {k: v for k, v in _json().items() if k in DASHBOARD_UPDATES}
            if "version" in updates and updates["version"] != dashboard["version"]:
                raise HandlerError(409, "version conflict")
            dashboard.update(updates)
            dashboard["version"] += 1
            return jsonify(self._dashboard_full(dashboard))

        @app.post("/api/widgets")
        def create_widget():
            body = _json()
            self._get(self.dashboards, body.get("dashboard_id"))
            body.pop("id", None)
            try:
                visualization_id = body.pop("visualization_id")
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            body["visualization"] = (
                self._get(self.visualizations, visualization_id) if visualization_id else None
            )
            unknown = set(body) - WIDGET_FIELDS
            if unknown:
                raise HandlerError(500, f"TypeError: unexpected Widget fields {sorted(unknown)}")
            widget = {
                "id": next(self._ids),
                "dashboard_id": body["dashboard_id"],
                "visualization_id": visualization_id or None,
                "text": body.get("text") or "",
                "width": body.get("width", 1),
                "options": body.get("options") or {},
            }
            self.widgets[widget["id"]] = widget
            return jsonify(self._widget(widget))

        @app.post("/api/widgets/<int:widget_id>")
        def update_widget(widget_id: int):
            widget = self._get(self.widgets, widget_id)
            body = _json()
            try:
                widget["text"] = body["text"]
                widget["options"] = body["options"]
            except KeyError as error:
                raise HandlerError(500, f"KeyError: {error}") from None
            return jsonify(self._widget(widget))

        @app.delete("/api/widgets/<int:widget_id>")
        def delete_widget(widget_id: int):
            self._get(self.widgets, widget_id)
            del self.widgets[widget_id]
            return ("", 200)

        return app

    # --- helpers ---------------------------------------------------------------------------------
    def _check_data_source(self, body: dict[str, Any], exclude: int | None = None) -> None:
        if body.get("type") != "python":
            raise HandlerError(400, f"unknown data source type {body.get('type')!r}")
        options = body.get("options")
        if not isinstance(options, dict) or set(options) - PYTHON_RUNNER_OPTIONS:
            raise HandlerError(400, "options do not match the python runner's configuration schema")
        if any(not isinstance(v, str) for v in options.values()):
            raise HandlerError(400, "python runner options are strings")
        if any(d["name"] == body.get("name") and d["id"] != exclude for d in self.data_sources.values()):
            raise HandlerError(400, f"Data source with the name {body.get('name')} already exists.")

    @staticmethod
    def _get(table: dict[int, dict[str, Any]], object_id: Any) -> dict[str, Any]:
        try:
            return table[int(object_id)]
        except (KeyError, TypeError, ValueError):
            raise HandlerError(404, "Not found") from None

    @staticmethod
    def _dashboard_id(text: str) -> int:
        if not text.isdigit():
            raise HandlerError(500, f'invalid input syntax for type integer: "{text}"')
        return int(text)

    def _query_full(self, query: dict[str, Any]) -> dict[str, Any]:
        visualizations = [
            _visualization(v) for v in self.visualizations.values() if v["query_id"] == query["id"]
        ]
        return {**query, "visualizations": visualizations}

    def _widget(self, widget: dict[str, Any]) -> dict[str, Any]:
        serialized = {k: v for k, v in widget.items() if k != "visualization_id"}
        if widget["visualization_id"]:
            visualization = self.visualizations[widget["visualization_id"]]
            serialized["visualization"] = {
                **_visualization(visualization),
                "query": dict(self.queries[visualization["query_id"]]),
            }
        return serialized

    def _dashboard_full(self, dashboard: dict[str, Any]) -> dict[str, Any]:
        widgets = [self._widget(w) for w in self.widgets.values() if w["dashboard_id"] == dashboard["id"]]
        return {**dashboard, "widgets": widgets, "can_edit": True}


def _json() -> dict[str, Any]:
    return dict(request.get_json(force=True))


def _visualization(visualization: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in visualization.items() if k != "query_id"}


def _tagged(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = request.args.getlist("tags")
    return [o for o in objects if set(wanted) <= set(o.get("tags") or [])]


def _paginate(objects: list[dict[str, Any]]) -> dict[str, Any]:
    page = request.args.get("page", 1, type=int)
    page_size = request.args.get("page_size", 25, type=int)
    if page < 1:
        raise HandlerError(400, "Page must be positive integer.")
    if not 1 <= page_size <= 250:
        raise HandlerError(400, "Page size is out of range (1-250).")
    start = (page - 1) * page_size
    return {
        "count": len(objects),
        "page": page,
        "page_size": page_size,
        "results": objects[start : start + page_size],
    }
