"""Browser fixtures: Debian's Chromium driven by Playwright's async API.

Everything runs in the test's own event loop, next to the server, so the
browser, the server and any Python client take turns on one loop. Every wait
is bounded; browsers, contexts and servers are closed in teardown.

Request the server fixture (``url`` or ``live_server``) *before*
``open_page`` in a test's arguments: pytest tears fixtures down in reverse
order, so the pages close first and a server never stops under a page that
a test is still looking at.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from app import create_app
from config import Config
from tests.helpers import free_port, need

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Locator, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HOST = "127.0.0.1"
TUTORIAL = Path(__file__).resolve().parent / "pages" / "tutorial.html"
"""The tutorial's page, served at /tutorial by :class:`LiveServer`."""
WAIT = 10_000
"""Milliseconds any one browser-side wait may take."""
DESKTOP = {"width": 900, "height": 600}


def chromium_path() -> str:
    """Debian's Chromium; skip (fail under CI=true) when it is missing."""
    return CHROMIUM if Path(CHROMIUM).exists() else need("chromium")


TIME = re.compile(r"^\d\d:\d\d\s*")
"""The time the chat page shows at the start of a line (the demo has none)."""


def timed(text: str) -> re.Pattern[str]:
    """A line's whole text, after its time if it shows one."""
    return re.compile(r"^(?:\d\d:\d\d\s*)?" + re.escape(text) + "$")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async_api = pytest.importorskip("playwright.async_api")
    playwright = await async_api.async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=30_000,
        )
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


@dataclass
class ChatPage:
    """One browser tab (in a context of its own) with a nickname."""

    context: BrowserContext
    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    """Text frames the page sent on any WebSocket."""

    @property
    def lines(self) -> Locator:
        return self.page.locator("#lines > li")

    def line(self, text: str) -> Locator:
        """The #lines entries whose whole text, after the time, is ``text``."""
        return self.lines.filter(has_text=timed(text))

    async def see(self, text: str, count: int = 1, timeout: float = WAIT) -> None:
        from playwright.async_api import expect

        await expect(self.line(text)).to_have_count(count, timeout=timeout)

    async def status(self, state: str, timeout: float = WAIT) -> None:
        from playwright.async_api import expect

        status = self.page.locator("#status")
        await expect(status).to_have_class(
            re.compile(rf"(^|\s){state}(\s|$)"), timeout=timeout
        )

    async def send(self, text: str) -> None:
        await self.page.locator("#input").fill(text)
        await self.page.locator("#send").click()

    async def texts(self) -> list[str]:
        """Each line's text without its time."""
        return [TIME.sub("", text) for text in await self.lines.all_inner_texts()]


OpenPage = Callable[..., Awaitable[ChatPage]]

KEEP_SOCKET = """
(() => {
  let io;
  Object.defineProperty(window, "io", {
    configurable: true,
    get: () => io,
    set(real) {
      io = Object.assign((...args) => (window.chatSocket = real(...args)), real);
    },
  });
})();
"""
"""An init script: the page's socket (which chat.js keeps to itself) as
``window.chatSocket``, so a test can blip it as the tutorial's page is
blipped: ``chatSocket.io.engine.close()``."""


async def chatting(
    open_page: OpenPage, address: str, name: str, **kw: object
) -> ChatPage:
    """A chat page that is connected and has seen itself join."""
    chat = await open_page(address, name, **kw)
    await chat.status("connected")
    return chat


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Opens ``address`` in a fresh context and answers its nickname prompt."""
    pages: list[ChatPage] = []

    async def open_(
        address: str,
        name: str,
        *,
        locale: str = "zh-CN",
        viewport: dict[str, int] | None = None,
        script: str | None = None,
        **options: Any,
    ) -> ChatPage:
        context = await browser.new_context(
            locale=locale, viewport=viewport or DESKTOP, **options
        )
        if script is not None:  # runs before the page's own (KEEP_SOCKET)
            await context.add_init_script(script)
        context.set_default_timeout(WAIT)
        context.set_default_navigation_timeout(WAIT)
        page = await context.new_page()
        chat = ChatPage(context, page, name)
        pages.append(chat)

        async def answer(dialog: Any) -> None:
            if dialog.type == "prompt":
                await dialog.accept(name)
            else:
                chat.errors.append(f"unexpected {dialog.type}: {dialog.message}")
                await dialog.dismiss()

        page.on("dialog", answer)
        page.on("pageerror", lambda exc: chat.errors.append(str(exc)))

        def on_websocket(ws: Any) -> None:
            def sent(payload: str | bytes) -> None:
                if isinstance(payload, str):
                    chat.frames_sent.append(payload)

            ws.on("framesent", sent)

        page.on("websocket", on_websocket)
        await page.goto(address)
        return chat

    yield open_
    errors = {chat.name: chat.errors for chat in pages if chat.errors}
    for chat in pages:
        await chat.context.close()
    assert not errors, f"JavaScript errors in the pages: {errors}"


class LiveServer:
    """The app on a fixed port and database, which can be stopped and started.

    A "restart" builds a fresh app (as a new process would) on the same port
    and the same SQLite file. ``start(listen=False)`` runs the app without
    opening the port, and ``side_door()`` opens a second, private port, so a
    test can act on the restarted server before the pages can reach it.
    """

    def __init__(self, db: str, port: int) -> None:
        self.db = db
        self.port = port
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self, *, listen: bool = True) -> None:
        assert self.runner is None, "already running"
        config = Config(host=HOST, port=self.port, db=self.db, rate_limit=0)
        app = create_app(config)
        tutorial = TUTORIAL.read_text()

        async def tutorial_page(_: web.Request) -> web.Response:
            return web.Response(text=tutorial, content_type="text/html")

        app.router.add_get("/tutorial", tutorial_page)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        if listen:
            await self.listen()

    async def listen(self) -> None:
        assert self.runner is not None
        await web.TCPSite(self.runner, HOST, self.port).start()

    async def side_door(self) -> str:
        assert self.runner is not None
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()
        return f"http://{HOST}:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()


@pytest.fixture
async def live_server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    server = LiveServer(str(tmp_path / "chat.db"), free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
