"""The tutorial's wire contract with real python-socketio clients."""

from __future__ import annotations

import aiohttp
import pytest

from tests.helpers import SioClient, raw_socketio


async def test_join_and_message_reach_everyone(sio_client) -> None:
    alice: SioClient = await sio_client()
    bob: SioClient = await sio_client(transports=["polling"])
    await alice.emit("join", "alice")  # the tutorial's form: no ack
    assert await alice.inbox.wait("join", lambda u: u == "alice")
    await bob.emit("join", "bob")
    assert await alice.inbox.wait("join", lambda u: u == "bob")
    assert await bob.inbox.wait("join", lambda u: u == "bob")  # sender included

    await bob.emit("message", "你好")
    for client in (alice, bob):
        assert await client.inbox.wait("message", lambda m: m == "bob: 你好")
    # A tutorial client gets each line once, in the tutorial's form only.
    assert await alice.inbox.quiet("chat") == [] and alice.inbox.of("message") == [
        "bob: 你好"
    ]


async def test_structured_clients_get_structured_events(sio_client) -> None:
    alice = await sio_client()
    assert (await alice.call("join", {"name": "alice"}))["ok"]
    assert (await alice.call("message", "你好"))["ok"]
    chat = await alice.inbox.wait("chat")
    assert chat["name"] == "alice" and chat["text"] == "你好" and chat["id"] == 1
    assert chat["room"] == "lobby" and isinstance(chat["ts"], int)
    assert alice.inbox.of("user_joined") == [{"room": "lobby", "name": "alice"}]
    assert alice.inbox.of("message") == [] and alice.inbox.of("join") == []


async def test_acks(sio_client) -> None:
    alice = await sio_client()
    reply = await alice.call("join", "alice")
    assert isinstance(reply.pop("epoch"), str)
    assert reply == {
        "ok": True,
        "name": "alice",
        "room": "lobby",
        "users": ["alice"],
        "last_id": 0,
    }
    first = await alice.call("message", "one")
    second = await alice.call("message", "two")
    assert first["ok"] and (first["id"], second["id"]) == (1, 2)
    assert await alice.call("typing", True) == {"ok": True}


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("join", "", "invalid_name"),
        ("join", "   ", "invalid_name"),
        ("join", 42, "invalid_name"),
        ("join", "x" * 33, "invalid_name"),
        ("join", "a\x07b", "invalid_name"),
        ("join", "bob\u202e", "invalid_name"),  # RIGHT-TO-LEFT OVERRIDE
        ("join", "\u3164", "invalid_name"),  # HANGUL FILLER: looks blank
        ("join", {"name": "a", "room": "no way"}, "invalid_room"),
        ("message", "", "invalid_text"),
        ("message", ["a"], "invalid_text"),
        ("message", "x" * 2001, "invalid_text"),
        ("message", None, "invalid_text"),
        ("message", "\u200d\u200b", "invalid_text"),  # nothing visible
        ("message", "esc\x1b[2J", "invalid_text"),
        ("typing", "yes", "invalid_typing"),
    ],
)
async def test_bad_input_is_answered_and_changes_nothing(
    sio_client, event, payload, code
) -> None:
    watcher = await sio_client()
    await watcher.join("watcher")
    culprit = await sio_client()
    if event != "join":
        await culprit.join("culprit")
    reply = await culprit.call(event, payload)
    assert reply["ok"] is False and reply["error"]["code"] == code
    assert reply["error"]["message"]
    # Without an ack the same error arrives as an event the page can show.
    await culprit.emit(event, payload)
    err = await culprit.inbox.wait("chat_error")
    assert err["code"] == code and err["event"] == event
    # Nothing reached anyone, and the server still serves both of them: a
    # refused join left the culprit unjoined, anything else left it joined.
    assert await watcher.inbox.quiet("message") == []
    after = await culprit.call("message", "still here")
    if event == "join":
        assert after["error"]["code"] == "not_joined"
    else:
        assert after["ok"], after
    assert (await watcher.call("message", "me too"))["ok"]


