"""Who may talk to the emulator: its own Host names, no web pages, no CORS.

Whoever can send the emulator a request can create and invoke a Lambda, i.e. run code as the user who
started it. It listens on loopback only, but a web page in that user's browser can still reach it:
- by DNS rebinding: a name of the attacker's (``evil.example``) re-resolved to 127.0.0.1, so that the page's
  requests are same-origin for the browser; they still carry ``Host: evil.example:PORT``, which is refused;
- by "simple" cross-site requests (a form POST to http://127.0.0.1:PORT), which the browser sends without
  asking; they carry an ``Origin`` (and ``Sec-Fetch-Site: cross-site``), which AWS SDKs and Terraform never
  send, so any Origin other than the emulator's own is refused.
No answer carries ``Access-Control-Allow-*`` headers (moto's server adds ``Access-Control-Allow-Origin: *`` to
everything through flask-cors), so no page can read an answer either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from emulator.app import aws_error

log = logging.getLogger("emulator")

CORS_HEADER_PREFIX = "access-control-"
# Sec-Fetch-Site values of requests that no other site's page started: the emulator's own, or the user's.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


def refusal(headers: Mapping[str, str], allowed_hosts: frozenset[str]) -> str | None:
    """Why a request with these headers (lower-case names) is refused, or None when it is served."""
    host = headers.get("host", "").strip().lower()
    if host not in allowed_hosts:
        named = f"Host {host!r}" if host else "no Host header"
        return (
            f"the emulator answers only requests for {_listed(allowed_hosts)}, not {named}: a web page "
            "that rebinds its own DNS name to this address sends its name as the Host"
        )
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() not in _own_origins(allowed_hosts):
        return (
            f"the emulator refuses requests from web pages (Origin {origin!r}): AWS SDKs and Terraform "
            "send no Origin, and a page that could call it could run code as you"
        )
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in OWN_FETCH_SITES:
        return (
            f"the emulator refuses requests that another site's page started (Sec-Fetch-Site {site!r}): "
            "a page that could call it could run code as you"
        )
    return None


def without_cors(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if not name.lower().startswith(CORS_HEADER_PREFIX)]


def _own_origins(allowed_hosts: frozenset[str]) -> frozenset[str]:
    return frozenset(f"{scheme}://{host}" for scheme in ("http", "https") for host in allowed_hosts)


def _listed(hosts: frozenset[str]) -> str:
    names = sorted(hosts)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _headers_of(environ: Mapping[str, Any]) -> dict[str, str]:
    wanted = {"HTTP_HOST": "host", "HTTP_ORIGIN": "origin", "HTTP_SEC_FETCH_SITE": "sec-fetch-site"}
    return {name: environ[key] for key, name in wanted.items() if key in environ}


class RequestGuard:
    """WSGI middleware in front of the whole emulator: refuses what ``refusal`` refuses (403, with the
    reason), and takes every Access-Control-* header out of the answers it lets through."""

    def __init__(self, app: Callable[..., Iterable[bytes]], allowed_hosts: frozenset[str]):
        if not allowed_hosts:
            raise ValueError("RequestGuard needs at least one allowed Host")
        self.app = app
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        reason = refusal(_headers_of(environ), self.allowed_hosts)
        if reason is not None:
            log.warning(
                "refused %s %s from %s: %s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                environ.get("REMOTE_ADDR"),
                reason,
            )
            return aws_error("RequestRefused", reason, 403)(environ, start_response)

        def start_without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, without_cors(headers), exc_info)

        return self.app(environ, start_without_cors)
