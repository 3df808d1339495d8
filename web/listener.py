"""Accepting TCP connections under per-address bounds (``python app.py``).

aiohttp's own sites hand every accepted connection to the app, however many
one address opens, and say nothing when ``accept`` fails for want of file
descriptors (uvloop closes such connections silently). This site accepts
them itself: an address over ``--max-handshakes-per-address`` connections
that have not sent a request yet, or over its share of all connections,
gets a 429 and is closed at once; running out of descriptors is logged once
and shown on ``/readyz``. Proxies in ``--trusted-proxies`` are exempt: their
clients are bounded on the doors, by the address the proxy forwards.

Each connection's first request head is read here: a WebSocket upgrade
that the app serves itself (Engine.IO's, see :meth:`events.engine.Engine.
upgrade`) is handed to it and never becomes an aiohttp request; anything
else goes to aiohttp unchanged. A connection that does not complete a
request head within ``--handshake-timeout`` is closed (by aiohttp's
keep-alive timer, which ``create_app`` sets to that value, once aiohttp has
it).
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
from typing import Any, cast

import orjson
from aiohttp import web

from chat.rules import ChatError
from plumbing import upgrade
from plumbing.proxies import PROXIES, TrustedProxies
from web.keys import BOUNDS, UPGRADES

log = logging.getLogger(__name__)
RETRY = 0.25
"""Seconds between attempts to accept while out of file descriptors."""
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Connection(asyncio.Protocol):
    """One accepted connection: counted against its address until it closes
    (``counted``: unless from a trusted proxy), and as opening until the head
    of its first request. That head is read here: a WebSocket upgrade the app
    serves itself (:data:`~web.keys.UPGRADES`) is handed to it, and aiohttp
    never sees the connection; anything else goes to aiohttp as it came."""

    __slots__ = (
        "_site",
        "_address",
        "_counted",
        "_opening",
        "_inner",
        "_transport",
        "_head",
        "_timer",
    )

    def __init__(self, site: GuardedSite, address: str, counted: bool) -> None:
        self._site = site
        self._address = address
        self._counted = counted
        self._opening = True
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._head = b""
        """The first request's head, as far as it has come."""
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        if self._site.upgrades is None:
            self._hand_over(b"")
        else:
            # What aiohttp's keep-alive timer does for the connections it has.
            self._timer = asyncio.get_running_loop().call_later(
                self._site.bounds.handshake_timeout, transport.close
            )

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is not None:
            inner.data_received(data)
            return
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > upgrade.MAX_HEAD:
                self._hand_over(head)  # aiohttp refuses it
            else:
                self._head = head
            return
        self._opened()
        upgrades = self._site.upgrades
        parsed = upgrade.parse(head[:end], self._address)
        taker = upgrades(parsed) if upgrades is not None and parsed else None
        if taker is None:
            self._hand_over(head)
            return
        self._stop_timer()
        self._head = b""
        self._inner = taker
        assert self._transport is not None
        taker.connection_made(self._transport)
        if len(head) > end + 4:
            taker.data_received(head[end + 4 :])

    def _hand_over(self, data: bytes) -> None:
        """aiohttp takes the connection (its keep-alive timer bounds how long
        it may take to finish a request: --handshake-timeout)."""
        self._stop_timer()
        self._head = b""
        inner = self._inner = self._site.server()
        inner.connection_made(self._transport)  # type: ignore[arg-type]
        if data:
            inner.data_received(data)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _opened(self) -> None:
        if self._opening:
            self._opening = False
            if self._counted:
                self._site.bounds.handshakes.give(self._address)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.release()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def release(self) -> None:
        self._opened()
        if self._counted:
            self._counted = False
            self._site.bounds.tcp.give(self._address)


def _same(protocol: asyncio.Protocol) -> asyncio.Protocol:
    return protocol


def _refuse(sock: socket.socket, error: ChatError) -> None:
    """A 429 the client can read, written before it has asked anything."""
    body = orjson.dumps({"error": error.as_dict()})
    answer = upgrade.refusal(
        "429 Too Many Requests", body, "application/json", "Retry-After: 5\r\n"
    )
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(answer)
        sock.shutdown(socket.SHUT_WR)
    sock.close()


class GuardedSite(web.BaseSite):
    """A TCP site that admits connections by the bounds of ``app[BOUNDS]``."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: bound already (a test's, on a free port), else one is."""
        super().__init__(runner)
        self._host, self._port = host, port
        self._sock = sock
        self.bounds = runner.app[BOUNDS]
        self.upgrades = runner.app.get(UPGRADES)
        self.server: Callable[[], asyncio.Protocol] = runner.server  # type: ignore[assignment]
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
        listener = self._sock
        if listener is None:
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
        fds = self.bounds.fds
        while True:
            try:
                try:  # a burst: connections already waiting, no wakeup needed
                    sock, peer = listener.accept()
                except BlockingIOError:
                    sock, peer = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    fds.hit(exc)
                    await asyncio.sleep(RETRY)
                # Otherwise the client gave up before we took it: go on.
                continue
            fds.cleared()
            # Small frames go out at once (aiohttp does this for its own).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
                protocol.release()

    def _admit(self, sock: socket.socket, address: str) -> _Connection | None:
        """The connection's protocol, or None: refused."""
        if self._proxies.trusts(address):
            return _Connection(self, address, counted=False)
        bounds = self.bounds
        for taken, counter in enumerate((bounds.tcp, bounds.handshakes)):
            if not counter.take(address):
                if taken:
                    bounds.tcp.give(address)
                _refuse(sock, counter.refusal())
                return None
        return _Connection(self, address, counted=True)


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
