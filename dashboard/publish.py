"""Publish the dashboard's definitions to Redash, idempotently.

Every object is found before it is made: the data source by name, the queries and the dashboard by name
among the objects tagged ``nightly-etl`` + the environment, visualizations by name within their query,
widgets by the visualization they show. A second publish therefore creates nothing and changes only what the
definitions changed; widgets of visualizations no longer defined are removed from the managed dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboard.definitions import DashboardDefinition, Placement, QueryDefinition, Settings
from pipeline.redash import RedashClient, environment_tags

POSITION_KEYS = ("col", "row", "sizeX", "sizeY")


@dataclass
class PublishResult:
    dashboard_id: int
    url: str
    data_source_id: int
    query_ids: dict[str, int] = field(default_factory=dict)  # query key → Redash id
    visualization_ids: dict[tuple[str, str], int] = field(default_factory=dict)  # (key, name) → id
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)


def display_name(name: str, environment: str) -> str:
    return f"{name} ({environment})"


def publish(
    client: RedashClient,
    definition: DashboardDefinition,
    settings: Settings,
    environment: str,
    *,
    refresh: bool = True,
) -> PublishResult:
    """Create or update the data source, queries, visualizations and the dashboard; publish them all."""
    tags = environment_tags(environment)
    changes = _Changes()
    data_source_id = _ensure_data_source(client, definition, changes)
    existing_queries = {q["name"]: q for q in client.queries(tags=tags)}
    query_ids: dict[str, int] = {}
    visualization_ids: dict[tuple[str, str], int] = {}
    for query in definition.queries:
        query_id = _ensure_query(
            client, query, definition, settings, data_source_id, tags, environment, existing_queries, changes
        )
        query_ids[query.key] = query_id
        for name, visualization_id in _ensure_visualizations(client, query, query_id, changes).items():
            visualization_ids[(query.key, name)] = visualization_id
    dashboard = _ensure_dashboard(client, display_name(definition.name, environment), tags, changes)
    _ensure_widgets(client, dashboard, definition.placements(), visualization_ids, changes)
    refreshed = []
    if refresh:
        # New queries have no result until their schedule comes: run them once so the dashboard shows data.
        for query_id in query_ids.values():
            client.refresh_query(query_id)
            refreshed.append(query_id)
    return PublishResult(
        dashboard_id=int(dashboard["id"]),
        url=client.dashboard_url(dashboard),
        data_source_id=data_source_id,
        query_ids=query_ids,
        visualization_ids=visualization_ids,
        created=changes.created,
        updated=changes.updated,
        deleted=changes.deleted,
        refreshed=refreshed,
    )


@dataclass
class _Changes:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _ensure_data_source(client: RedashClient, definition: DashboardDefinition, changes: _Changes) -> int:
    wanted = definition.data_source
    for source in client.data_sources():
        if source["name"] == wanted.name:
            current = client.data_source(source["id"])
            if current.get("type") != wanted.type or current.get("options") != wanted.options:
                client.update_data_source(source["id"], wanted.name, wanted.type, wanted.options)
                changes.updated.append(f"data source {wanted.name}")
            return int(source["id"])
    created = client.create_data_source(wanted.name, wanted.type, wanted.options)
    changes.created.append(f"data source {wanted.name}")
    return int(created["id"])


def _ensure_query(
    client: RedashClient,
    query: QueryDefinition,
    definition: DashboardDefinition,
    settings: Settings,
    data_source_id: int,
    tags: list[str],
    environment: str,
    existing: dict[str, dict[str, Any]],
    changes: _Changes,
) -> int:
    name = display_name(query.name, environment)
    wanted = {
        "name": name,
        "description": query.description,
        "query": query.render(settings),
        "data_source_id": data_source_id,
        "schedule": definition.schedule,
        "tags": tags,
    }
    current = existing.get(name)
    if current is None:
        created = client.create_query(options={"parameters": []}, **wanted)
        client.publish_query(created["id"])
        changes.created.append(f"query {name}")
        return int(created["id"])
    differs = (
        current.get("query") != wanted["query"]
        or (current.get("description") or "") != wanted["description"]
        or current.get("data_source_id") != data_source_id
        or _schedule(current.get("schedule")) != _schedule(definition.schedule)
        or sorted(current.get("tags") or []) != sorted(tags)
        or current.get("is_draft", True)
    )
    if differs:
        client.update_query(current["id"], is_draft=False, **wanted)
        changes.updated.append(f"query {name}")
    return int(current["id"])


def _ensure_visualizations(
    client: RedashClient, query: QueryDefinition, query_id: int, changes: _Changes
) -> dict[str, int]:
    existing = {v["name"]: v for v in client.query(query_id).get("visualizations") or []}
    ids: dict[str, int] = {}
    for visualization in query.visualizations:
        current = existing.get(visualization.name)
        label = f"visualization {visualization.name} of {query.name}"
        if current is None:
            created = client.create_visualization(
                query_id,
                visualization.type,
                visualization.name,
                visualization.options,
                visualization.description,
            )
            changes.created.append(label)
            ids[visualization.name] = int(created["id"])
            continue
        if (
            current.get("type") != visualization.type
            or current.get("options") != visualization.options
            or (current.get("description") or "") != visualization.description
        ):
            client.update_visualization(
                current["id"],
                type=visualization.type,
                name=visualization.name,
                description=visualization.description,
                options=visualization.options,
            )
            changes.updated.append(label)
        ids[visualization.name] = int(current["id"])
    return ids


def _ensure_dashboard(client: RedashClient, name: str, tags: list[str], changes: _Changes) -> dict[str, Any]:
    # A dashboard is created untagged (Redash's create reads only the name): an earlier publish that stopped
    # right after creating it left it findable by name alone.
    found = next((d for d in client.dashboards(tags=tags) if d["name"] == name), None) or next(
        (d for d in client.dashboards() if d["name"] == name and not d.get("is_archived")), None
    )
    if found is None:
        found = client.create_dashboard(name)
        changes.created.append(f"dashboard {name}")
    if found.get("is_draft", True) or sorted(found.get("tags") or []) != sorted(tags):
        client.update_dashboard(found["id"], name=name, tags=tags, is_draft=False)
        if f"dashboard {name}" not in changes.created:
            changes.updated.append(f"dashboard {name}")
    return client.dashboard(found["id"])


def _ensure_widgets(
    client: RedashClient,
    dashboard: dict[str, Any],
    placements: list[Placement],
    visualization_ids: dict[tuple[str, str], int],
    changes: _Changes,
) -> None:
    widgets = dashboard.get("widgets") or []
    by_visualization = {int(w["visualization"]["id"]): w for w in widgets if w.get("visualization")}
    text_widgets = sorted((w for w in widgets if not w.get("visualization")), key=lambda w: int(w["id"]))
    wanted_visualizations = set()
    for placement in placements:
        options = placement.position.redash_options()
        if placement.visualization is None or placement.query is None:
            current = text_widgets.pop(0) if text_widgets else None
            if current is None:
                client.create_widget(dashboard["id"], options, text=placement.text)
                changes.created.append("text widget")
            elif current.get("text") != placement.text or _position(current) != _position_of(options):
                client.update_widget(current["id"], placement.text, options)
                changes.updated.append("text widget")
            continue
        visualization_id = visualization_ids[(placement.query.key, placement.visualization.name)]
        wanted_visualizations.add(visualization_id)
        current = by_visualization.get(visualization_id)
        label = f"widget {placement.visualization.name}"
        if current is None:
            client.create_widget(dashboard["id"], options, visualization_id=visualization_id)
            changes.created.append(label)
        elif _position(current) != _position_of(options):
            client.update_widget(current["id"], current.get("text") or "", options)
            changes.updated.append(label)
    stale = [w for v, w in by_visualization.items() if v not in wanted_visualizations] + text_widgets
    for widget in stale:
        client.delete_widget(widget["id"])
        changes.deleted.append(f"widget {widget['id']}")


def _position(widget: dict[str, Any]) -> dict[str, Any]:
    return _position_of(widget.get("options") or {})


def _position_of(options: dict[str, Any]) -> dict[str, Any]:
    position = options.get("position") or {}
    return {key: position.get(key) for key in POSITION_KEYS}


def _schedule(schedule: dict[str, Any] | None) -> dict[str, Any]:
    schedule = schedule or {}
    return {key: schedule.get(key) for key in ("interval", "time", "day_of_week", "until")}
