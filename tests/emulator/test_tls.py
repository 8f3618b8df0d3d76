"""TLS and plain HTTP on the emulator's one port: the certificates, the protocol sniffing, keep-alive, and
the scheme the application sees (what aws:SecureTransport is made of)."""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import ssl
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from cryptography import x509
from werkzeug.serving import WSGIRequestHandler

from emulator import tls
from emulator.settings import LOOPBACK_NAMES, EmulatorSettings
from tests.conftest import _free_port, start_emulator


def tls_context(emulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(EmulatorSettings(state_dir=emulator.state_dir).ca_bundle))


def scheme_of(connection: http.client.HTTPConnection) -> str:
    """The scheme the emulator saw for a request on ``connection`` (kept open)."""
    connection.request("GET", "/_emulator/status")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Connection") != "close"
    return json.loads(response.read())["tls"]["request_scheme"]


# --- certificates ----------------------------------------------------------------------------------------


def test_certificates_are_made_once_and_reused_while_valid(tmp_path):
    files = tls.TlsFiles(tmp_path / "tls")

    assert tls.ensure_certificates(files, LOOPBACK_NAMES) is True
    made = [files.ca_cert.read_bytes(), files.server_cert.read_bytes(), files.server_key.read_bytes()]
    assert tls.ensure_certificates(files, LOOPBACK_NAMES) is False
    assert [files.ca_cert.read_bytes(), files.server_cert.read_bytes(), files.server_key.read_bytes()] == made

    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" not in files.ca_cert.read_bytes() + files.server_cert.read_bytes()
    assert not list(files.directory.glob("*ca*key*"))  # the CA's key signs once and is not kept


def test_the_server_certificate_covers_the_loopback_names_and_chains_to_the_ca(tmp_path):
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_certificates(files, LOOPBACK_NAMES)

    assert sorted(tls.subject_alt_names(files.server_cert.read_bytes())) == ["127.0.0.1", "::1", "localhost"]
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=396) < lifetime <= datetime.timedelta(days=398)


@pytest.mark.parametrize("damage", ["expiring", "other names", "truncated key", "foreign ca"])
def test_certificates_are_made_again_when_they_no_longer_serve(tmp_path, monkeypatch, damage):
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_certificates(files, LOOPBACK_NAMES)
    before = files.server_cert.read_bytes()
    names = LOOPBACK_NAMES
    if damage == "expiring":
        monkeypatch.setattr(tls, "RENEW_BEFORE", datetime.timedelta(days=400))
    elif damage == "other names":
        names = (*LOOPBACK_NAMES, "192.0.2.7")
    elif damage == "truncated key":
        files.server_key.write_bytes(files.server_key.read_bytes()[:40])
    else:
        other = tls.TlsFiles(tmp_path / "other")
        tls.ensure_certificates(other, LOOPBACK_NAMES)
        files.ca_cert.write_bytes(other.ca_cert.read_bytes())

    assert tls.ensure_certificates(files, names) is True
    assert files.server_cert.read_bytes() != before
    assert sorted(tls.subject_alt_names(files.server_cert.read_bytes())) == sorted(names)
    if damage == "expiring":
        monkeypatch.setattr(tls, "RENEW_BEFORE", datetime.timedelta(days=7))
    assert tls.ensure_certificates(files, names) is False


# --- the dual-protocol server, with a one-line application ---------------------------------------------


class _Handler(tls.TlsSchemeMixin, tls.KeepAliveMixin, WSGIRequestHandler):
    pass


def _scheme_app(environ, start_response):
    """Answers the scheme it was called with, and never reads the request body."""
    body = f"{environ['wsgi.url_scheme']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def small_server(tmp_path) -> Iterator[tuple[tls.DualProtocolWSGIServer, ssl.SSLContext]]:
    files = tls.TlsFiles(tmp_path / "tls")
    tls.ensure_certificates(files, LOOPBACK_NAMES)
    server = tls.DualProtocolWSGIServer(
        "127.0.0.1", 0, _scheme_app, _Handler, tls_context=tls.server_context(files)
    )
    server.first_byte_timeout = 0.5
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, ssl.create_default_context(cafile=str(files.ca_cert))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_silent_client_is_dropped_after_the_first_byte_timeout_and_blocks_nobody(small_server):
    server, context = small_server
    silent = socket.create_connection(("127.0.0.1", server.port))
    silent.settimeout(5)
    started = time.monotonic()

    plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    plain.request("GET", "/plain")
    assert plain.getresponse().read() == b"http /plain"
    secure = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=2, context=context)
    secure.request("GET", "/secure")
    assert secure.getresponse().read() == b"https /secure"
    assert time.monotonic() - started < 0.5  # served while the silent one still waits

    assert silent.recv(1) == b""  # closed by the server
    assert 0.4 < time.monotonic() - started < 3
    silent.close()


