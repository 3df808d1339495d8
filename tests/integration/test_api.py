"""The HTTP API for polling clients, with aiohttp's real client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.helpers import api_session, url_of
from web.keys import HTTP_DOOR, SERVICE


@pytest.fixture
async def http(url: str):
    async with aiohttp.ClientSession(base_url=url + "/") as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any):
    async with http.request(method, path.lstrip("/"), **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body, resp.headers


async def test_post_and_read(http) -> None:
    status, body, _ = await call(http, "POST", "/api/session", json={"name": "poller"})
    assert status == 201
    assert (
        body["name"] == "poller"
        and body["users"] == ["poller"]
        and body["last_id"] == 0
    )
    auth = {"Authorization": f"Bearer {body['token']}"}
    for text in ("one", "two", "three"):
        status, posted, _ = await call(
            http, "POST", "/api/messages", json={"text": text}, headers=auth
        )
        assert status == 201
    assert posted["message"]["id"] == 3 and posted["message"]["name"] == "poller"
    status, page, _ = await call(http, "GET", "/api/messages?after=1")
    assert status == 200
    assert [m["text"] for m in page["messages"]] == ["two", "three"]
    assert page["last_id"] == 3
    _, page, _ = await call(http, "GET", "/api/messages?after=0&limit=1")
    assert [m["id"] for m in page["messages"]] == [1]
    _, page, _ = await call(http, "GET", "/api/messages")
    assert len(page["messages"]) == 3
    _, users, _ = await call(http, "GET", "/api/users")
    assert users == {"room": "lobby", "users": ["poller"]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}],
)
async def test_posting_needs_a_good_token(http, headers) -> None:
    status, body, resp_headers = await call(
        http, "POST", "/api/messages", json={"text": "hi"}, headers=headers
    )
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert resp_headers["WWW-Authenticate"] == "Bearer"
    _, page, _ = await call(http, "GET", "/api/messages")
    assert page["messages"] == []


async def test_bad_bodies_and_rules(http, url: str) -> None:
    auth = await api_session(http, url, "ann")
    json_type = {"Content-Type": "application/json"}
    cases = [
        ({"data": b"{nope", "headers": auth | json_type}, 400, "bad_json"),
        ({"data": b'{"text": "hi"}'}, 415, "unsupported_media_type"),
        ({"json": ["text"]}, 400, "bad_json"),
        ({"json": {"text": ""}}, 422, "invalid_text"),
        ({"json": {"text": 7}}, 422, "invalid_text"),
        ({"json": {"text": "x" * 2001}}, 422, "invalid_text"),
    ]
    for kwargs, want_status, want_code in cases:
        kwargs.setdefault("headers", auth)
        status, body, _ = await call(http, "POST", "/api/messages", **kwargs)
        assert (status, body["error"]["code"]) == (want_status, want_code), kwargs
        assert body["error"]["message"]
    status, body, _ = await call(
        http,
        "POST",
        "/api/messages",
        data=b'{"text": "\xff"}',
        headers=auth | json_type,
    )
    assert (status, body["error"]["message"]) == (400, "The body is not valid UTF-8.")
    status, body, _ = await call(http, "POST", "/api/session", json={"name": " "})
    assert (status, body["error"]["code"]) == (422, "invalid_name")
    status, body, _ = await call(http, "POST", "/api/session", json={"name": "Ann"})
    assert (status, body["error"]["code"]) == (409, "name_taken")
    assert body["error"]["suggestion"] == "Ann2"
    for query in ("after=-1", "after=x", "limit=abc", "wait=31", "room=a%20b"):
        status, body, _ = await call(http, "GET", f"/api/messages?{query}")
        assert status in (400, 422) and body["error"]["code"], query
    status, body, _ = await call(http, "GET", "/api/nothing")
    assert (status, body["error"]["code"]) == (404, "not_found")
    _, page, _ = await call(http, "GET", "/api/messages")
    assert page["messages"] == []


async def test_body_too_large(http, url: str) -> None:
    auth = await api_session(http, url, "big")
    headers = auth | {"Content-Type": "application/json"}
    status, body, _ = await call(
        http, "POST", "/api/messages", data=b"x" * 100_000, headers=headers
    )
    assert (status, body["error"]["code"]) == (413, "too_large")


async def test_long_poll_wakes_on_a_websocket_message(http, url: str) -> None:
    poll = asyncio.create_task(call(http, "GET", "/api/messages?after=0&wait=10"))
    await asyncio.sleep(0.2)
    assert not poll.done()
    async with aiohttp.ClientSession() as other:
        ws = await other.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "wsuser"})
        started = asyncio.get_running_loop().time()
        await ws.send_json({"type": "usermsg", "message": "wake up"})
        status, page, _ = await asyncio.wait_for(poll, 5)
        assert asyncio.get_running_loop().time() - started < 2
        await ws.close()
    assert status == 200 and [m["text"] for m in page["messages"]] == ["wake up"]


async def test_long_poll_times_out_empty(http) -> None:
    status, page, _ = await call(http, "GET", "/api/messages?after=0&wait=0.3")
    assert status == 200 and page == {"messages": [], "last_id": 0}


async def test_session_expires_and_frees_the_name(make_server) -> None:
    server = await make_server(session_ttl=0.4)
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as http:
        auth = await api_session(http, url_of(server), "sleepy")
        status, _, _ = await call(
            http, "POST", "/api/messages", json={"text": "a"}, headers=auth
        )
        assert status == 201
        await asyncio.sleep(1.0)
        status, body, _ = await call(
            http, "POST", "/api/messages", json={"text": "b"}, headers=auth
        )
        assert status == 401
        await api_session(http, url_of(server), "sleepy")  # the nickname is free


async def test_delete_session_leaves(http, url: str) -> None:
    auth = await api_session(http, url, "brief")
    status, _, _ = await call(http, "DELETE", "/api/session", headers=auth)
    assert status == 204
    _, users, _ = await call(http, "GET", "/api/users")
    assert users["users"] == []
    status, _, _ = await call(
        http, "POST", "/api/messages", json={"text": "x"}, headers=auth
    )
    assert status == 401


async def test_posting_too_fast_gets_429(make_server) -> None:
    server = await make_server(rate_limit=0.5, rate_burst=2)
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as http:
        auth = await api_session(http, url_of(server), "speedy")
        statuses = []
        for i in range(3):
            status, body, headers = await call(
                http, "POST", "/api/messages", json={"text": str(i)}, headers=auth
            )
            statuses.append(status)
        assert statuses == [201, 201, 429]
        assert body["error"]["code"] == "rate_limited"
        assert int(headers["Retry-After"]) >= 1


async def test_hammering_the_api_gets_429(
    http, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Time stands still, so the outcome does not depend on how fast this
    # machine answers 80 requests: the burst of 60, then refusals.
    monkeypatch.setattr(server.app[SERVICE].limits.buckets, "_clock", lambda: 1000.0)
    statuses = [(await call(http, "GET", "/api/users"))[0] for _ in range(80)]
    assert statuses == [200] * 60 + [429] * 20
    status, _, headers = await call(http, "GET", "/api/users")
    assert status == 429 and int(headers["Retry-After"]) >= 1


async def test_openapi_lists_every_api_route(http, server) -> None:
    status, doc, _ = await call(http, "GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method not in ("HEAD", "*")  # "*": the catch-all for errors
    }
    documented = {
        (path, method) for path, ops in doc["paths"].items() for method in ops
    }
    assert routes == documented


async def test_cors_for_other_frontends(make_server) -> None:
    server = await make_server(cors_origins="https://ok.example")
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as http:
        ok = {"Origin": "https://ok.example"}
        async with http.options(
            "api/messages", headers=ok | {"Access-Control-Request-Method": "POST"}
        ) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://ok.example"
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        async with http.get("api/messages", headers=ok) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://ok.example"
        async with http.post("api/messages", headers=ok, json={"text": "x"}) as resp:
            assert resp.status == 401  # errors carry CORS too, so pages can read them
            assert resp.headers["Access-Control-Allow-Origin"] == "https://ok.example"
        evil = {"Origin": "https://evil.example"}
        async with http.get("api/messages", headers=evil) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.options("api/messages", headers=evil) as resp:
            assert resp.status == 405


async def test_reading_rooms_leaves_nothing_behind(http, server) -> None:
    door = server.app[HTTP_DOOR]
    for i in range(50):  # under the per-address request limit
        wait = "&wait=0.01" if i % 2 else ""
        status, _, _ = await call(http, "GET", f"/api/messages?room=r{i}{wait}")
        assert status == 200
    assert door._listening == {}


@pytest.mark.parametrize("limit", ["0", "501", "-3", "1e9", "x"])
async def test_limit_out_of_range_is_refused(http, limit: str) -> None:
    status, body, _ = await call(http, "GET", f"/api/messages?limit={limit}")
    assert status == 400 and body["error"]["code"] == "bad_query"
    assert "1 to 500" in body["error"]["message"]


async def test_shutdown_answers_long_polls_at_once(make_server) -> None:
    server = await make_server()
    url = str(server.make_url("/api/messages?wait=30"))
    async with aiohttp.ClientSession() as http:
        poll = asyncio.ensure_future(http.get(url))
        await asyncio.sleep(0.3)  # the poll is waiting now
        started = asyncio.get_running_loop().time()
        await server.close()
        async with await poll as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "unavailable"
        assert asyncio.get_running_loop().time() - started < 5


async def test_session_expiry_survives_a_failure(
    make_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await make_server(session_ttl=0.2)
    service = server.app[SERVICE]
    leave = service.leave
    failed: list[str] = []

    async def leave_failing_once(conn: str) -> None:
        if not failed:
            failed.append(conn)
            raise RuntimeError("injected")
        await leave(conn)

    monkeypatch.setattr(service, "leave", leave_failing_once)
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as http:
        for name in ("a", "b"):
            await api_session(http, url_of(server), name)
        await asyncio.sleep(0.6)  # past the TTL and a sweep or two
        for name in ("c", "d"):
            await api_session(http, url_of(server), name)
        await asyncio.sleep(0.6)
    assert failed
    assert await service.directory.names("lobby") in (("a",), ("b",))  # the failed one


async def test_healthz_gives_counts_not_room_names(http, url: str) -> None:
    await api_session(http, url, "someone", room="secret-plans")
    status, health, _ = await call(http, "GET", "/healthz")
    assert status == 200 and health["members"] == 1 and health["rooms"] == 1
    assert "secret-plans" not in str(health)


async def test_reading_back_before_an_id(http, url: str) -> None:
    auth = await api_session(http, url, "ann")
    for i in range(1, 8):
        await call(http, "POST", "/api/messages", json={"text": f"m{i}"}, headers=auth)

    async def page(query: str) -> list[int]:
        status, body, _ = await call(http, "GET", f"/api/messages?{query}")
        assert status == 200 and body["last_id"] == 7, body
        return [m["id"] for m in body["messages"]]

    assert await page("limit=3") == [5, 6, 7]
    assert await page("before=5&limit=3") == [2, 3, 4]
    assert await page("before=2&limit=3") == [1]
    assert await page("before=1&limit=3") == []
    assert await page("before=0") == []
    assert await page("before=7") == [1, 2, 3, 4, 5, 6]
    assert await page("before=99&limit=2") == [6, 7]


@pytest.mark.parametrize(
    "query",
    [
        "before=-1",
        "before=x",
        "before=1.5",
        f"before={2**63}",
        "before=3&after=1",
        "before=3&wait=1",
    ],
)
async def test_bad_before_is_refused_like_after(http, query: str) -> None:
    status, body, _ = await call(http, "GET", f"/api/messages?{query}")
    assert status == 400 and body["error"]["code"] == "bad_query", body
    assert body["error"]["message"]
