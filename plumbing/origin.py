"""One cross-origin rule for every door (``--cors-origins``).

Browsers send ``Origin`` on every cross-site request, on every WebSocket
handshake, and on same-site writes. A request may go ahead when it has no
``Origin`` (not a browser page on another site), when it comes from the
server's own pages (as the client reached it: through a trusted proxy,
its ``X-Forwarded-Proto`` and ``-Host``), or when its origin is listed
(``*``: any).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plumbing import proxies

Allowed = str | list[str]


def origin_allowed(origin: str | None, allowed: Allowed, own: str) -> bool:
    return origin is None or allowed == "*" or origin == own or origin in allowed


def request_allowed(request: web.Request, allowed: Allowed) -> bool:
    own = proxies.of(request).origin(request)
    return origin_allowed(request.headers.get("Origin"), allowed, own)


def environ_rule(allowed: Allowed) -> Any:
    """The rule as python-engineio wants it: ``(origin, environ) -> bool``."""

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        request: web.Request = environ["aiohttp.request"]
        return origin_allowed(origin, allowed, proxies.of(request).origin(request))

    return check
