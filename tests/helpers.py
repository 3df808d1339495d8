"""Shared by the test suites: real clients that record what they receive."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
import socketio

CI = os.environ.get("CI", "").lower() == "true"
TIMEOUT = 5.0


def need(program: str) -> str:
    """The program's path; skip (fail under CI=true) when it is missing."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed"
        if CI:
            pytest.fail(message + " (CI=true: a missing tool is a failure)")
        pytest.skip(message)
    return path


class Inbox:
    """Everything one client received, in order, with waiting helpers."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def put(self, event: str, data: Any) -> None:
        async with self._changed:
            self.items.append((event, data))
            self._changed.notify_all()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.items if name == event]

    async def wait(
        self,
        event: str,
        match: Callable[[Any], bool] = lambda _: True,
        timeout: float = TIMEOUT,
    ) -> Any:
        """The first ``event`` so far or to come that ``match``es."""

        def found() -> Any:
            return next((d for d in self.of(event) if match(d)), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
            return found()

    async def quiet(self, event: str, seconds: float = 0.3) -> list[Any]:
        """What arrived of ``event`` after waiting a moment (for negatives)."""
        await asyncio.sleep(seconds)
        return self.of(event)


class SioClient:
    """A real python-socketio client with an :class:`Inbox`."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox = Inbox()

        async def record(event: str, *args: Any) -> None:
            await self.inbox.put(event, args[0] if len(args) == 1 else list(args))

        self.sio.on("*", record)

    async def connect(self, url: str, **kwargs: Any) -> SioClient:
        kwargs.setdefault("transports", ["websocket"])
        await self.sio.connect(url, wait_timeout=TIMEOUT, **kwargs)
        return self

    async def call(self, event: str, *data: Any) -> Any:
        return await self.sio.call(
            event, data[0] if len(data) == 1 else data, timeout=TIMEOUT
        )

    async def emit(self, event: str, *data: Any) -> None:
        await self.sio.emit(event, data[0] if len(data) == 1 else data)

    async def join(self, name: str, room: str | None = None) -> Any:
        reply = await self.call(
            "join", name if room is None else {"name": name, "room": room}
        )
        assert reply["ok"], reply
        return reply
