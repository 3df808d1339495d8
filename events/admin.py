"""The Socket.IO Admin UI's door: the ``/admin`` namespace that
``@socket.io/admin-ui`` 0.5.1 speaks, fed by our core.

python-socketio's ``instrument()`` hooks ``_trigger_event``, the manager's
rooms and engineio's sockets; our fast path (events/engine.py) bypasses
those, and our rooms and nicknames live in the core. So this door is told by
:class:`WatchedDoor` when a connection opens, joins, leaves and closes, and
reads the rest (address, transport) from the :class:`~events.link.Link`.

The protocol (the package's ``dist/index.js`` and its UI's store): the UI
connects to ``/admin`` with ``auth={username, password}``; the server emits
``config``, ``all_sockets``, then ``socket_connected``,
``socket_updated``, ``socket_disconnected``, ``room_joined``, ``room_left``
as they happen and ``server_stats`` every 2 s (the UI lists servers by its
``serverId``). The UI emits ``_disconnect(nsp, close, filter)`` and
``leave(nsp, room, filter)``, ``filter`` being a room: a socket's own id,
or a chat room. Without a password none of this is registered.

The dashboard's charts come from ``server_stats``'s ``aggregatedEvents``
(:mod:`events.traffic`). The Events page's ``event_received`` and
``event_sent`` are not sent: the package sends them only in its
``development`` mode, one per socket and event, and an ``event_sent`` per
recipient of every broadcast is the per-recipient work the fast path exists
to avoid (its ``connection``, ``room_joined`` and the like do come).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from chat.models import Member
from chat.service import ChatService
from chat.stats import Stats
from events.chat_server import NAMESPACE, ChatServer
from events.door import SocketIODoor, conn_id
from events.link import Link
from events.traffic import Traffic

ADMIN = "/admin"
STATS_EVERY = 2.0
"""Seconds between ``server_stats``, as the Node.js server sends them."""
HOSTNAME = socket.gethostname()
Publish = Callable[[dict[str, Any]], Awaitable[None]]
"""Sends an envelope to the other processes (``--redis-url``): ``{"e": event,
"a": args}`` for their Admin UIs, ``{"do": [action, nsp, arg, filter]}`` for
their sockets, ``{"want": 1}`` for their sockets' list."""


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


def credentials_match(auth: object, user: str, password: str) -> bool:
    """Whether a CONNECT's ``auth`` is ``{username, password}``; constant time."""
    if not isinstance(auth, dict):
        return False
    given_user, given_password = auth.get("username"), auth.get("password")
    if not isinstance(given_user, str) or not isinstance(given_password, str):
        return False
    same_user = hmac.compare_digest(given_user.encode(), user.encode())
    same_password = hmac.compare_digest(given_password.encode(), password.encode())
    return same_user and same_password


