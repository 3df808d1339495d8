from __future__ import annotations

import asyncio
import dataclasses
import gc
import subprocess
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from aiohttp.test_utils import TestServer

from app import create_app
from config import Config
from store.sqlite import SQLiteStore
from tests.helpers import CI, ServerFactory, SioClient, need_chattr, url_of
from tests.listening import ListeningServer
from tests.nginx_server import Nginx
from tests.redis_server import RedisServer
from tests.server_process import ServerProcess, StartProcess


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Under CI=true a skipped test is a failed one."""
    report = yield
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true: {report.longrepr}"
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Close SQLite connections a failed test left open.

    Each aiosqlite connection runs a thread that is not a daemon: one left
    open keeps the interpreter from exiting after the results are printed
    (pytest-timeout times tests, not the exit).
    """
    left = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, aiosqlite.Connection) and obj._connection is not None
    ]
    if not left:
        return

    async def close_all() -> None:
        for connection in left:
            await connection.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asyncio.run(close_all())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"closed {len(left)} SQLite connection(s) left open")


@pytest.fixture
async def sqlite_store() -> AsyncIterator[Callable[..., Awaitable[SQLiteStore]]]:
    """``await sqlite_store(path, days=0, cap=0)``: an opened SQLiteStore,
    closed at teardown whether the test passed or not."""
    opened: list[SQLiteStore] = []

    async def open_store(
        path: Path | str, days: float = 0, cap: int = 0, **kw: Any
    ) -> SQLiteStore:
        store = SQLiteStore(str(path), retention_days=days, room_cap=cap, **kw)
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


@pytest.fixture
def output_dir() -> Path:
    """Where a test leaves files worth keeping (screenshots): test-output/."""
    path = Path(__file__).resolve().parent.parent / "test-output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[bool, list[Path]], None]]:
    """``immutable(True, files)``: chattr +i, files nobody may write, root
    included; ``immutable(False, files)`` undoes it, as does the teardown.

    What a read-only disk does to SQLite (its write fails; SQLite reports an
    I/O error) on a real file system, and unlike ext4 remounted read-only by
    the kernel after an error, it can be undone while the file stays open.
    (``mount -o remount,ro`` is refused while a file is open for writing.)
    """
    program = need_chattr(tmp_path)
    touched: set[Path] = set()

    def set_(on: bool, files: list[Path]) -> None:
        touched.update(files)
        subprocess.run([program, "+i" if on else "-i", *map(str, files)], check=True)

    yield set_
    left = [str(f) for f in touched if f.exists()]
    if left:
        subprocess.run([program, "-i", *left], check=True)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # Recovery off: python-socketio clients cannot recover, and their
    # disconnect() closes the transport before its DISCONNECT is written, so
    # each leave would wait for the window. Recovery's tests turn it on.
    return Config(port=0, db=str(tmp_path / "chat.db"), rate_limit=0, recovery_window=0)


@pytest.fixture
async def make_server(config: Config) -> AsyncIterator[ServerFactory]:
    """Servers served as ``python app.py`` serves (see tests/listening.py)."""
    servers: list[TestServer] = []

    async def make(**changes: Any) -> TestServer:
        app = create_app(dataclasses.replace(config, **changes))
        server = ListeningServer(app, host="127.0.0.1")
        servers.append(server)
        await server.start_server()
        return server

    yield make
    while servers:
        await servers.pop().close()


@pytest.fixture
async def server(make_server: ServerFactory) -> TestServer:
    return await make_server()


@pytest.fixture
def url(server: TestServer) -> str:
    return url_of(server)


@pytest.fixture
async def sio_client(url: str) -> AsyncIterator[Callable[..., Awaitable[SioClient]]]:
    clients: list[SioClient] = []

    async def connect(**kwargs: Any) -> SioClient:
        client = await SioClient().connect(url, **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


@pytest.fixture
async def start_process(tmp_path: Path) -> AsyncIterator[StartProcess]:
    """Starts ``python app.py`` on a database path, with any more flags;
    stopped (by PID) at teardown if still running."""
    started: list[ServerProcess] = []

    async def start(db: Path | str, *flags: str) -> ServerProcess:
        server = ServerProcess(str(db), *flags, log_dir=tmp_path)
        started.append(server)
        return await server.start()

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A real redis-server of the test's own, on a free loopback port."""
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    server.stop()


@pytest.fixture
async def durable_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """The same with an fsynced append-only file: it survives a restart."""
    server = RedisServer(tmp_path, durable=True)
    await server.start()
    yield server
    server.stop()


@pytest.fixture
async def cluster(
    redis_server: RedisServer, make_server: ServerFactory
) -> list[TestServer]:
    """Two app servers sharing ``redis_server``, trusting a local proxy."""
    return [
        await make_server(redis_url=redis_server.url, trusted_proxies="127.0.0.1")
        for _ in range(2)
    ]


@pytest.fixture
async def proxy(
    tmp_path: Path, cluster: list[TestServer]
) -> AsyncIterator[Callable[[str], Awaitable[Nginx]]]:
    """Starts nginx with a config shipped in deploy/ in front of ``cluster``."""
    started: list[Nginx] = []

    async def start(config: str) -> Nginx:
        workdir = tmp_path / f"nginx-{len(started)}"
        workdir.mkdir()
        ports = [server.port for server in cluster if server.port is not None]
        nginx = Nginx(workdir, config, ports)
        await nginx.start()
        started.append(nginx)
        return nginx

    yield start
    for nginx in started:
        nginx.stop()
