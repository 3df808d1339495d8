"""``GET /metrics``: Prometheus text format, from this app's own registry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from events.engine import ChatServer, Link
from web.keys import SERVICE, WS_DOOR


class _Counts(Collector):
    """What the server counts anyway, read when scraped."""

    def __init__(self, app: web.Application, sio: ChatServer) -> None:
        self._app = app
        self._sio = sio

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
        transports: Counter[str] = Counter(
            "websocket" if link.outlet is not None else "polling"
            for link in self._sio.eio.sockets.values()
            if isinstance(link, Link)
        )
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


def setup(app: web.Application, sio: ChatServer) -> None:
    app[SERVICE].stats.registry.register(_Counts(app, sio))
    app.router.add_get("/metrics", metrics)
