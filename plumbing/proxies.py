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
from multidict import MultiMapping

from config import proxy_networks

_PREFIX = re.compile(r"(/[A-Za-z0-9_.~-]+)*")


Headers = MultiMapping[str]
_REMEMBERED = 4096
"""Addresses whose trust is remembered (parsing one costs more than a
handshake's other header work)."""


class TrustedProxies:
    def __init__(self, cidrs: str = "") -> None:
        self._networks = proxy_networks(cidrs)
        self._trusted: dict[str, bool] = {}

    def trusts(self, address: str) -> bool:
        known = self._trusted.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                known = False
            else:
                known = any(ip in network for network in self._networks)
            if len(self._trusted) >= _REMEMBERED:
                self._trusted.clear()
            self._trusted[address] = known
        return known

    def _forwarded(self, peer: str, headers: Headers, header: str) -> str | None:
        if not self.trusts(peer):
            return None
        value = headers.get(header)
        return value.split(",")[0].strip() if value else None

    def client(self, request: web.Request) -> str:
        """The address the request really comes from."""
        return self.client_of(request.remote or "", request.headers)

    def client_of(self, peer: str, headers: Headers) -> str:
        if not self.trusts(peer):
            return peer
        hops = [
            hop.strip()
            for value in headers.getall("X-Forwarded-For", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def origin(self, request: web.Request) -> str:
        """This server's origin as the client sees it (``scheme://host``)."""
        peer = request.remote or ""
        return self.origin_of(peer, request.headers, request.scheme, request.host)

    def origin_of(self, peer: str, headers: Headers, scheme: str, host: str) -> str:
        scheme = self._forwarded(peer, headers, "X-Forwarded-Proto") or scheme
        host = self._forwarded(peer, headers, "X-Forwarded-Host") or host
        return f"{scheme}://{host}"

    def prefix(self, request: web.Request) -> str:
        """The sub-path the chat is served under, e.g. ``/chat``; or ""."""
        forwarded = self._forwarded(
            request.remote or "", request.headers, "X-Forwarded-Prefix"
        )
        prefix = (forwarded or "").rstrip("/")
        return prefix if _PREFIX.fullmatch(prefix) else ""


PROXIES = web.AppKey("proxies", TrustedProxies)


def of(request: web.Request) -> TrustedProxies:
    """The app's trusted proxies (set by create_app)."""
    return request.app[PROXIES]
