"""The bus over Redis pub/sub: every process publishes, every process listens.

One channel carries four kinds of envelope, each tagged with the process
that sent it (a process skips its own; it delivered them already):

- ``{"p", "ep", "m": [[room, id, name, text, ts], ...]}``: a committed group
  of epoch ``ep``, published by the store's script in the same step that
  stored it (a group of another epoch than ours: Redis was flushed, see
  ``new_epoch`` in :meth:`factory.Shared.running`);
- ``{"p", "e": [...]}``: joins, leaves and typing;
- ``{"p", "ep"}``: the history was reset, a new epoch began;
- ``{"p", "k": [process, conn]}``: drop ``conn`` quietly, its nickname was
  taken over (``process`` is ``*`` for every process).

A subscription can go quiet without an error (python-socketio issues 1581,
1534, 281; redis-py issue 4091), so the listener publishes a probe on a
channel of its own every :data:`PROBE_EVERY` seconds and reconnects when
nothing at all has come through for :data:`PROBE_DEADLINE`. After every
(re)connect it asks the relay to catch up from the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from chat.directory import Holder
from chat.models import (
    ChatEvent,
    MemberJoined,
    MemberLeft,
    Message,
    MessagePosted,
    TypingChanged,
)
from chat.stats import Stats
from cluster.connection import CHANNEL, PREFIX, close_quietly, connect, guarded
from cluster.history import RedisStore

log = logging.getLogger(__name__)
PROBE_EVERY = 2.0
PROBE_DEADLINE = 6.0
BACKOFF_MAX = 5.0

Receive = Callable[[Sequence[ChatEvent]], Awaitable[None]]
Kicked = Callable[[str], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]


def encode(process: str, events: Sequence[ChatEvent]) -> bytes:
    out: list[list[Any]] = []
    for event in events:
        match event:
            case MemberJoined(room=room, name=name):
                out.append(["j", room, name])
            case MemberLeft(room=room, name=name):
                out.append(["l", room, name])
            case TypingChanged(room=room, name=name, typing=typing, conn=conn):
                out.append(["t", room, name, typing, conn])
            case MessagePosted(message=m):
                raise ValueError(f"message {m.id} travels with its store write")
    return orjson.dumps({"p": process, "e": out})


def decode(data: dict[str, Any]) -> list[ChatEvent]:
    if "m" in data:
        return [
            MessagePosted(Message(room, int(i), name, text, int(ts)))
            for room, i, name, text, ts in data["m"]
        ]
    events: list[ChatEvent] = []
    for kind, room, name, *rest in data.get("e", ()):
        if kind == "j":
            events.append(MemberJoined(room, name))
        elif kind == "l":
            events.append(MemberLeft(room, name))
        elif kind == "t":
            events.append(TypingChanged(room, name, bool(rest[0]), str(rest[1])))
    return events


class RedisBus:
    def __init__(
        self, url: str, redis: Any, process: str, stats: Stats, store: RedisStore
    ) -> None:
        self._url = url
        self._stats = stats
        self._store = store
        """Whose epoch the envelopes are checked against."""
        self._redis = redis
        self.process = process
        self._probe = f"{PREFIX}probe:{process}"
        self.connected = False

    async def publish(self, events: Sequence[ChatEvent]) -> None:
        if events:
            await self._redis.publish(CHANNEL, encode(self.process, events))

    async def announce_epoch(self) -> None:
        """Tell the other processes that the history was reset."""
        await self._redis.publish(
            CHANNEL, orjson.dumps({"p": self.process, "ep": self._store.epoch})
        )

    @guarded
    async def kick(self, holder: Holder) -> None:
        target = "*" if holder.conn.startswith("http:") else holder.process
        payload = orjson.dumps({"p": self.process, "k": [target, holder.conn]})
        await self._redis.publish(CHANNEL, payload)

    async def listen(self, receive: Receive, kicked: Kicked, resync: Resync) -> None:
        """Run until cancelled: subscribe, dispatch, and reconnect on trouble."""
        backoff = 0.1
        while True:
            client: Any = connect(self._url, listener=True)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL, self._probe)
                self.connected = True
                if backoff > 0.1:
                    log.info("bus: subscribed again; catching up")
                backoff = 0.1
                await resync()
                await self._pump(pubsub, receive, kicked)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "bus: %s; reconnecting in %.1f s", exc or repr(exc), backoff
                )
            finally:
                self.connected = False
                await close_quietly(pubsub, client)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _pump(self, pubsub: Any, receive: Receive, kicked: Kicked) -> None:
        heard = sent = time.monotonic()
        probe = self._probe.encode()
        task = asyncio.current_task()
        while True:
            # A cancellation that lands as get_message's own read timeout
            # expires can come back as a plain None (seen at shutdown, about
            # one run in ten), so the loop asks whether it is being stopped.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=1.0
            )
            now = time.monotonic()
            if now - sent >= PROBE_EVERY:
                await self._redis.publish(self._probe, b"probe")
                sent = now
            if message is None:
                if now - heard > PROBE_DEADLINE:
                    raise ConnectionError(f"nothing heard for {PROBE_DEADLINE:g} s")
                continue
            heard = now
            if message["channel"] != probe:
                await self._dispatch(message["data"], receive, kicked)

    async def _dispatch(self, payload: bytes, receive: Receive, kicked: Kicked) -> None:
        try:
            data = orjson.loads(payload)
            if data.get("p") == self.process:
                return
            if "k" in data:
                target, conn = data["k"]
                if target in (self.process, "*"):
                    await kicked(conn)
                return
            if "ep" in data and data["ep"] != self._store.epoch:
                await self._store.reopen()  # our store notices and says so
                return
            events = decode(data)
            if data.get("m"):  # from its post there to its arrival here
                lag = max(0.0, time.time() - data["m"][-1][4] / 1000)
                self._stats.bus_lag_seconds.observe(lag)
            await receive(events)
        except Exception:
            # One bad envelope must not end the subscription.
            log.exception("bus: could not handle %r", payload[:200])
