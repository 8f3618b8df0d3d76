"""TLS on the emulator's one port: a private CA, a server certificate for the loopback names, and a server
that tells a TLS connection from plain HTTP by its first byte.

The deployed buckets deny every request that does not arrive over TLS (``aws:SecureTransport``), so the
code the emulator runs (Lambda workers, Glue runs) reaches it over HTTPS, trusting the CA written here,
while the operator's tools (Terraform, the CLI, the tests) keep plain HTTP on the same port.

The CA's private key signs the server certificate and is then thrown away: nothing can mint another
certificate that the code trusting this CA would accept. The server's key is written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wsgi import LimitedStream

log = logging.getLogger("emulator")

# The first byte of every TLS connection: a handshake record (RFC 8446, section 5.1, ContentType 22).
TLS_HANDSHAKE = 0x16
# A connection that sends nothing for this long is closed; it only ever holds its own thread.
FIRST_BYTE_TIMEOUT_S = 10.0
CERT_DAYS = 397  # the longest lifetime browsers and Apple platforms accept for a server certificate
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class TlsFiles:
    """Where the CA certificate and the server's certificate and key live (``<state dir>/tls``)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"


def ensure_certificates(files: TlsFiles, names: tuple[str, ...]) -> bool:
    """Reuse the certificates in ``files`` while they are valid for ``names``; otherwise make new ones.

    Returns True when new ones were written (first start, expiry near, names changed, files damaged).
    """
    if _reusable(files, names):
        return False
    _write_certificates(files, names)
    return True


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.server_cert, files.server_key)
    return context


def subject_alt_names(cert_pem: bytes) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for, as strings."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n) for n in sans.get_values_for_type(x509.DNSName)] + [
        str(a) for a in sans.get_values_for_type(x509.IPAddress)
    ]


def _reusable(files: TlsFiles, names: tuple[str, ...]) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, InvalidSignature) as exc:
        if files.ca_cert.exists():
            log.info("TLS certificates in %s are unusable (%s): making new ones", files.directory, exc)
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return False
    renew_at = datetime.datetime.now(datetime.UTC) + RENEW_BEFORE
    if min(ca.not_valid_after_utc, cert.not_valid_after_utc) < renew_at:
        return False
    return sorted(subject_alt_names(files.server_cert.read_bytes())) == sorted(_san_strings(names))


def _san_strings(names: tuple[str, ...]) -> list[str]:
    return [str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in names]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _write_certificates(files: TlsFiles, names: tuple[str, ...]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # clock skew of a child
    until = now + datetime.timedelta(days=CERT_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nightly-etl emulator local CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(files.directory, 0o700)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(files.server_key, key_pem, 0o600)
    _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(files.ca_cert, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("made a TLS CA and server certificate for %s in %s", ", ".join(names), files.directory)


def _key_usage(cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a new file created with ``mode``, so that a key is never readable by others."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


class DualProtocolWSGIServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, answering TLS and plain HTTP on one port.

    Each connection's first byte is peeked in that connection's own thread (a client that connects and
    stays silent holds only its thread, until ``first_byte_timeout``); a TLS handshake record gets the
    connection wrapped in ``tls_context``. The request handler tells the two apart by its socket type.
    """

    def __init__(self, *args: Any, tls_context: ssl.SSLContext, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.tls_context = tls_context
        self.first_byte_timeout = FIRST_BYTE_TIMEOUT_S

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = self._accept_protocol(request)
        if connection is None:
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            if connection is not request:
                connection.close()  # the raw socket was detached into it: closing that one is a no-op

    def _accept_protocol(self, sock: socket.socket) -> socket.socket | None:
        sock.settimeout(self.first_byte_timeout)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            if not first:
                return None
            if first[0] != TLS_HANDSHAKE:
                sock.settimeout(None)
                return sock
            wrapped = self.tls_context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as exc:  # silent, gone, or a failed handshake (untrusted CA, ...)
            log.debug("connection dropped before its first request: %s", exc)
            return None
        wrapped.settimeout(None)
        return wrapped


class TlsSchemeMixin:
    """For a request handler: ``wsgi.url_scheme`` is "https" on a TLS connection, "http" otherwise.

    Werkzeug decides the scheme from the server's ``ssl_context``, which is one for the whole server; on a
    shared port it is a property of each connection.
    """

    connection: socket.socket

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()  # type: ignore[misc]
        environ["wsgi.url_scheme"] = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        return environ

    def handle(self) -> None:
        try:
            super().handle()  # type: ignore[misc]
        except ssl.SSLError as exc:  # a TLS client that went away mid-record
            self.connection_dropped(exc)  # type: ignore[attr-defined]


class KeepAliveMixin:
    """For werkzeug's request handler: HTTP/1.1 keep-alive, which werkzeug turns off for every answer.

    Werkzeug closes each connection because after an answer it cannot tell what is left of the request
    body from the next request; so here the handler reads the body through a stream limited to its
    Content-Length and drains what the application left unread. A chunked request body, a client that asks
    for it, or a body the client did not send in full still close the connection. Keep-alive is what makes
    TLS cheap: botocore reuses its connections, so the handshake is paid once per connection, not per call.
    """

    # An idle kept-alive connection is closed after this long (clients reconnect: urllib3 checks a pooled
    # connection before it reuses it).
    timeout = 120.0
    # An answer goes out as two writes (head, then body): with Nagle's algorithm the body would wait for
    # the client's delayed acknowledgement of the head, about 40 ms, on every request of a kept connection.
    disable_nagle_algorithm = True
    close_connection: bool
    headers: Any
    rfile: Any
    _keep_alive = False

    def run_wsgi(self) -> None:
        length = _content_length(self.headers)
        if self.close_connection or length is None:
            super().run_wsgi()  # type: ignore[misc]
            return
        connection_stream, body = self.rfile, _RequestBody(self.rfile, length)
        self.rfile, self._keep_alive = body, True  # werkzeug's wsgi.input, and what it drains afterwards
        try:
            super().run_wsgi()  # type: ignore[misc]
        finally:
            self.rfile, self._keep_alive = connection_stream, False
        if not body.is_exhausted:
            self.close_connection = True

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)  # type: ignore[misc]

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # an idle kept connection reaching ``timeout``
            return
        super().log_error(format, *args)  # type: ignore[misc]


def _content_length(headers: Any) -> int | None:
    """The request body's length, 0 without one; None when the connection cannot be kept (chunked, bad)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        return None
    return length if length >= 0 else None


class _RequestBody(LimitedStream):
    """One request's body on a kept-alive connection. Once read to its end it reads as empty, at once: the
    drain werkzeug runs after each answer asks for 10 MB whenever the next request has already arrived."""

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.limit - self.tell()
        if remaining <= 0:
            return b""
        return super().read(remaining if size is None or size < 0 else min(size, remaining))
