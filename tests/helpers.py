"""Shared by the test suites: real clients that record what they receive."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from plumbing.ws_frames import TEXT

CI = os.environ.get("CI", "").lower() == "true"
TIMEOUT = 5.0

T = TypeVar("T")

ServerFactory = Callable[..., Awaitable[TestServer]]
"""The ``make_server`` fixture: an app server of the test's own, with changes
to the test's config as keyword arguments."""


def url_of(server: TestServer) -> str:
    """The base URL of a test server, without a trailing slash."""
    return str(server.make_url("")).rstrip("/")


def need(program: str) -> str:
    """The program's path; skip (fail under CI=true) when it is missing."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed"
        if CI:
            pytest.fail(message + " (CI=true: a missing tool is a failure)")
        pytest.skip(message)
    return path


async def eventually(
    cond: Callable[[], T | Awaitable[T]],
    timeout: float = TIMEOUT,
    every: float = 0.05,
) -> T:
    """Wait until ``cond()`` returns something true, and return that.

    ``cond`` may be a function or a coroutine function; it is called every
    ``every`` seconds. AssertionError when ``timeout`` seconds have passed.
    """
    try:
        async with asyncio.timeout(timeout) as deadline:
            while True:
                result = cond()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return result  # type: ignore[return-value]
                await asyncio.sleep(every)
    except TimeoutError:
        if not deadline.expired():
            raise  # cond's own
        name = getattr(cond, "__qualname__", repr(cond))
        raise AssertionError(f"{name} still false after {timeout} s") from None


class Inbox:
    """Everything one client received, in order, with waiting helpers."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def put(self, event: str, data: Any) -> None:
        async with self._changed:
            self.items.append((event, data))
            self._changed.notify_all()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.items if name == event]

    async def wait(
        self,
        event: str,
        match: Callable[[Any], bool] = lambda _: True,
        timeout: float = TIMEOUT,
    ) -> Any:
        """The first ``event`` so far or to come that ``match``es."""

        def found() -> Any:
            return next((d for d in self.of(event) if match(d)), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
            return found()

    async def quiet(self, event: str, seconds: float = 0.3) -> list[Any]:
        """What arrived of ``event`` after waiting a moment (for negatives)."""
        await asyncio.sleep(seconds)
        return self.of(event)


OFFSET = re.compile(r"^[0-9a-f]{8,}:[0-9]+$")
"""A connection-state recovery offset: ``<epoch>:<id>``."""


class SioClient:
    """A real python-socketio client with an :class:`Inbox`."""

    def __init__(self, **client: Any) -> None:
        """``client``: options for the AsyncClient (``reconnection=True``...)."""
        client.setdefault("reconnection", False)
        self.sio = socketio.AsyncClient(**client)
        self.inbox = Inbox()
        self.offsets: list[str] = []
        """The recovery offsets (a broadcast's last argument), kept apart."""

        async def record(event: str, *args: Any) -> None:
            if len(args) > 1 and isinstance(args[-1], str) and OFFSET.match(args[-1]):
                self.offsets.append(args[-1])
                args = args[:-1]
            await self.inbox.put(event, args[0] if len(args) == 1 else list(args))

        self.sio.on("*", record)

    async def connect(self, url: str, **kwargs: Any) -> SioClient:
        kwargs.setdefault("transports", ["websocket"])
        await self.sio.connect(url, wait_timeout=TIMEOUT, **kwargs)
        return self

    async def call(self, event: str, *data: Any) -> Any:
        return await self.sio.call(
            event, data[0] if len(data) == 1 else data, timeout=TIMEOUT
        )

    async def emit(self, event: str, *data: Any) -> None:
        await self.sio.emit(event, data[0] if len(data) == 1 else data)

    async def join(self, name: str, room: str = "lobby", form: str = "both") -> Any:
        """Join and wait for the ack. ``both``: tests can watch either form."""
        reply = await self.call("join", {"name": name, "room": room, "format": form})
        assert reply["ok"], reply
        return reply


async def raw_socketio(
    http: aiohttp.ClientSession, url: str, **ws_kwargs: Any
) -> aiohttp.ClientWebSocketResponse:
    """A bare Engine.IO WebSocket, connected to Socket.IO's main namespace.

    Checks the server's OPEN ("0{...}") and CONNECT ("40...") replies;
    ``ws_kwargs`` go to ``ws_connect`` (``autoping=False``, say).
    """
    ws = await http.ws_connect(
        f"{url}/socket.io/?EIO=4&transport=websocket", **ws_kwargs
    )
    opened = await ws.receive_str(timeout=TIMEOUT)
    assert opened.startswith("0{"), opened
    await ws.send_str("40")
    connected = await ws.receive_str(timeout=TIMEOUT)
    assert connected.startswith("40"), connected
    return ws


async def polling_session(http: aiohttp.ClientSession, url: str) -> str:
    """A new Engine.IO long-polling session connected to Socket.IO's main
    namespace; its endpoint (with ``sid``) for further GETs and POSTs."""
    endpoint = f"{url}/socket.io/?EIO=4&transport=polling"
    async with http.get(endpoint) as resp:
        opened = await resp.text()
    assert opened.startswith("0{"), opened  # Engine.IO's OPEN packet
    endpoint += f"&sid={json.loads(opened[1:])['sid']}"
    async with http.post(endpoint, data="40") as resp:
        assert resp.status == 200
    async with http.get(endpoint) as resp:
        assert (await resp.text()).startswith("40")
    return endpoint


async def next_frame(
    ws: aiohttp.ClientWebSocketResponse, kind: str, **match: Any
) -> dict[str, Any]:
    """The next plain-WebSocket (/ws) frame of ``kind`` whose fields equal
    ``match``; earlier frames are skipped."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await ws.receive_json()
            if frame.get("type") == kind and all(
                frame.get(k) == v for k, v in match.items()
            ):
                return frame


async def api_session(
    http: aiohttp.ClientSession, base: str, name: str, **extra: Any
) -> dict[str, str]:
    """POST /api/session as ``name`` (201, or fail); its Authorization header."""
    async with http.post(f"{base}/api/session", json={"name": name, **extra}) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    return {"Authorization": f"Bearer {body['token']}"}


class StuckReader:
    """A WebSocket client that says its piece, then never reads again.

    Its receive buffer is tiny, so what the server sends it piles up on the
    server's side: a phone whose app was frozen, a reader on a dead link.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, url: str, path: str, *frames: str) -> StuckReader:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        head = b""
        async with asyncio.timeout(TIMEOUT):
            while b"\r\n\r\n" not in head:
                head += await loop.sock_recv(sock, 1)  # not a byte past the head
        assert head.startswith(b"HTTP/1.1 101"), head
        for text in frames:
            await loop.sock_sendall(sock, masked_frame(text.encode()))
        return cls(sock)

    def close(self) -> None:
        self.sock.close()


def masked_frame(
    payload: bytes, opcode: int = TEXT, *, fin: bool = True, rsv: int = 0
) -> bytes:
    """A client's frame, text by default (RFC 6455 5.3: clients mask)."""
    mask = os.urandom(4)
    size = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (127.0.0.2: another
    machine, as far as a server on loopback can tell)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def send_until_cancelled(
    client: SioClient, prefix: str, acked: dict[str, int]
) -> None:
    """Post ``prefix-0``, ``prefix-1``… with acks until the server goes away;
    ``acked`` maps each acknowledged text to its id."""
    for n in range(100_000):  # bounded; cancelled or cut off long before
        text = f"{prefix}-{n}"
        try:
            reply = await client.sio.call("message", text, timeout=2.0)
        except Exception:
            return  # the server died under this call: it was not acked
        if not reply["ok"]:
            return
        acked[text] = reply["id"]


def need_chattr(tmp_path: Path) -> str:
    """chattr, once shown to make a file immutable here (root included)."""
    program = need("chattr")
    probe = tmp_path / "chattr-probe"
    probe.touch()
    done = subprocess.run([program, "+i", str(probe)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {done.stderr.decode().strip()}")
    subprocess.run([program, "-i", str(probe)], check=True)
    return program


def remove_database(path: Path) -> None:
    """Remove an SQLite database with its -wal and -shm files."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink()


class Daemon:
    """A server process of a test's own: started, awaited on its port, and
    ended by its PID."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    async def launch(self, argv: list[str], what: str) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self.proc

        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        try:
            await eventually(listening, timeout=5.0)
        except AssertionError:
            raise RuntimeError(f"{what} did not start in 5 s") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def slow_commits(monkeypatch: pytest.MonkeyPatch, app: Any, seconds: float) -> None:
    """An injected slow disk: every commit of ``app``'s store waits first."""
    from web.keys import SERVICE

    store = app[SERVICE].store
    append_many = store.append_many

    async def slow(batch: Any) -> Any:
        await asyncio.sleep(seconds)
        return await append_many(batch)

    monkeypatch.setattr(store, "append_many", slow)
