"""The emulator answers only its own Host names, refuses web pages, sends no CORS headers, listens on loopback."""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path

import pytest

from emulator.request_guard import refusal, without_cors
from emulator.settings import EmulatorSettings

ALLOWED = EmulatorSettings(port=4590).allowed_hosts


def request(
    emulator, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these headers (http.client adds Host only when it is not given)."""
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def cors_headers(headers: dict[str, str]) -> list[str]:
    return [name for name in headers if name.startswith("access-control-")]


# --- the rule itself -------------------------------------------------------------------------------------


def test_allowed_hosts_are_the_loopback_names_with_the_port():
    assert EmulatorSettings(port=4590).allowed_hosts == {"127.0.0.1:4590", "localhost:4590", "[::1]:4590"}


def test_refusal_serves_the_emulators_own_host_and_origin():
    assert refusal({"host": "127.0.0.1:4590"}, ALLOWED) is None
    assert refusal({"host": "LOCALHOST:4590"}, ALLOWED) is None
    assert refusal({"host": "localhost:4590", "origin": "http://localhost:4590"}, ALLOWED) is None
    assert refusal({"host": "127.0.0.1:4590", "origin": "https://127.0.0.1:4590"}, ALLOWED) is None
    assert refusal({"host": "127.0.0.1:4590", "sec-fetch-site": "same-origin"}, ALLOWED) is None
    assert refusal({"host": "127.0.0.1:4590", "sec-fetch-site": "none"}, ALLOWED) is None


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"host": "evil.example:4590"}, "not Host 'evil.example:4590'"),
        ({"host": "127.0.0.1:4591"}, "not Host '127.0.0.1:4591'"),
        ({"host": "127.0.0.1"}, "not Host '127.0.0.1'"),
        ({"host": "bucket.localhost:4590"}, "not Host 'bucket.localhost:4590'"),
        ({}, "not no Host header"),
        ({"host": "127.0.0.1:4590", "origin": "http://evil.example"}, "Origin 'http://evil.example'"),
        ({"host": "127.0.0.1:4590", "origin": "null"}, "Origin 'null'"),
        ({"host": "127.0.0.1:4590", "origin": "http://localhost:8080"}, "Origin 'http://localhost:8080'"),
        ({"host": "127.0.0.1:4590", "sec-fetch-site": "cross-site"}, "Sec-Fetch-Site 'cross-site'"),
        ({"host": "127.0.0.1:4590", "sec-fetch-site": "same-site"}, "Sec-Fetch-Site 'same-site'"),
    ],
)
def test_refusal_names_what_it_refuses(headers, says):
    reason = refusal(headers, ALLOWED)
    assert reason is not None and says in reason


def test_without_cors_drops_every_access_control_header_and_keeps_the_others():
    headers = [("Access-Control-Allow-Origin", "*"), ("access-control-max-age", "1"), ("ETag", '"x"')]
    assert without_cors(headers) == [("ETag", '"x"')]


def test_settings_bind_loopback_by_default_and_a_named_interface_only_when_told(monkeypatch):
    monkeypatch.delenv("EMULATOR_HOST", raising=False)
    assert EmulatorSettings.from_env().host == "127.0.0.1"
    monkeypatch.setenv("EMULATOR_HOST", "192.0.2.7")
    named = EmulatorSettings.from_env(port=4590)
    assert named.endpoint == "http://192.0.2.7:4590"
    assert named.allowed_hosts == ALLOWED | {"192.0.2.7:4590"}
    assert named.server_names == ("localhost", "127.0.0.1", "::1", "192.0.2.7")
    monkeypatch.setenv("EMULATOR_HOST", "0.0.0.0")
    everywhere = EmulatorSettings.from_env(port=4590)
    assert everywhere.endpoint == "http://127.0.0.1:4590"
    assert everywhere.allowed_hosts == ALLOWED


# --- the running emulator --------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_with_the_reason(emulator):
    status, headers, body = request(
        emulator, "GET", "/_emulator/status", {"Host": f"evil.example:{emulator.port}"}
    )

    assert status == 403
    error = json.loads(body)
    assert error["__type"] == "RequestRefused"
    assert f"not Host 'evil.example:{emulator.port}'" in error["message"]
    assert f"127.0.0.1:{emulator.port}" in error["message"]
    assert cors_headers(headers) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_the_loopback_hosts_are_served(emulator, host):
    status, _, body = request(emulator, "GET", "/_emulator/status", {"Host": f"{host}:{emulator.port}"})

    assert status == 200
    assert json.loads(body)["endpoint"] == emulator.endpoint


def test_boto3_through_localhost_is_served_as_the_state_machine_interpreter_calls_back(emulator):
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=f"http://localhost:{emulator.port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    name = f"safety-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url.endswith(f"/{name}")


def test_a_cross_site_form_post_is_refused_and_changes_nothing(emulator):
    name = f"from-a-page-{uuid.uuid4().hex[:8]}"
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}

    status, headers, body = request(emulator, "POST", "/", form, f"Action=CreateQueue&QueueName={name}")

    assert status == 403
    assert "Origin 'http://evil.example'" in json.loads(body)["message"]
    assert cors_headers(headers) == []
    assert name not in str(emulator.client("sqs").list_queues().get("QueueUrls", []))


def test_a_request_a_page_of_another_site_started_is_refused_without_an_origin(emulator):
    status, _, body = request(emulator, "GET", "/_emulator/status", {"Sec-Fetch-Site": "cross-site"})

    assert status == 403
    assert "Sec-Fetch-Site 'cross-site'" in json.loads(body)["message"]


def test_the_emulators_own_origin_is_served(emulator):
    status, _, _ = request(emulator, "GET", "/_emulator/status", {"Origin": emulator.endpoint})

    assert status == 200


def test_no_answer_carries_cors_headers(emulator, bucket):
    answers = [
        request(emulator, "GET", "/_emulator/status", {}),
        request(
            emulator, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, "Action=ListQueues"
        ),
        request(emulator, "GET", f"/{bucket}", {}),
        request(emulator, "GET", f"/{bucket}/missing-key", {}),
    ]

    assert [status for status, _, _ in answers] == [200, 200, 200, 404]
    assert [cors_headers(headers) for _, headers, _ in answers] == [[], [], [], []]


def test_a_cors_preflight_gets_no_allow_headers(emulator, bucket):
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}

    from_a_page = request(
        emulator, "OPTIONS", f"/{bucket}/key", {**preflight, "Origin": "http://evil.example"}
    )
    without_origin = request(emulator, "OPTIONS", f"/{bucket}/key", preflight)

    assert from_a_page[0] == 403
    assert cors_headers(from_a_page[1]) == []
    assert cors_headers(without_origin[1]) == []


def test_it_listens_on_127_0_0_1_only(emulator):
    assert emulator.control.status()["listening"] == f"127.0.0.1:{emulator.port}"
    listening = _listening_addresses(emulator.port)
    if listening is None:
        pytest.skip("no /proc/net/tcp on this system")
    assert listening == ["127.0.0.1"]


def _listening_addresses(port: int) -> list[str] | None:
    """The local addresses of the sockets listening on ``port`` (IPv4 and IPv6), from the kernel's tables."""
    found = []
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            return None
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A: TCP_LISTEN
                found.append(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return hex_address  # IPv6: any listener there is already one too many