async def test_message_before_join(sio_client) -> None:
    alice = await sio_client()
    watcher = await sio_client()
    await watcher.join("watcher")
    reply = await alice.call("message", "hi")
    assert reply["error"]["code"] == "not_joined"
    assert await watcher.inbox.quiet("chat") == []


async def test_extra_and_missing_arguments(sio_client) -> None:
    alice = await sio_client()
    await alice.sio.emit("join", ("alice", "extra"))
    assert await alice.inbox.wait("join", lambda u: u == "alice")
    reply = await alice.sio.call("message", timeout=5)
    assert reply["error"]["code"] == "invalid_text"


async def test_unknown_event_and_garbage_packet_leave_others_alone(
    sio_client, url: str
) -> None:
    alice = await sio_client()
    await alice.join("alice")
    await alice.emit("no-such-event", {"x": 1})
    # A raw Engine.IO client sending a malformed Socket.IO packet.
    async with aiohttp.ClientSession() as http:
        ws = await raw_socketio(http, url)
        for junk in (
            '42["message"',
            "42{{{",
            "4Z",
            "42[1,2]",
            "45-",
            "42" + "[" * 5000,
        ):
            await ws.send_str(junk)
        await ws.close()
    reply = await alice.call("message", "fine")
    assert reply["ok"]


async def test_same_nickname_twice(sio_client) -> None:
    a = await sio_client()
    b = await sio_client()
    await a.join("Alice")
    reply = await b.call("join", "alice")
    assert reply["error"]["code"] == "name_taken"
    assert reply["error"]["suggestion"] == "alice2"


