"""The HTTP door for polling clients; see docs/api.md.

Errors always look like ``{"error": {"code", "message"}}``: 400 for a body
or query that cannot be read, 401 for a missing, wrong or expired token,
409 for a nickname in use, 422 for a rule broken, 429 (with Retry-After)
for too many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import orjson
from aiohttp import web

from chat.bounds import refusal
from chat.models import Message
from chat.rules import (
    BOTH_BOUNDS,
    MAX_ID,
    PAGE_DEFAULT,
    PAGE_LIMIT,
    UNPAIRED_SURROGATE,
    ChatError,
    check_room,
    not_utf8,
    shutting_down,
    unpaired_surrogate,
)
from chat.sessions import Session
from plumbing import proxies
from plumbing.origin import request_allowed
from web.keys import BOUNDS, CONFIG, HTTP_DOOR, SERVICE
from web.openapi import spec

log = logging.getLogger(__name__)
MAX_WAIT = 30.0
_STATUS = {
    "bad_json": 400,
    "bad_query": 400,
    "unauthorized": 401,
    "not_joined": 401,
    "name_taken": 409,
    "forbidden_origin": 403,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "too_many_connections": 429,
    "store_failed": 503,
    "unavailable": 503,
    "unconfirmed": 504,  # Redis did not answer: it may be stored (not 503's "retry")
}
_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
N = TypeVar("N", int, float)


def json_response(data: Any, status: int = 200, **kw: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", **kw
    )


def error_response(exc: ChatError) -> web.Response:
    status = _STATUS.get(exc.code, 422)
    headers = {}
    if status == 429:
        headers["Retry-After"] = str(max(1, math.ceil(exc.extra.get("retry_after", 1))))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return json_response({"error": exc.as_dict()}, status=status, headers=headers)


def _endpoint(handler: Handler) -> Handler:
    """CORS, a per-address rate limit and JSON errors around an API handler.

    A wrapper per route rather than an app middleware: a middleware would
    stay on the stack of every WebSocket for its whole life.
    """

    async def endpoint(request: web.Request) -> web.StreamResponse:
        return await _api(request, handler)

    return endpoint


async def _api(request: web.Request, handler: Handler) -> web.StreamResponse:
    allowed = request_allowed(request, request.app[CONFIG].cors_allowed)
    cors = _cors_headers(request) if allowed else {}
    if request.method == "OPTIONS" and cors:
        return web.Response(status=204, headers=cors | _PREFLIGHT)
    response: web.StreamResponse
    if request.method in _WRITES and not allowed:
        # A page on another site: refused before anything is done. Reads
        # need no guard (the browser hides the answer without CORS headers).
        response = error_response(
            ChatError("forbidden_origin", "Requests from this origin are not allowed.")
        )
    else:
        response = await _handle(request, handler)
    response.headers.update(cors)
    return response


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        await request.app[SERVICE].limits.request(proxies.of(request).client(request))
        return await handler(request)
    except ChatError as exc:
        request.app[SERVICE].stats.rejected(exc.code)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return json_response(
            {"error": {"code": code, "message": exc.reason}}, status=exc.status
        )


def _cors_headers(request: web.Request) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if origin is None:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def _body(request: web.Request) -> dict[str, Any]:
    # Only JSON: a cross-site form or a "simple" text/plain request cannot
    # set this type without a preflight, which the origin rule answers.
    if request.content_type != "application/json":
        raise ChatError("unsupported_media_type", "Send the body as application/json.")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        if not_utf8(exc):
            raise ChatError("bad_json", "The body is not valid UTF-8.") from None
        if unpaired_surrogate(exc):
            raise ChatError("bad_json", UNPAIRED_SURROGATE) from None
        raise ChatError("bad_json", "The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise ChatError("bad_json", "The request body must be a JSON object.")
    return body


async def _maybe_session(request: web.Request) -> Session | None:
    """The caller's session; None without a token; 401 for a bad one."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    session = None
    if scheme.lower() == "bearer":
        session = await request.app[HTTP_DOOR].sessions.get(token.strip())
    if session is None:
        raise ChatError("unauthorized", "The token is wrong or has expired.")
    return session


async def _session(request: web.Request) -> Session:
    session = await _maybe_session(request)
    if session is None:
        raise ChatError("unauthorized", "Send Authorization: Bearer <token>.")
    return session


async def _acting(request: web.Request) -> Session:
    """The caller's session, its member present on this process.

    Shared sessions may have joined through another process: this one takes
    the member in, once the directory confirms it still holds its name.
    """
    session = await _session(request)
    service = request.app[SERVICE]
    if service.presence.get(session.conn) is None and session.member is not None:
        await service.adopt(session.member)
    return session


