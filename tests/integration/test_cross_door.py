"""One conversation, three kinds of client: Socket.IO, plain WebSocket, HTTP."""

from __future__ import annotations

import aiohttp

from tests.helpers import TIMEOUT, SioClient, api_session, next_frame


async def test_every_kind_sends_and_every_kind_receives(sio_client, url: str) -> None:
    sio: SioClient = await sio_client()
    await sio.join("sio")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "ws"})
        auth = await api_session(http, url, "http")
        # Joins arrive as changes; the Socket.IO client sees both newcomers.
        for name in ("ws", "http"):
            await sio.inbox.wait("user_joined", lambda u, n=name: u["name"] == n)

        assert (await sio.call("message", "from sio"))["ok"]
        await ws.send_json({"type": "usermsg", "message": "from ws"})
        await sio.inbox.wait("chat", lambda m: m["text"] == "from ws")
        async with http.post(
            url + "/api/messages", json={"text": "from http"}, headers=auth
        ) as resp:
            assert resp.status == 201

        expected = [
            (1, "sio", "from sio"),
            (2, "ws", "from ws"),
            (3, "http", "from http"),
        ]
        chats = [
            await sio.inbox.wait("chat", lambda m, i=i: m["id"] == i) for i in (1, 2, 3)
        ]
        assert [(m["id"], m["name"], m["text"]) for m in chats] == expected
        assert sio.inbox.of("message") == [
            "sio: from sio",
            "ws: from ws",
            "http: from http",
        ]

        frames = [await next_frame(ws, "usermsg") for _ in expected]
        assert [(f["id"], f["name"], f["message"]) for f in frames] == expected

        async with http.get(url + "/api/messages?after=0") as resp:
            page = await resp.json()
        assert [(m["id"], m["name"], m["text"]) for m in page["messages"]] == expected
        await ws.close()


async def test_nicknames_are_unique_across_doors(sio_client, url: str) -> None:
    sio = await sio_client()
    await sio.join("taken")
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/api/session", json={"name": "TAKEN"}) as resp:
            assert resp.status == 409
        ws = await http.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "taken"})
        frame = await ws.receive_json(timeout=TIMEOUT)
        assert frame["error"]["code"] == "name_taken"
        await ws.close()
