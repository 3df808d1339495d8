"""The Socket.IO Admin UI's /admin namespace (``--admin-password``), spoken
by python-socketio's client as @socket.io/admin-ui 0.5.1 speaks it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from tests.helpers import Inbox, ServerFactory, SioClient, eventually, url_of

PASSWORD = "s3cret"
AUTH = {"username": "admin", "password": PASSWORD}

AdminFactory = Callable[..., Awaitable["Admin"]]


class Admin:
    """What the Admin UI is: one client on /admin, recording every event."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox = Inbox()

        async def record(event: str, *args: Any) -> None:
            await self.inbox.put(event, args[0] if len(args) == 1 else list(args))

        self.sio.on("*", record, namespace="/admin")

        async def refused(data: Any = None) -> None:
            await self.inbox.put("connect_error", data)

        self.sio.on("connect_error", refused, namespace="/admin")

    async def connect(self, url: str, auth: Any = AUTH) -> Admin:
        await self.sio.connect(
            url,
            namespaces=["/admin"],
            auth=auth,
            transports=["websocket"],
            wait_timeout=5,
        )
        return self

    async def emit(self, event: str, *args: Any) -> None:
        await self.sio.emit(event, args, namespace="/admin")

    def socket(self, sid: str) -> dict[str, Any] | None:
        """The socket as the UI would hold it, from all_sockets and the
        updates since."""
        found = None
        for event, data in self.inbox.items:
            if event == "all_sockets":
                found = next((s for s in data if s["id"] == sid), found)
            elif event == "socket_connected" and data[0]["id"] == sid:
                found = data[0]
            elif event == "socket_updated" and found and data["id"] == sid:
                found = {**found, **data}
            elif event == "socket_disconnected" and data[1] == sid:
                found = None
        return found


@pytest.fixture
async def admin_server(make_server: ServerFactory) -> TestServer:
    return await make_server(admin_password=PASSWORD)


@pytest.fixture
async def admin(admin_server: TestServer) -> AsyncIterator[AdminFactory]:
    admins: list[Admin] = []

    async def connect(server: TestServer = admin_server, **kwargs: Any) -> Admin:
        client = Admin()
        admins.append(client)
        return await client.connect(url_of(server), **kwargs)

    yield connect
    for client in admins:
        if client.sio.connected:
            await client.sio.disconnect()


@pytest.fixture
async def chat(
    admin_server: TestServer,
) -> AsyncIterator[Callable[..., Awaitable[SioClient]]]:
    clients: list[SioClient] = []

    async def connect(server: TestServer = admin_server, **kwargs: Any) -> SioClient:
        client = await SioClient().connect(url_of(server), **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


@pytest.mark.parametrize(
    "auth",
    [
        {"username": "admin", "password": "wrong"},
        {"username": "root", "password": PASSWORD},
        {"sessionId": "x"},
        None,
    ],
)
async def test_a_wrong_password_is_refused(admin_server: TestServer, auth: Any) -> None:
    client = Admin()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url_of(admin_server), auth=auth)
    assert client.inbox.of("connect_error") == [{"message": "invalid credentials"}]
    assert client.inbox.of("config") == []


async def test_off_without_a_password(make_server: ServerFactory) -> None:
    server = await make_server()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await Admin().connect(url_of(server))
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url_of(server)}/admin/") as response:
            assert response.status == 404


async def test_sockets_with_rooms_nicknames_and_transports(
    admin: AdminFactory, chat: Callable[..., Awaitable[SioClient]]
) -> None:
    ann = await chat()
    await ann.join("ann", room="kitchen")
    spectator = await chat(transports=["polling"])
    watcher = await admin()
    config = await watcher.inbox.wait("config")
    assert {"DISCONNECT", "LEAVE"} <= set(config["supportedFeatures"])
    sockets = await watcher.inbox.wait("all_sockets")
    by_id = {s["id"]: s for s in sockets}
    ann_seen = by_id[ann.sio.get_sid()]
    assert ann_seen["nsp"] == "/" and ann_seen["transport"] == "websocket"
    assert ann_seen["data"] == {"name": "ann"}
    assert set(ann_seen["rooms"]) == {ann.sio.get_sid(), "kitchen"}
    assert ann_seen["handshake"]["address"] == "127.0.0.1"
    spectator_seen = by_id[spectator.sio.get_sid()]
    assert spectator_seen["transport"] == "polling" and spectator_seen["data"] == {}

    # Live: someone comes and joins, moves, and goes.
    bob = await chat()
    bob_sid = bob.sio.get_sid()
    await watcher.inbox.wait("socket_connected", lambda d: d[0]["id"] == bob_sid)
    await bob.join("bob", room="lobby")
    await watcher.inbox.wait("room_joined", lambda d: d[1:3] == ["lobby", bob_sid])
    assert watcher.socket(bob_sid)["data"] == {"name": "bob"}  # type: ignore[index]
    await bob.join("bob", room="kitchen")
    await watcher.inbox.wait("room_left", lambda d: d[1:3] == ["lobby", bob_sid])
    await watcher.inbox.wait("room_joined", lambda d: d[1:3] == ["kitchen", bob_sid])
    await bob.sio.disconnect()
    gone = await watcher.inbox.wait("socket_disconnected", lambda d: d[1] == bob_sid)
    assert gone[0] == "/"
    assert watcher.socket(bob_sid) is None