async def test_client_bundle_and_page(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ("socket.io.js", "socket.io.min.js", "socket.io.js.map"):
            async with http.get(f"{url}/socket.io/{name}") as resp:
                assert resp.status == 200
                body = await resp.read()
                assert len(body) > 10_000
                etag = resp.headers["ETag"]
                assert resp.headers["Last-Modified"]
            async with http.get(
                f"{url}/socket.io/{name}", headers={"If-None-Match": etag}
            ) as resp:
                assert resp.status == 304
        async with http.get(f"{url}/socket.io/socket.io.js") as resp:
            assert "javascript" in resp.headers["Content-Type"]
        async with http.get(f"{url}/socket.io/../app.py") as resp:
            assert resp.status == 404
        async with http.get(f"{url}/socket.io/socket.io.esm.min.js.bak") as resp:
            assert resp.status == 404
        async with http.get(f"{url}/") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert '<script src="/socket.io/socket.io.js">' in page
            assert 'data-room="lobby"' in page
        async with http.get(f"{url}/r/dev-ops") as resp:
            assert 'data-room="dev-ops"' in await resp.text()
        async with http.get(f"{url}/?room=<script>") as resp:
            assert resp.status == 400


async def test_cross_origin_clients_are_allowed(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{url}/socket.io/?EIO=4&transport=polling",
            headers={"Origin": "https://other.example"},
        ) as resp:
            assert resp.status == 200
            assert (
                resp.headers["Access-Control-Allow-Origin"] == "https://other.example"
            )


async def test_cross_origin_can_be_restricted(make_server) -> None:
    server = await make_server(cors_origins="https://ok.example")
    url = str(server.make_url("/socket.io/?EIO=4&transport=polling"))
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 400
        async with http.get(url, headers={"Origin": "https://ok.example"}) as resp:
            assert resp.status == 200


async def test_one_senders_messages_keep_their_order(sio_client) -> None:
    alice = await sio_client()
    await alice.join("alice")
    await alice.emit("typing", True)  # the first post also clears typing
    for i in range(20):
        await alice.emit("message", str(i))
    chats = [
        await alice.inbox.wait("chat", lambda m, i=i: m["id"] == i + 1)
        for i in range(20)
    ]
    assert [m["text"] for m in chats] == [str(i) for i in range(20)]


@pytest.mark.parametrize("path", ["/socket.io/?EIO=4&transport=websocket", "/ws"])
async def test_websockets_decline_per_message_deflate(url: str, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + path, compress=15)
        assert ws.compress == 0
        await ws.close()


async def test_a_flood_of_bad_packets_costs_a_few_log_lines_and_the_connection(
    sio_client, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await sio_client()
    await alice.join("alice")
    async with aiohttp.ClientSession() as http:
        ws = await raw_socketio(http, url)
        for _ in range(10_000):
            try:
                await ws.send_str('42["message"')
            except ConnectionResetError:
                break
            if ws.closed:
                break
        errors = []
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            errors.append(msg.data)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert 1 <= len(errors) <= 10 and '"code":"bad_packet"' in errors[0]
    ours = [r for r in caplog.records if r.name.startswith(("events", "engineio"))]
    assert len(ours) <= 3, [r.getMessage() for r in ours]
    assert not any(r.exc_info for r in caplog.records)  # no tracebacks
    assert (await alice.call("message", "still here"))["ok"]


async def test_binary_events_are_refused_clearly(sio_client, url: str) -> None:
    watcher = await sio_client()
    await watcher.join("watcher")
    async with aiohttp.ClientSession() as http:
        ws = await raw_socketio(http, url)
        await ws.send_str('451-["message",{"_placeholder":true,"num":0}]')
        refusal = await ws.receive_str(timeout=5)
        assert refusal.startswith('42["chat_error"')
        assert '"code":"bad_packet"' in refusal and "Binary" in refusal
        # The connection is not left waiting for an attachment: it still chats.
        await ws.send_str('420["join","raw"]')
        while not (reply := await ws.receive_str(timeout=5)).startswith("430"):
            pass
        assert '"ok":true' in reply
        await ws.close()
    assert await watcher.inbox.wait("join", lambda n: n == "raw")


async def test_an_acked_error_is_not_also_sent_as_chat_error(sio_client) -> None:
    """What the ack-detecting hook in events/engine.py exists for."""
    alice = await sio_client()
    await alice.join("alice")
    reply = await alice.call("message", "")
    assert reply["error"]["code"] == "invalid_text"
    await alice.emit("typing", "not a bool")  # the same kind of error, no ack
    assert (await alice.inbox.wait("chat_error"))["event"] == "typing"
    assert [e["event"] for e in await alice.inbox.quiet("chat_error")] == ["typing"]


async def test_history_pages_back_before_an_id(sio_client) -> None:
    ann: SioClient = await sio_client()
    await ann.join("ann", room="books")
    for i in range(1, 8):
        assert (await ann.call("message", f"m{i}"))["ok"]

    async def page(**request: object) -> list[int]:
        reply = await ann.call("history", request)
        assert reply["ok"] and reply["room"] == "books", reply
        assert reply["last_id"] == 7 and reply["epoch"]
        return [m["id"] for m in reply["messages"]]

    # Page by page, back to id 1: the newest `limit` before the oldest held.
    assert await page(limit=3) == [5, 6, 7]
    assert await page(before=5, limit=3) == [2, 3, 4]
    assert await page(before=2, limit=3) == [1]
    assert await page(before=1, limit=3) == []
    assert await page(before=6) == [1, 2, 3, 4, 5]
    assert await page(after=5) == [6, 7]
    # A spectator reads the lobby unless it names a room.
    other: SioClient = await sio_client()
    reply = await other.call("history", {"room": "books", "before": 3})
    assert [m["text"] for m in reply["messages"]] == ["m1", "m2"]
    assert (await other.call("history", {}))["room"] == "lobby"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"before": -1}, "invalid_before"),
        ({"before": "3"}, "invalid_before"),
        ({"before": 1.5}, "invalid_before"),
        ({"before": True}, "invalid_before"),
        ({"before": 2**63}, "invalid_before"),
        ({"after": -1}, "invalid_after"),
        ({"after": 2, "before": 5}, "invalid_before"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 501}, "invalid_limit"),
        ({"room": "a b"}, "invalid_room"),
        ("books", "invalid_history"),
    ],
)
async def test_bad_history_requests_are_refused(
    sio_client, request_: object, code: str
) -> None:
    client: SioClient = await sio_client()
    reply = await client.call("history", request_)
    assert reply["ok"] is False and reply["error"]["code"] == code, reply
    assert reply["error"]["message"]
    # Without an ack, the same error comes as chat_error.
    await client.emit("history", request_)
    error = await client.inbox.wait("chat_error")
    assert error["event"] == "history" and error["code"] == code
