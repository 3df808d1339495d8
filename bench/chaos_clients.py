"""make chaos: the clients (posters, readers, churners) and what they saw.

Every line has a text of its own, so a line is known by its text wherever
it turns up: at a reader, in history, twice. The ledger keeps what each
sender was told about each line; each client keeps its own counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from chaos_doors import Door, JoinFailed, Outcome, open_door

MAX_LINES = 100_000
"""Per poster or churner: a bound far above what a run sends."""
RETRY_S = 1.0


@dataclass(slots=True)
class Line:
    text: str
    room: str
    client: str
    sent_s: float
    outcome: Outcome | None = None
    answered_s: float = 0.0


class Ledger:
    """Every line sent, by text, with what its sender was told."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.lines: dict[str, Line] = {}

    def now(self) -> float:
        """Seconds since the traffic started."""
        return round(time.monotonic() - self.started, 3)

    def sent(self, text: str, room: str, client: str) -> Line:
        line = self.lines[text] = Line(text, room, client, self.now())
        return line

    def answered(self, line: Line, outcome: Outcome) -> None:
        line.outcome, line.answered_s = outcome, self.now()


@dataclass(eq=False)
class Client:
    """One simulated person: ``role`` poster, reader or churner, on ``door``
    (chaos_doors.DOORS), talking to app process ``process`` (0 or 1)."""

    name: str
    role: str
    door: str
    room: str
    process: int
    urls: list[str]
    http: aiohttp.ClientSession
    ledger: Ledger
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    join_errors: Counter[str] = field(default_factory=Counter)
    joins: int = 0
    drops: int = 0
    """Connections the server ended (or lost), not the client itself."""
    blips: int = 0
    received: Counter[str] = field(default_factory=Counter)
    context: int = 0
    max_seen: int = 0
    epoch: str = ""
    epochs: list[str] = field(default_factory=list)
    connected: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)

    def deliver(self, message: dict[str, Any], counts: bool) -> None:
        """A chat line reached this client. ``counts``: a delivery (live or
        catch-up); otherwise recent history shown as context, which only
        counts when it shows a line this client has not had yet."""
        text = str(message["text"])
        if counts or text not in self.received:
            self.received[text] += 1
        if not counts:
            self.context += 1
        self.max_seen = max(self.max_seen, int(message["id"]))

    def ignore(self, message: dict[str, Any], counts: bool) -> None:
        """Posters and churners do not read: they are counted as senders."""

    async def connect(self, stop: asyncio.Event, name: str, reads: bool) -> Door | None:
        """Join (again, with ``after`` and ``epoch`` when reading) until it
        works or ``stop``; every failed try is counted by its error code."""
        for _ in range(10_000):
            if stop.is_set():
                return None
            url = self.urls[self.process]
            sink = self.deliver if reads else self.ignore
            cursor = (lambda: self.max_seen) if reads else None
            door = open_door(self.door, url, self.http, sink, cursor)
            try:
                joined = await door.join(name, self.room, self.max_seen, self.epoch)
            except JoinFailed as exc:
                self.join_errors[exc.code] += 1
                await door.close()
                await wait_or_stop(stop, RETRY_S)
                continue
            self.joins += 1
            if joined.epoch != self.epoch:
                self.epochs.append(joined.epoch)
                self.epoch = joined.epoch
            return door
        return None

    async def post(self, door: Door, text: str) -> Outcome:
        line = self.ledger.sent(text, self.room, self.name)
        outcome = await door.post(text)
        self.ledger.answered(line, outcome)
        self.outcomes[outcome.kind] += 1
        if outcome.code:
            self.refusals[outcome.code] += 1
        return outcome

    async def read(self, stop: asyncio.Event, blips: list[float]) -> None:
        """Stay in the room until ``stop``; rejoin whenever dropped, and at
        each of ``blips`` (seconds into the traffic) drop the connection
        itself, as a phone changing networks does, to rejoin with ``after``."""
        pending = sorted(blips)
        while not stop.is_set():
            door = await self.connect(stop, self.name, reads=True)
            if door is None:
                break
            self.connected = True
            self.ready.set()
            waits: list[Coroutine[Any, Any, Any]] = [door.dropped.wait(), stop.wait()]
            if pending:
                waits.append(asyncio.sleep(max(0.0, pending[0] - self.ledger.now())))
            await first(*waits)
            if stop.is_set():
                await door.leave()
                break
            self.connected = False
            if door.dropped.is_set():
                self.drops += 1
            else:
                self.blips += 1
                pending.pop(0)
            await door.close()

    async def send(self, stop: asyncio.Event, period_s: float) -> None:
        """Post a line every ``period_s`` until ``stop``, each one answered
        (or given up on) before the next; rejoin whenever dropped."""
        door: Door | None = None
        due = time.monotonic()
        for n in range(MAX_LINES):
            if stop.is_set():
                break
            if door is None or door.dropped.is_set():
                if door is not None:
                    self.drops += 1
                    await door.close()
                door = await self.connect(stop, self.name, reads=False)
                if door is None:
                    break
            await self.post(door, f"{self.name}-{n:05d}")
            due = max(due + period_s, time.monotonic())
            await wait_or_stop(stop, due - time.monotonic())
        if door is not None:
            await door.leave()

    async def churn(self, stop: asyncio.Event, rooms: list[str]) -> None:
        """Join, post one line, leave (politely or by closing), again: a
        new name each time, in turn in every room and on both processes."""
        for n in range(MAX_LINES):
            if stop.is_set():
                break
            self.room, self.process = rooms[n % len(rooms)], n % 2
            door = await self.connect(stop, f"{self.name}-{n:04d}", reads=False)
            if door is None:
                break
            await self.post(door, f"{self.name}-{n:05d}")
            await wait_or_stop(stop, 0.3)
            if n % 2:
                await door.leave()
            else:
                await door.close()  # as a closed tab: no leave first
            await wait_or_stop(stop, 0.5)

    async def guarded(self, work: Any) -> None:
        """Run a role; a crash in the harness is reported, never hidden."""
        try:
            await work
        except Exception as exc:
            self.errors.append(repr(exc))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "door": self.door,
            "room": self.room,
            "process": self.process,
            "outcomes": dict(self.outcomes),
            "refusals": dict(self.refusals),
            "join_errors": dict(self.join_errors),
            "joins": self.joins,
            "drops": self.drops,
            "blips": self.blips,
            "epochs": self.epochs,
            "connected": self.connected,
            "max_seen": self.max_seen,
            "context": self.context,
            "errors": self.errors,
        }


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


async def first(*waits: Any) -> None:
    """Until the first of ``waits`` (coroutines) ends; the others are
    cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
