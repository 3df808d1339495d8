"""The Socket.IO Admin UI's page at ``/admin/``, served from the npm package
``@socket.io/admin-ui`` (never copied into this repository), with its icon
font from ``@mdi/font``: the page reaches nothing outside this server.

Only with ``--admin-password``; the page itself holds no secret, the
``/admin`` namespace asks for the password (events/admin.py).
"""

from __future__ import annotations

import re
from functools import cache

from aiohttp import web

from plumbing import proxies
from web.pages import ROOT

UI_DIST = ROOT / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
MDI = ROOT / "node_modules" / "@mdi" / "font"
_REMOTE_CSS = re.compile(r'<link rel="stylesheet" href="https://[^"]*">')
_MDI_CDN = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/"


@cache
def index_html() -> str:
    """The UI's index.html, its icon font local and its web font left out
    (the system's sans-serif stands in for Roboto)."""
    html = (UI_DIST / "index.html").read_text()
    html = html.replace(
        f'<link rel="stylesheet" href="{_MDI_CDN}materialdesignicons.min.css">',
        '<link rel="stylesheet" href="mdi/css/materialdesignicons.min.css">',
    )
    return _REMOTE_CSS.sub("", html)


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=index_html(),
        content_type="text/html",
        headers={"Cache-Control": "no-cache"},
    )


async def to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(proxies.of(request).prefix(request) + "/admin/")


def setup(app: web.Application) -> None:
    if not (UI_DIST / "index.html").is_file():
        raise SystemExit(
            f"--admin-password: the Admin UI is not installed ({UI_DIST}); "
            "run `npm ci` (see package.json)"
        )
    app.router.add_get("/admin", to_index)
    app.router.add_get("/admin/", index)
    app.router.add_static("/admin/mdi/", MDI)
    app.router.add_static("/admin/", UI_DIST)
