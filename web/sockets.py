"""Every WebSocket the app serves, whichever door: one policy, one shutdown.

Socket.IO's sockets are built inside engineio and the plain WebSocket door
builds its own; both are handled here, at the app, rather than per door.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, hdrs, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("websockets")


@web.middleware
async def no_deflate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decline permessage-deflate on every WebSocket.

    aiohttp compresses every frame by default; for short chat lines that
    costs more CPU than the whole rest of a broadcast and saves a few bytes.
    The Node.js server ships with ``perMessageDeflate: false`` for the same
    reason. engineio gives no say over its WebSocketResponse, so the offer is
    removed from the request: without it, aiohttp negotiates none.
    """
    if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


async def _track(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        request.app[SOCKETS].add(response)


async def close_all(app: web.Application) -> None:
    """Close every open WebSocket with 1001, so clients reconnect at once.

    The JS Socket.IO client ignores an Engine.IO CLOSE on a WebSocket and
    would otherwise wait out its heartbeat timeout.
    """
    open_sockets = app[SOCKETS]
    for ws in list(open_sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def setup(app: web.Application) -> None:
    open_sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[SOCKETS] = open_sockets
    app.middlewares.append(no_deflate)
    app.on_response_prepare.append(_track)
