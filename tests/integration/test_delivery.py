"""The delivery path: nothing lost, one write per recipient, bounded buffers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chat.models import NewMessage
from tests.helpers import (
    TIMEOUT,
    ServerFactory,
    SioClient,
    StuckReader,
    polling_session,
    raw_socketio,
    url_of,
)
from web.keys import SERVICE, WS_DOOR

NOW = int(time.time() * 1000)  # not 0: the retention sweep at start takes those


async def joined(url: str, name: str, **kwargs: Any) -> SioClient:
    client = await SioClient().connect(url, **kwargs)
    await client.join(name)
    return client


async def chat_ids(client: SioClient, last: int, timeout: float = 20) -> list[int]:
    await client.inbox.wait("chat", lambda m: m["id"] == last, timeout=timeout)
    return [m["id"] for m in client.inbox.of("chat")]


async def open_polling_reader(url: str, http: aiohttp.ClientSession) -> None:
    """An Engine.IO long-polling client that joins, then never polls again."""
    endpoint = await polling_session(http, url)
    async with http.post(endpoint, data='42["join","stuck"]') as resp:
        assert resp.status == 200


@pytest.mark.parametrize("kind", ["websocket", "polling", "plain"])
async def test_a_reader_that_stops_is_dropped_and_nobody_else_misses_a_thing(
    make_server: ServerFactory, kind: str
) -> None:
    server = await make_server(max_unsent=64 * 1024)
    url = url_of(server)
    watcher = await joined(url, "watcher")
    other = await joined(url, "other")
    stuck: StuckReader | None = None
    async with aiohttp.ClientSession() as http:
        if kind == "websocket":
            join = '42["join","stuck"]'
            stuck = await StuckReader.open(
                url, "/socket.io/?EIO=4&transport=websocket", "40", join
            )
        elif kind == "polling":
            await open_polling_reader(url, http)
        else:
            stuck = await StuckReader.open(url, "/ws", '{"type":"join","name":"stuck"}')
        await watcher.inbox.wait("join", lambda n: n == "stuck")
        talker = await joined(url, "talker")
        text = "x" * 1500
        count = 1000  # 1.5 MB for a reader that takes none of it
        for i in range(count):
            await talker.emit("message", f"{i} {text}")
            if i % 50 == 49:  # a busy room rather than one burst
                await talker.inbox.wait("chat", lambda m, i=i: m["id"] == i + 1)
        assert await watcher.inbox.wait("leave", lambda n: n == "stuck", timeout=20)
        for client in (watcher, other, talker):
            assert await chat_ids(client, count) == list(range(1, count + 1))
    if stuck is not None:
        # Its connection is cut within the grace, which frees its buffer.
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT):
            try:
                while await loop.sock_recv(stuck.sock, 65536):
                    pass
            except ConnectionResetError:
                pass
        stuck.close()
    registry = server.app[SERVICE].stats.registry
    assert registry.get_sample_value("chat_slow_client_drops_total") == 1
    assert await server.app[SERVICE].directory.names("lobby") == (
        "watcher",
        "other",
        "talker",
    )


async def test_a_client_gone_silent_costs_nobody_their_copy(
    make_server: ServerFactory,
) -> None:
    """A session that stops answering pings times out in the middle of
    broadcasts; everyone after it in the room still gets every message."""
    server = await make_server(ping_interval=0.3, ping_timeout=0.3)
    url = url_of(server)
    async with aiohttp.ClientSession() as http:
        silent = await raw_socketio(http, url, autoping=False)
        await silent.send_str('42["join","silent"]')  # first in the room

        async def read_but_never_pong() -> None:
            while not (await silent.receive()).type.name.startswith("CLOS"):
                pass

        reading = asyncio.create_task(read_but_never_pong())
        others = [await joined(url, f"user{i}") for i in range(5)]
        sent = 0
        deadline = time.monotonic() + 1.5  # well past the silent one's timeout
        while time.monotonic() < deadline:  # busy: a broadcast meets the timeout
            sent += 1
            assert (await others[0].call("message", f"m{sent}"))["ok"]
        assert await others[-1].inbox.wait("leave", lambda n: n == "silent")
        for client in others:
            assert await chat_ids(client, sent) == list(range(1, sent + 1))
        reading.cancel()
        await silent.close()


@pytest.mark.parametrize("door", ["socket.io", "plain"])
async def test_a_catchup_bigger_than_the_bound_arrives_whole(
    make_server: ServerFactory, door: str
) -> None:
    server = await make_server(max_unsent=16 * 1024, history=50)
    url = url_of(server)
    missed = [NewMessage("lobby", "old", f"{i} " + "y" * 200, NOW) for i in range(3000)]
    await server.app[SERVICE].store.append_many(missed)  # ~700 KB to catch up on
    talker = await joined(url, "talker")
    if door == "socket.io":
        back = await SioClient().connect(url, auth={"name": "back", "after": 0})
        history = await back.inbox.wait("history")
        assert history["catchup"] and len(history["messages"]) == 3000
        assert (await talker.call("message", "live"))["ok"]
        assert (await back.inbox.wait("chat"))["id"] == 3001
        await back.sio.disconnect()
        return
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "back", "after": 0})
        ids = []
        async with asyncio.timeout(TIMEOUT):
            while len(ids) < 3001:
                frame = await ws.receive_json()
                if frame["type"] == "usermsg":
                    ids.append(frame["id"])
                    if len(ids) == 3000:
                        assert (await talker.call("message", "live"))["ok"]
        assert ids == list(range(1, 3002))
        await ws.close()


@pytest.mark.parametrize(
    "path, join",
    [
        ("/socket.io/?EIO=4&transport=websocket", '40{"name":"back","after":0}'),
        ("/ws", '{"type":"join","name":"back","after":0}'),
    ],
    ids=["socket.io", "plain"],
)
async def test_a_catchup_not_yet_read_does_not_count_as_slowness(
    make_server: ServerFactory, path: str, join: str
) -> None:
    """A reader that comes back to 16 times --max-unsent of catch-up and
    does not read for a moment, while the room goes on (each line written to
    it measures what it left unsent), keeps its connection."""
    server = await make_server(max_unsent=4096)
    url = url_of(server)
    missed = [NewMessage("lobby", "old", f"{i} " + "y" * 200, NOW) for i in range(300)]
    await server.app[SERVICE].store.append_many(missed)
    talker = await joined(url, "talker")
    back = await StuckReader.open(url, path, join)
    try:
        await talker.inbox.wait("join", lambda n: n == "back")  # welcomed
        for i in range(4):  # 1 KB: past an eighth of the bound, within it
            assert (await talker.call("message", f"live{i} " + "z" * 200))["ok"]
        received = b""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT):
            while b"live3" not in received:
                chunk = await loop.sock_recv(back.sock, 65536)
                assert chunk, "the server closed the connection"
                received += chunk
    finally:
        back.close()
    registry = server.app[SERVICE].stats.registry
    assert registry.get_sample_value("chat_slow_client_drops_total") == 0


async def test_each_client_gets_each_message_once_in_its_form(sio_client) -> None:
    spectator = await sio_client()  # connected, never joined
    tutorial = await sio_client()
    assert (await tutorial.call("join", "tut"))["ok"]  # a bare nickname
    structured = await sio_client()
    assert (await structured.call("join", {"name": "st"}))["ok"]
    both = await sio_client()
    assert (await both.call("join", {"name": "bo", "format": "both"}))["ok"]
    await both.emit("typing", True)
    assert (await structured.call("message", "hello"))["ok"]
    await structured.inbox.wait("chat")
    await asyncio.sleep(0.3)

    def seen(client: SioClient) -> list[str]:
        return [event for event, _ in client.inbox.items if event != "history"]

    assert seen(tutorial) == ["join", "join", "join", "message"]
    assert tutorial.inbox.of("join") == ["tut", "st", "bo"]
    assert tutorial.inbox.of("message") == ["st: hello"]
    assert seen(structured) == ["user_joined", "user_joined", "typing", "chat"]
    assert [u["name"] for u in structured.inbox.of("user_joined")] == ["st", "bo"]
    assert seen(both) == ["join", "user_joined", "message", "chat"]
    # The tutorial's io.emit: a page that has not joined sees the room too.
    assert seen(spectator) == ["join", "join", "join", "message"]


async def test_spectators_see_only_the_default_room(sio_client) -> None:
    spectator = await sio_client()
    structured_spectator = await sio_client(auth={"format": "structured"})
    elsewhere = await sio_client()
    await elsewhere.join("x", room="dev")
    assert (await elsewhere.call("message", "not for the lobby"))["ok"]
    lobby = await sio_client()
    await lobby.join("y")
    assert (await lobby.call("message", "for the lobby"))["ok"]
    assert await spectator.inbox.wait("message") == "y: for the lobby"
    chat = await structured_spectator.inbox.wait("chat")
    assert chat["text"] == "for the lobby"
    assert spectator.inbox.of("message") == ["y: for the lobby"]
    assert spectator.inbox.of("chat") == []
    assert structured_spectator.inbox.of("message") == []


class CountingTransport:
    """Passes everything to the real transport and counts the writes."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_a_committed_group_is_one_write_per_recipient(
    server: TestServer, sio_client
) -> None:
    url = url_of(server)
    readers = [await sio_client(), await sio_client(transports=["websocket"])]
    for i, reader in enumerate(readers):
        await reader.join(f"r{i}")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "plain"})
        await readers[0].inbox.wait("join", lambda n: n == "plain")
        service = server.app[SERVICE]
        sio_door = service.fanout._doors["sio"]
        outlets = [sub.link.outlet for sub in sio_door._subs.values()]  # type: ignore[attr-defined]
        outlets.append(server.app[WS_DOOR]._peers["ws:1"].outlet)
        spies = []
        for outlet in outlets:
            spy = CountingTransport(outlet._transport)
            outlet._transport = spy
            spies.append(spy)
        member = next(iter(service.presence._by_conn))
        commits = service.sequencer.commits
        posted = await asyncio.gather(
            *(service.post(member, f"m{i}") for i in range(20))
        )
        assert [m.id for m in posted] == list(range(1, 21))
        assert service.sequencer.commits == commits + 1  # one group
        assert [spy.writes for spy in spies] == [1] * len(spies)
        for reader in readers:
            assert await chat_ids(reader, 20) == list(range(1, 21))
        await ws.close()


async def test_a_sender_is_answered_only_after_its_line_went_out(
    server: TestServer,
) -> None:
    """Of one connection that is both sender and reader, the wire shows its
    own line broadcast before the ack of the post: when a sender hears "ok",
    every reader has been sent the line."""
    async with aiohttp.ClientSession() as http:
        ws = await raw_socketio(http, url_of(server))
        await ws.send_str('420["join",{"name":"both","format":"structured"}]')
        async with asyncio.timeout(TIMEOUT):
            while not (await ws.receive_str()).startswith("430"):
                pass
            for i in range(1, 21):
                await ws.send_str(f'42{i}["message","m{i}"]')
                broadcast = False
                while True:
                    packet = await ws.receive_str()
                    if packet.startswith('42["chat"'):
                        broadcast = json.loads(packet[2:])[1]["id"] == i
                    elif packet.startswith(f"43{i}["):
                        assert json.loads(packet[2 + len(str(i)) :])[0]["ok"]
                        break
                assert broadcast, f"the ack of m{i} came before its broadcast"
        await ws.close()
