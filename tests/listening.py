"""A test server served the way ``python app.py`` serves: through
:class:`web.listener.GuardedSite`, so that tests see the listener's own
WebSocket path (and its bounds), not aiohttp's default site."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.test_utils import TestServer
from yarl import URL

from web.listener import GuardedSite


class ListeningServer(TestServer):
    async def start_server(self, **kwargs: Any) -> None:
        if self.runner:
            return
        self.runner = await self._make_runner(handler_cancellation=True, **kwargs)
        await self.runner.setup()
        sock = self.socket_factory(self.host, self.port or 0, socket.AF_INET)
        self.host, self.port = sock.getsockname()[:2]
        site = GuardedSite(self.runner, self.host, self.port, sock)
        await site.start()
        self.scheme = "http"
        self._root = URL(f"http://{self.host}:{self.port}")