def test_a_body_the_application_left_unread_does_not_spoil_the_next_request(small_server):
    server, context = small_server
    for connection in (
        http.client.HTTPConnection("127.0.0.1", server.port, timeout=5),
        http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context),
    ):
        connection.request("POST", "/first", body=b"x" * 300_000)
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        connection.request("GET", "/second")
        second = connection.getresponse()
        assert second.read().endswith(b" /second")
        assert connection.sock is sock  # one connection for both
        connection.close()


def test_an_idle_kept_connection_is_closed_after_the_handlers_timeout(small_server, monkeypatch, caplog):
    server, context = small_server
    monkeypatch.setattr(_Handler, "timeout", 0.5)
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"https /"
    idle_since = time.monotonic()

    assert connection.sock.recv(1) == b""  # the server closed it
    assert 0.4 < time.monotonic() - idle_since < 3
    assert "timed out" not in caplog.text  # an idle connection closing is not an error
    connection.close()


def test_a_client_that_asks_to_close_gets_its_connection_closed(small_server):
    server, _ = small_server
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/", headers={"Connection": "close"})
    response = connection.getresponse()

    assert response.getheader("Connection") == "close"
    assert response.read() == b"http /"


# --- the running emulator --------------------------------------------------------------------------------


def test_an_https_boto3_client_with_the_ca_bundle_works(emulator):
    settings = EmulatorSettings(port=emulator.port, state_dir=emulator.state_dir)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=settings.internal_endpoint,
        verify=str(settings.ca_bundle),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    table = f"tls-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(5):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"k{n}"}})

    assert settings.internal_endpoint == f"https://127.0.0.1:{emulator.port}"
    assert dynamodb.scan(TableName=table)["Count"] == 5
    assert emulator.client("dynamodb").scan(TableName=table)["Count"] == 5  # one emulator behind both


def test_the_certificate_the_server_presents_is_the_one_in_the_state_dir(emulator):
    settings = EmulatorSettings(port=emulator.port, state_dir=emulator.state_dir)
    presented = ssl.get_server_certificate(("127.0.0.1", emulator.port), ca_certs=str(settings.ca_bundle))

    assert presented.encode().strip() == settings.tls_files.server_cert.read_bytes().strip()
    assert sorted(tls.subject_alt_names(presented.encode())) == ["127.0.0.1", "::1", "localhost"]


def test_verification_fails_without_the_ca_bundle(emulator):
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"https://127.0.0.1:{emulator.port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        dynamodb.list_tables()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_and_tls_clients_interleave_on_one_port_each_on_its_kept_connection(emulator, host):
    plain = http.client.HTTPConnection(host, emulator.port, timeout=10)
    secure = http.client.HTTPSConnection(host, emulator.port, timeout=10, context=tls_context(emulator))
    seen = []
    for _ in range(3):
        seen += [scheme_of(plain), scheme_of(secure)]
    plain_socket, secure_socket = plain.sock, secure.sock
    seen += [scheme_of(plain), scheme_of(secure)]

    assert seen == ["http", "https"] * 4
    assert (plain.sock, secure.sock) == (plain_socket, secure_socket)  # keep-alive, both ways
    assert isinstance(secure.sock, ssl.SSLSocket) and not isinstance(plain.sock, ssl.SSLSocket)
    plain.close()
    secure.close()


def test_a_client_that_connects_and_sends_nothing_does_not_block_others(emulator):
    silent = [socket.create_connection(("127.0.0.1", emulator.port)) for _ in range(3)]
    try:
        started = time.monotonic()
        secure = http.client.HTTPSConnection(
            "127.0.0.1", emulator.port, timeout=5, context=tls_context(emulator)
        )
        plain = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
        assert (scheme_of(secure), scheme_of(plain)) == ("https", "http")
        assert time.monotonic() - started < tls.FIRST_BYTE_TIMEOUT_S / 2
    finally:
        for sock in silent:
            sock.close()


def test_a_tls_handshake_that_fails_leaves_the_port_serving(emulator):
    refused = ssl.create_default_context()  # trusts the system CAs only
    with (
        socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        refused.wrap_socket(raw, server_hostname="127.0.0.1")

    assert scheme_of(http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)) == "http"


def test_the_certificates_survive_a_restart(tmp_path):
    port = _free_port()
    first, running = start_emulator(tmp_path, port)
    files = EmulatorSettings(state_dir=tmp_path).tls_files
    try:
        made = files.ca_cert.read_bytes(), files.server_key.read_bytes()
    finally:
        first.terminate()
        first.wait(timeout=15)
    second, running = start_emulator(tmp_path, port)
    try:
        assert (files.ca_cert.read_bytes(), files.server_key.read_bytes()) == made
        assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
        secure = http.client.HTTPSConnection(
            "localhost", port, timeout=5, context=ssl.create_default_context(cafile=str(files.ca_cert))
        )
        assert scheme_of(secure) == "https"
    finally:
        second.terminate()
        second.wait(timeout=15)


def test_the_ca_path_is_where_the_settings_say(emulator):
    status = emulator.control.status()

    assert status["tls"] == {
        "endpoint": f"https://127.0.0.1:{emulator.port}",
        "ca_bundle": str(Path(emulator.state_dir) / "tls" / "ca.pem"),
        "request_scheme": "http",
    }