def _query(
    request: web.Request, name: str, cast: Callable[[str], N], low: N, high: N
) -> N | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value: N | None = cast(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ChatError(
            "bad_query", f"{name} must be a number from {low:g} to {high:g}."
        )
    return value


def _room(request: web.Request, session: Session | None) -> str:
    """``?room=``, else the room the session's nickname is held in."""
    member = None
    if session is not None:
        member = request.app[SERVICE].presence.get(session.conn) or session.member
    return check_room(request.query.get("room", member.room if member else None))


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    return [m.as_dict() for m in messages]


@contextlib.contextmanager
def _long_poll(request: web.Request) -> Iterator[None]:
    """A waiting request holds a connection like a WebSocket does."""
    connections = request.app[BOUNDS].connections
    address = proxies.of(request).client(request)
    if not connections.take(address):
        raise connections.refusal()
    try:
        yield
    finally:
        connections.give(address)


async def create_session(request: web.Request) -> web.Response:
    body = await _body(request)
    door = request.app[HTTP_DOOR]
    service = request.app[SERVICE]
    address = proxies.of(request).client(request)
    limit = request.app[BOUNDS].sessions
    if limit and await door.sessions.held(address) >= limit:
        raise refusal("HTTP API sessions", limit)
    session = await door.sessions.create(address)
    try:
        joined = await service.join(
            "http", session.conn, body, address=address, owner=session.owner
        )
        await door.sessions.bind(session, joined.member)
    except BaseException:
        await door.sessions.drop(session.token)
        raise
    reply = {
        "token": session.token,
        **joined.as_dict(),
        "messages": _messages(joined.history),
        "expires_in": door.sessions.ttl,
    }
    return json_response(reply, status=201)


async def delete_session(request: web.Request) -> web.Response:
    session = await _acting(request)
    await request.app[SERVICE].leave(session.conn)  # first: the name is released
    await request.app[HTTP_DOOR].sessions.drop(session.token)
    return web.Response(status=204)


async def get_messages(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    session = await _maybe_session(request)
    room = _room(request, session)
    after = _query(request, "after", int, 0, MAX_ID)
    before = _query(request, "before", int, 0, MAX_ID)
    limit = _query(request, "limit", int, 1, PAGE_LIMIT) or PAGE_DEFAULT
    wait = _query(request, "wait", float, 0.0, MAX_WAIT) or 0.0
    if before is not None and after is not None:
        raise ChatError("bad_query", BOTH_BOUNDS)
    if before is not None and wait > 0:
        raise ChatError("bad_query", "wait is for new messages, not with before.")
    if wait <= 0:
        messages, last_id = await service.history(room, after, limit, before)
    else:
        with _long_poll(request), request.app[HTTP_DOOR].listening(room) as woken:
            messages, last_id = await service.history(room, after, limit)
            if not messages:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken, wait)
                if request.app[HTTP_DOOR].closing:
                    raise shutting_down()
                messages, last_id = await service.history(room, after, limit)
    return json_response({"messages": _messages(messages), "last_id": last_id})


async def post_message(request: web.Request) -> web.Response:
    session = await _acting(request)
    body = await _body(request)
    message = await request.app[SERVICE].post(session.conn, body.get("text"))
    return json_response({"message": message.as_dict()}, status=201)


async def post_typing(request: web.Request) -> web.Response:
    session = await _acting(request)
    body = await _body(request)
    await request.app[SERVICE].typing(session.conn, body.get("typing"))
    return web.Response(status=204)


async def get_users(request: web.Request) -> web.Response:
    session = await _maybe_session(request)
    room = _room(request, session)
    users = await request.app[SERVICE].directory.names(room)
    return json_response({"room": room, "users": list(users)})


async def expire_sessions(app: web.Application) -> None:
    """Free the nicknames of sessions that went quiet (a background task).

    A failure is logged and the sweep goes on: one bad session must not end
    expiry for all the others.
    """
    door, service = app[HTTP_DOOR], app[SERVICE]
    period = min(5.0, door.sessions.ttl / 4)
    while True:
        await asyncio.sleep(period)
        for session in await door.sessions.expired():
            try:
                await service.leave(session.conn)
            except Exception:
                log.exception("expiring session %s failed", session.conn)


async def openapi(request: web.Request) -> web.Response:
    return json_response(spec())


ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/api/session", create_session),
    ("DELETE", "/api/session", delete_session),
    ("GET", "/api/messages", get_messages),
    ("POST", "/api/messages", post_message),
    ("POST", "/api/typing", post_typing),
    ("GET", "/api/users", get_users),
    ("GET", "/api/openapi.json", openapi),
]


async def _no_such_route(request: web.Request) -> web.StreamResponse:
    """Everything else under /api/, so that it too gets CORS and JSON errors."""
    methods = {method for method, path, _ in ROUTES if path == request.path}
    if methods:
        raise web.HTTPMethodNotAllowed(request.method, methods)
    raise web.HTTPNotFound()


def setup(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _endpoint(handler))
    app.router.add_route("*", "/api/{tail:.*}", _endpoint(_no_such_route))
