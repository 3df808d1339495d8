"""Accepting TCP connections under per-address bounds (``python app.py``).

aiohttp's own sites hand every accepted connection to the app, however many
one address opens, and say nothing when ``accept`` fails for want of file
descriptors (uvloop closes such connections silently). This site accepts
them itself: an address over ``--max-handshakes-per-address`` connections
that have not sent a request yet, or over its share of all connections,
gets a 429 and is closed at once; running out of descriptors is logged once
and shown on ``/readyz``. Proxies in ``--trusted-proxies`` are exempt: their
clients are bounded on the doors, by the address the proxy forwards.

A connection that does not complete a request within
``--handshake-timeout`` is closed by aiohttp's keep-alive timer, which
``create_app`` sets to that value.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from chat.bounds import Bounds
from chat.rules import ChatError
from plumbing.proxies import PROXIES, TrustedProxies
from web.keys import BOUNDS

log = logging.getLogger(__name__)
RETRY = 0.25
"""Seconds between attempts to accept while out of file descriptors."""
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted against its address
    until it closes, and as opening until the head of its first request."""

    def __init__(self, inner: asyncio.Protocol, bounds: Bounds, address: str):
        self._inner = inner
        self._bounds = bounds
        self._address = address
        self._opening = True
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._opening:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._opened()
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def _opened(self) -> None:
        if self._opening:
            self._opening = False
            self._bounds.handshakes.give(self._address)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.release()
        self._inner.connection_lost(exc)

    def release(self) -> None:
        self._opened()
        self._bounds.tcp.give(self._address)


def _same(protocol: asyncio.Protocol) -> asyncio.Protocol:
    return protocol


def _refuse(sock: socket.socket, error: ChatError) -> None:
    """A 429 the client can read, written before it has asked anything."""
    body = orjson.dumps({"error": error.as_dict()})
    head = (
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
    sock.close()


class GuardedSite(web.BaseSite):
    """A TCP site that admits connections by the bounds of ``app[BOUNDS]``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._bounds = runner.app[BOUNDS]
        self._proxies: TrustedProxies = runner.app[PROXIES]
        self._listener: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            return self._port
        return int(self._listener.getsockname()[1])

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        family, kind, proto, _, where = socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(where)
        listener.listen(self._backlog)
        listener.setblocking(False)
        self._listener = listener
        self._task = asyncio.create_task(self._accept(listener), name="accept")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
        await super().stop()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        fds = self._bounds.fds
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    fds.hit(exc)
                    await asyncio.sleep(RETRY)
                # Otherwise the client gave up before we took it: go on.
                continue
            fds.cleared()
            address = str(peer[0])
            protocol = self._admit(sock, address)
            if protocol is None:
                continue
            try:
                await loop.connect_accepted_socket(
                    functools.partial(_same, protocol), sock
                )
            except OSError:
                sock.close()
                if isinstance(protocol, _Counted):
                    protocol.release()

    def _admit(self, sock: socket.socket, address: str) -> asyncio.Protocol | None:
        """aiohttp's protocol for the connection, or None: refused."""
        server: Callable[[], asyncio.Protocol] = self._runner.server  # type: ignore[assignment]
        if self._proxies.trusts(address):
            return server()
        bounds = self._bounds
        for taken, counter in enumerate((bounds.tcp, bounds.handshakes)):
            if not counter.take(address):
                if taken:
                    bounds.tcp.give(address)
                _refuse(sock, counter.refusal())
                return None
        return _Counted(server(), bounds, address)


def raise_open_files() -> str:
    """The soft open-file limit up to the hard one: each connection is a
    descriptor, and 1,024 (a common default) is a few hundred clients.

    Returns what was done, for the log once the server listens (a start
    that fails says so in one line, and nothing else).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return f"open-file limit: {soft}"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        return f"open-file limit: {soft} (cannot raise it to {hard}: {exc})"
    return f"open-file limit raised from {soft} to {hard}"


async def serve(
    app: web.Application, host: str, port: int, note: str, shutdown_timeout: float
) -> None:
    """Serve ``app`` until cancelled (SIGINT, SIGTERM: see :func:`run`).

    Requests still running ``shutdown_timeout`` seconds into a stop are
    cancelled (after the app's own on_shutdown has ended its sessions).
    """
    runner = web.AppRunner(
        app, access_log=None, handle_signals=True, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port)
        await site.start()
        log.info("listening on %s%s", site.name, f"; {note}" if note else "")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    host: str,
    port: int,
    loop: Any,
    note: str = "",
    shutdown_timeout: float = 60.0,
) -> None:
    """What ``web.run_app`` does, with a :class:`GuardedSite`."""
    asyncio.set_event_loop(loop)
    main = loop.create_task(serve(app, host, port, note, shutdown_timeout))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        loop.run_until_complete(asyncio.gather(main, return_exceptions=True))
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
