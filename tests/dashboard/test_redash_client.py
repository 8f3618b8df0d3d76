"""pipeline/redash.py against the fake Redash, which refuses what Redash's handlers refuse."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from pipeline.redash import RedashClient, RedashError


def raw(redash, method: str, path: str, payload: dict | None = None, key: str = "test-api-key") -> int:
    request = urllib.request.Request(
        f"{redash.url}{path}",
        data=None if payload is None else json.dumps(payload).encode(),
        method=method,
        headers={"Authorization": f"Key {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def client(redash) -> RedashClient:
    return RedashClient(redash.url, redash.api_key)


@pytest.fixture
def query_id(client) -> int:
    source = client.create_data_source("runs", "python", {"allowedImportModules": "boto3"})
    return client.create_query(name="q", query="result = {}", data_source_id=source["id"])["id"]


def test_a_wrong_api_key_is_reported_as_such(redash):
    with pytest.raises(RedashError, match="404.*check it"):
        RedashClient(redash.url, "not-the-key").data_sources()


def test_an_unreachable_redash_is_a_redash_error():
    with pytest.raises(RedashError, match="cannot reach Redash"):
        RedashClient("http://127.0.0.1:9", "k", timeout=2).data_sources()


def test_a_new_query_is_a_draft_until_published(client, query_id):
    assert client.query(query_id)["is_draft"] is True
    client.publish_query(query_id)
    assert client.query(query_id)["is_draft"] is False


def test_a_query_is_created_with_its_schedule_and_tags(client, redash):
    source = client.create_data_source("runs", "python", {"allowedImportModules": "boto3"})
    schedule = {"interval": 86400, "time": "07:30", "day_of_week": None, "until": None}
    created = client.create_query(
        name="Daily", query="result = {}", data_source_id=source["id"], schedule=schedule, tags=["a", "b"]
    )
    stored = redash.queries[created["id"]]
    assert (
        stored["schedule"] == schedule
        and stored["tags"] == ["a", "b"]
        and stored["options"] == {"parameters": []}
    )


def test_visualizations_and_widgets_carry_the_fields_the_handlers_need(client, redash, query_id):
    visualization = client.create_visualization(query_id, "COUNTER", "Count", {"counterColName": "n"})
    dashboard = client.create_dashboard("Board")
    widget = client.create_widget(
        dashboard["id"], {"position": {"col": 0}}, visualization_id=visualization["id"]
    )
    text = client.create_widget(dashboard["id"], {"position": {"col": 1}}, text="hello")
    assert redash.widgets[widget["id"]]["visualization_id"] == visualization["id"]
    assert (
        redash.widgets[text["id"]]["visualization_id"] is None
        and redash.widgets[text["id"]]["text"] == "hello"
    )
    client.update_widget(widget["id"], "", {"position": {"col": 3}})
    assert redash.widgets[widget["id"]]["options"] == {"position": {"col": 3}}


def test_the_fake_refuses_what_redash_refuses(redash, client, query_id):
    dashboard = client.create_dashboard("Board")
    assert raw(redash, "POST", "/api/widgets", {"dashboard_id": dashboard["id"], "options": {}}) == 500
    assert raw(redash, "GET", f"/api/dashboards/{dashboard['slug']}") == 500
    assert raw(redash, "GET", "/api/dashboards/999999") == 404
    assert (
        raw(redash, "POST", "/api/visualizations", {"query_id": query_id, "type": "TABLE", "name": "t"})
        == 500
    )
    assert raw(redash, "POST", "/api/queries", {"name": "no source", "query": "x"}) == 500
    assert raw(redash, "POST", "/api/data_sources", {"name": "x", "type": "python"}) == 400
    assert raw(redash, "POST", "/api/data_sources", {"name": "x", "type": "pg", "options": {}}) == 400
    assert raw(redash, "GET", "/api/queries?page_size=500") == 400


def test_the_client_addresses_dashboards_by_id(client, redash):
    dashboard = client.create_dashboard("Nightly board")
    assert client.dashboard(dashboard["id"])["name"] == "Nightly board"
    assert ("GET", f"/api/dashboards/{dashboard['id']}") in redash.requests


def test_listing_follows_every_page_and_filters_on_all_tags(client):
    source = client.create_data_source("runs", "python", {"allowedImportModules": "boto3"})
    for n in range(105):
        client.create_query(name=f"q{n}", query="x", data_source_id=source["id"], tags=["etl", "prod"])
    client.create_query(name="other", query="x", data_source_id=source["id"], tags=["etl", "dev"])
    assert len(client.queries(tags=["etl", "prod"])) == 105
    assert [q["name"] for q in client.queries(tags=["etl", "dev"])] == ["other"]


def test_refreshing_a_query_runs_it_ignoring_cached_results(client, redash, query_id):
    answer = client.refresh_query(query_id)
    assert answer["job"]["status"] == 1
    assert redash.executed == [(query_id, 0)]


def test_a_refused_request_says_which_call_and_why(client):
    with pytest.raises(
        RedashError, match=r"POST /api/data_sources: Redash answered 400 unknown data source type"
    ):
        client.create_data_source("x", "dynamodb", {})
