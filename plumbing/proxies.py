"""Whose ``X-Forwarded-*`` headers to believe (``--trusted-proxies``).

Behind nginx every connection comes from nginx. For requests from a trusted
proxy the client's address is the nearest untrusted hop of
``X-Forwarded-For``, and ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and
``X-Forwarded-Prefix`` (a sub-path such as ``/chat``) say how the client
reached the chat. From anyone else these headers are ignored: they are
whatever the client wanted them to be.
"""

from __future__ import annotations

import ipaddress
import re

from aiohttp import web

from config import proxy_networks

_PREFIX = re.compile(r"(/[A-Za-z0-9_.~-]+)*")


class TrustedProxies:
    def __init__(self, cidrs: str = "") -> None:
        self._networks = proxy_networks(cidrs)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def _forwarded(self, request: web.Request, header: str) -> str | None:
        if not self.trusts(request.remote or ""):
            return None
        value = request.headers.get(header)
        return value.split(",")[0].strip() if value else None

    def client(self, request: web.Request) -> str:
        """The address the request really comes from."""
        peer = request.remote or ""
        if not self.trusts(peer):
            return peer
        hops = [
            hop.strip()
            for value in request.headers.getall("X-Forwarded-For", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def origin(self, request: web.Request) -> str:
        """This server's origin as the client sees it (``scheme://host``)."""
        scheme = self._forwarded(request, "X-Forwarded-Proto") or request.scheme
        host = self._forwarded(request, "X-Forwarded-Host") or request.host
        return f"{scheme}://{host}"

    def prefix(self, request: web.Request) -> str:
        """The sub-path the chat is served under, e.g. ``/chat``; or ""."""
        prefix = (self._forwarded(request, "X-Forwarded-Prefix") or "").rstrip("/")
        return prefix if _PREFIX.fullmatch(prefix) else ""


PROXIES = web.AppKey("proxies", TrustedProxies)


def of(request: web.Request) -> TrustedProxies:
    """The app's trusted proxies (set by create_app)."""
    return request.app[PROXIES]