async def test_server_stats(
    admin: AdminFactory, chat: Callable[..., Awaitable[SioClient]]
) -> None:
    ann = await chat()
    await ann.join("ann")
    await chat(transports=["polling"])
    watcher = await admin()
    await ann.call("message", "hello")
    stats = await watcher.inbox.wait(
        "server_stats",
        lambda s: any(e["type"] == "packetsIn" for e in s["aggregatedEvents"]),
        timeout=6,
    )
    assert stats["clientsCount"] == 3  # ann, the spectator, the admin
    assert stats["pollingClientsCount"] == 1
    assert stats["serverId"] and stats["hostname"] and stats["pid"]
    namespaces = {n["name"]: n["socketsCount"] for n in stats["namespaces"]}
    assert namespaces == {"/": 2, "/admin": 1}


async def test_disconnect_and_leave_from_the_admin(
    admin: AdminFactory, chat: Callable[..., Awaitable[SioClient]]
) -> None:
    ann, bob = await chat(), await chat()
    await ann.join("ann")
    await bob.join("bob")
    watcher = await admin()
    await watcher.inbox.wait("all_sockets")

    await watcher.emit("leave", "/", "lobby", bob.sio.get_sid())
    left = await ann.inbox.wait("user_left")
    assert left == {"room": "lobby", "name": "bob"}
    assert bob.sio.connected  # it left the room, not the chat
    sid = bob.sio.get_sid()
    await watcher.inbox.wait("room_left", lambda d: d[1:3] == ["lobby", sid])

    await watcher.emit("_disconnect", "/", False, ann.sio.get_sid())
    await eventually(lambda: not ann.sio.connected)
    assert bob.sio.connected


async def test_read_only_watches_only(make_server: ServerFactory) -> None:
    server = await make_server(admin_password=PASSWORD, admin_read_only=True)
    ann = await SioClient().connect(url_of(server))
    await ann.join("ann")
    watcher = await Admin().connect(url_of(server))
    try:
        config = await watcher.inbox.wait("config")
        assert not {"DISCONNECT", "LEAVE"} & set(config["supportedFeatures"])
        await watcher.emit("_disconnect", "/", False, ann.sio.get_sid())
        await watcher.inbox.quiet("socket_disconnected")
        assert ann.sio.connected
    finally:
        await watcher.sio.disconnect()
        await ann.sio.disconnect()


async def test_the_ui_is_served_from_the_package(admin_server: TestServer) -> None:
    base = url_of(admin_server)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/admin/") as response:
            page = await response.text()
            assert response.status == 200
        assert "https://" not in page  # works with no internet
        for asset in ("js/app.0d7d7845.js", "mdi/css/materialdesignicons.min.css"):
            async with http.get(f"{base}/admin/{asset}") as response:
                assert response.status == 200, asset


async def test_with_redis_the_ui_sees_every_process(
    redis_server: Any, make_server: ServerFactory
) -> None:
    a, b = [
        await make_server(redis_url=redis_server.url, admin_password=PASSWORD)
        for _ in range(2)
    ]
    bob = await SioClient().connect(url_of(b))
    watcher = await Admin().connect(url_of(a))
    try:
        sid = bob.sio.get_sid()
        # Already there: the other process answers the UI's arrival.
        await watcher.inbox.wait("socket_connected", lambda d: d[0]["id"] == sid)
        await bob.join("bob", room="attic")
        seen = await watcher.inbox.wait(
            "room_joined", lambda d: d[1:3] == ["attic", sid], timeout=6
        )
        assert seen[0] == "/"

        def servers() -> set[str]:
            return {s["serverId"] for s in watcher.inbox.of("server_stats")}

        await eventually(lambda: len(servers()) == 2, timeout=6)
        await watcher.emit("_disconnect", "/", False, sid)
        await eventually(lambda: not bob.sio.connected)
        await watcher.inbox.wait("socket_disconnected", lambda d: d[1] == sid)
    finally:
        await watcher.sio.disconnect()
        await bob.sio.disconnect()