class Admin:
    def __init__(
        self,
        sio: ChatServer,
        service: ChatService,
        *,
        user: str,
        password: str,
        read_only: bool = False,
        server_id: str = "",
    ) -> None:
        self.sio = sio
        self.service = service
        self.read_only = read_only
        self.server_id = server_id or HOSTNAME
        self.publish: Publish | None = None
        self._user, self._password = user, password
        self._opened: dict[tuple[str, str], float] = {}
        """(namespace, sid): when it connected (epoch s)."""
        self._transports: dict[tuple[str, str], str] = {}
        self._watchers: set[str] = set()
        self.traffic = Traffic()
        """Counted only while watched (here, or with Redis anywhere)."""
        self._started = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None

    @property
    def features(self) -> list[str]:
        # No EMIT, no JOIN: a chat member is in one room, under a nickname
        # the core hands out; an admin cannot make one up.
        rw = [] if self.read_only else ["DISCONNECT", "LEAVE", "MDISCONNECT", "MLEAVE"]
        return [*rw, "AGGREGATED_EVENTS", "ALL_EVENTS"]

    def register(self) -> None:
        self.sio.gates[ADMIN] = lambda auth: credentials_match(
            auth, self._user, self._password
        )
        self.sio.on("connect", self._connect, namespace=ADMIN)
        self.sio.on("disconnect", self._disconnect, namespace=ADMIN)
        if not self.read_only:
            self.sio.on("_disconnect", self._kick, namespace=ADMIN)
            self.sio.on("leave", self._leave, namespace=ADMIN)

    # What the UI asks --------------------------------------------------------

    async def _connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        self._watchers.add(sid)
        self.start()
        self.opened(sid, ADMIN)
        await self._emit("config", {"supportedFeatures": self.features}, to=sid)
        await self._emit("all_sockets", list(self.sockets()), to=sid)
        if self.publish is not None:  # the others answer with socket_connected
            _spawn(self.publish({"want": 1}))
        await self._emit("server_stats", self.server_stats(), to=sid)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        self._watchers.discard(sid)
        self.closed(sid, reason, ADMIN)
        if not self._watched:
            self._stop()

    async def _kick(
        self, sid: str, nsp: Any, close: Any = False, filt: Any = None
    ) -> None:
        await self.act("_disconnect", nsp, None, filt)

    async def _leave(self, sid: str, nsp: Any, room: Any, filt: Any = None) -> None:
        await self.act("leave", nsp, room, filt)

    async def act(
        self, action: str, nsp: Any, room: Any, filt: Any, *, here: bool = False
    ) -> None:
        """An admin's action, on the sockets here and (unless it came from
        another process) on the other processes' too."""
        if self.read_only:
            return
        if not here and self.publish is not None:
            _spawn(self.publish({"do": [action, nsp, room, filt]}))
        if action == "_disconnect":
            for target in self.matching(nsp, filt):
                await self.sio.disconnect(target, namespace=nsp)
        elif action == "leave" and nsp == NAMESPACE:
            await self._make_leave(room, filt)

    async def _make_leave(self, room: Any, filt: Any) -> None:
        for target in self.matching(NAMESPACE, filt):
            member = self.service.presence.get(conn_id(target))
            if member is not None and member.room == room:
                await self.service.leave(member.conn)

    def matching(self, nsp: Any, filt: Any) -> list[str]:
        """Sockets of ``nsp`` here in room ``filt`` (its own id, or a chat
        room); every one of them when ``filt`` is empty, as Socket.IO does."""
        found = []
        for n, sid in self._opened:
            if n != nsp:
                continue
            member = self.service.presence.get(conn_id(sid))
            if not filt or filt == sid or (member is not None and member.room == filt):
                found.append(sid)
        return found

    # What the door tells -----------------------------------------------------

    def opened(self, sid: str, nsp: str = NAMESPACE) -> None:
        self._opened[nsp, sid] = time.time()
        self._transports[nsp, sid] = _transport(self.sio.link(sid, nsp))
        if self._watched:
            self.traffic.count("rawConnection")
            self._announce("socket_connected", [self.serialize(nsp, sid), _iso()])

    def closed(self, sid: str, reason: Any, nsp: str = NAMESPACE) -> None:
        if self._opened.pop((nsp, sid), None) is None:
            return
        self._transports.pop((nsp, sid), None)
        if self._watched:
            why = reason if isinstance(reason, str) else "transport close"
            self.traffic.count("rawDisconnection", sub=why)
            self._announce("socket_disconnected", [nsp, sid, why, _iso()])

    def joined(self, member: Member) -> None:
        if self._watched:
            sid = _sid(member)
            update = {"id": sid, "nsp": NAMESPACE, "data": {"name": member.name}}
            self._announce("socket_updated", [update])
            self._announce("room_joined", [NAMESPACE, member.room, sid, _iso()])

    def left(self, member: Member) -> None:
        if self._watched:
            sid = _sid(member)
            update = {"id": sid, "nsp": NAMESPACE, "data": {"name": None}}
            self._announce("socket_updated", [update])
            self._announce("room_left", [NAMESPACE, member.room, sid, _iso()])

    # What the UI is sent -----------------------------------------------------

    @property
    def _watched(self) -> bool:
        return bool(self._watchers) or self.publish is not None

    def _announce(self, event: str, args: list[Any]) -> None:
        """To the Admin UIs here and, with Redis, on the other processes."""
        _spawn(self.deliver(event, args))
        if self.publish is not None:
            _spawn(self.publish({"e": event, "a": args}))

    async def deliver(self, event: str, args: list[Any]) -> None:
        """To the Admin UIs connected to this process."""
        if self._watchers:
            await self._emit(event, *args)

    async def _emit(self, event: str, *args: Any, to: str | None = None) -> None:
        data: Any = args[0] if len(args) == 1 else tuple(args)
        await self.sio.emit(event, data, to=to, namespace=ADMIN)

    def report(self) -> None:
        """Another process's Admin UI asks who is here."""
        if self.publish is not None:
            for serialized in self.sockets():
                _spawn(
                    self.publish({"e": "socket_connected", "a": [serialized, _iso()]})
                )

    def sockets(self) -> Iterator[dict[str, Any]]:
        for nsp, sid in list(self._opened):
            serialized = self.serialize(nsp, sid)
            if serialized is not None:
                yield serialized

    def serialize(self, nsp: str, sid: str) -> dict[str, Any] | None:
        """A socket as the UI shows it: the room and nickname from the core."""
        link = self.sio.link(sid, nsp)
        issued = self._opened.get((nsp, sid), 0.0)
        member = self.service.presence.get(conn_id(sid)) if nsp == NAMESPACE else None
        return {
            "id": sid,
            "clientId": link.sid if link is not None else sid,
            "transport": _transport(link),
            "nsp": nsp,
            "data": {"name": member.name} if member is not None else {},
            "handshake": {
                "address": link.remote if link is not None else "",
                "headers": {},
                "query": {},
                "issued": int(issued * 1000),
                "time": _iso(issued),
                "secure": False,
                "url": "/socket.io/",
                "xdomain": False,
            },
            "rooms": [sid, member.room] if member is not None else [sid],
        }

    def server_stats(self) -> dict[str, Any]:
        links = [s for s in self.sio.eio.sockets.values() if isinstance(s, Link)]
        per_nsp: dict[str, int] = {NAMESPACE: 0, ADMIN: 0}
        for nsp, _ in self._opened:
            per_nsp[nsp] = per_nsp.get(nsp, 0) + 1
        return {
            "serverId": self.server_id,
            "hostname": HOSTNAME,
            "pid": os.getpid(),
            "uptime": time.monotonic() - self._started,
            "clientsCount": len(links),
            "pollingClientsCount": sum(1 for s in links if s.outlet is None),
            "aggregatedEvents": self.traffic.drain(),
            "namespaces": [{"name": n, "socketsCount": c} for n, c in per_nsp.items()],
        }

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY)
            self._announce("server_stats", [self.server_stats()])
            if self._watchers:
                await self._updated_transports()

    async def _updated_transports(self) -> None:
        """A polling session that moved to WebSocket (checked every tick,
        only while someone watches)."""
        for key in list(self._opened):
            link = self.sio.link(key[1], key[0])
            transport = _transport(link)
            if self._transports.get(key, "polling") != transport:
                self._transports[key] = transport
                update = {"id": key[1], "nsp": key[0], "transport": transport}
                self._announce("socket_updated", [update])

    def start(self) -> None:
        """Count, and send ``server_stats`` from now on, watched here or not
        (with Redis: an Admin UI on another process lists this one)."""
        self.sio.eio.traffic = self.traffic
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="admin-stats")

    def _stop(self) -> None:
        """Nobody watches: no counting, no stats (the next UI starts afresh)."""
        self.sio.eio.traffic = None
        self.traffic.drain()
        if self._ticker is not None:
            self._ticker.cancel()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)


class WatchedDoor(SocketIODoor):
    """The Socket.IO door, telling the Admin UI who comes, joins, leaves and
    goes. Used only with ``--admin-password``: the broadcast path is the
    parent's, untouched."""

    def __init__(
        self,
        sio: ChatServer,
        stats: Stats,
        admin: Admin,
        epoch: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(sio, stats, epoch)
        self.admin = admin

    def opened(self, sid: str) -> None:
        self.admin.opened(sid)

    def drop(self, sid: str, reason: object = None) -> None:
        super().drop(sid, reason)
        self.admin.closed(sid, reason)

    def attach(self, member: Member) -> bool:
        attached = super().attach(member)
        if attached:
            self.admin.joined(member)
        return attached

    async def detach(self, member: Member) -> None:
        await super().detach(member)
        self.admin.left(member)


def _sid(member: Member) -> str:
    return member.conn.removeprefix("sio:")


def _transport(link: Link | None) -> str:
    return "websocket" if link is not None and link.outlet is not None else "polling"


_tasks: set[asyncio.Task[Any]] = set()


def _spawn(coro: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
