"""The chat page, the tutorial's WebSocket demo, the client bundle, health."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from chat.rules import ChatError, check_room
from plumbing import proxies
from plumbing.origin import request_allowed
from web import ws
from web.keys import BACKENDS, BOUNDS, CONFIG, SERVICE, WS_DOOR

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIST = ROOT / "node_modules" / "socket.io-client" / "dist"
_BUNDLE = re.compile(r"socket\.io(\.min)?\.js(\.map)?")


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    if not request_allowed(request, app[CONFIG].cors_allowed):
        raise web.HTTPForbidden(text="This origin may not connect (--cors-origins).")
    return await ws.serve(
        request, app[SERVICE], app[WS_DOOR], app[CONFIG].ping_interval
    )


def _page(request: web.Request, room: object) -> web.Response:
    try:
        clean = check_room(room)
    except ChatError as exc:
        raise web.HTTPBadRequest(text=exc.message) from None
    context: dict[str, Any] = {
        "room": clean,
        "base": proxies.of(request).prefix(request),
    }
    return aiohttp_jinja2.render_template("index.html", request, context)


async def index(request: web.Request) -> web.StreamResponse:
    # The tutorial's WebSocket client connects to ws://HOST:PORT itself.
    if _is_upgrade(request):
        return await websocket(request)
    return _page(request, request.query.get("room"))


async def room_page(request: web.Request) -> web.StreamResponse:
    return _page(request, request.match_info["room"])


async def websocket_demo(request: web.Request) -> web.Response:
    context = {"base": proxies.of(request).prefix(request)}
    return aiohttp_jinja2.render_template("websocket.html", request, context)


async def client_bundle(request: web.Request) -> web.StreamResponse:
    """``/socket.io/socket.io.js`` and friends, as the Node.js server serves them.

    FileResponse sends ETag and Last-Modified and answers 304 to a
    conditional request; the files come from the socket.io-client package.
    """
    name = request.match_info["name"]
    path = CLIENT_DIST / name
    if not _BUNDLE.fullmatch(name) or not path.is_file():
        raise web.HTTPNotFound()
    content_type = (
        "application/json" if name.endswith(".map") else "application/javascript"
    )
    return web.FileResponse(
        path,
        headers={"Content-Type": content_type, "Cache-Control": "public, max-age=3600"},
    )


async def health(request: web.Request) -> web.Response:
    """Liveness. One process: also 503 while its database cannot save
    (someone must act). Shared: Redis being away is /readyz's to say."""
    service = request.app[SERVICE]
    backends = request.app[BACKENDS]
    problem = service.sequencer.failure
    if problem is None and not backends.shared:
        problem = await service.store.problem()
    return web.json_response(
        {
            "ok": problem is None,
            "problem": problem,
            "members": len(service.presence),
            "rooms": service.presence.rooms(),
            "committed": service.sequencer.committed,
            "commits": service.sequencer.commits,
            "events": service.fanout.published,
        },
        status=200 if problem is None else 503,
    )


async def ready(request: web.Request) -> web.Response:
    """Readiness: can this process serve the chat now (store, Redis, bus)?"""
    app = request.app
    problem = app[SERVICE].sequencer.failure or app[BOUNDS].fds.problem
    problem = problem or await app[BACKENDS].problem()
    if problem is not None:
        return web.json_response({"ok": False, "problem": problem}, status=503)
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/r/{room}", room_page)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/demo/websocket", websocket_demo)
    app.router.add_get("/socket.io/{name}", client_bundle)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    app.router.add_static("/static/", ROOT / "static", append_version=True)
