"""``GET /metrics``: Prometheus text format, from this app's own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from web.keys import SERVICE, WS_DOOR

Transports = Callable[[], Mapping[str, int]]
"""The Socket.IO door's open sessions by transport (``websocket``, ``polling``)."""


class _Counts(Collector):
    """What the server counts anyway, read when scraped."""

    def __init__(self, app: web.Application, transports: Transports) -> None:
        self._app = app
        self._transports = transports

    def collect(self) -> Iterator[Metric]:
        app = self._app
        service = app[SERVICE]
        messages = CounterMetricFamily(
            "chat_messages_in", "Messages stored (acknowledged to their senders)."
        )
        messages.add_metric([], service.sequencer.committed)
        yield messages
        connections = GaugeMetricFamily(
            "chat_connections",
            "Open connections (HTTP: members joined through a session).",
            labels=["door", "transport"],
        )
        transports = self._transports()
        for transport in ("websocket", "polling"):
            connections.add_metric(["sio", transport], transports[transport])
        connections.add_metric(["ws", "websocket"], app[WS_DOOR].peers())
        connections.add_metric(["http", "polling"], service.presence.count("http"))
        yield connections


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[SERVICE].stats.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def setup(app: web.Application, transports: Transports) -> None:
    app[SERVICE].stats.registry.register(_Counts(app, transports))
    app.router.add_get("/metrics", metrics)
