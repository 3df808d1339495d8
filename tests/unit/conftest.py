"""Fixtures of the core's unit tests: a service on a real SQLite store (in
memory) and a door that records what it is given."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat.service import ChatService
from tests.unit.services import RecordingDoor, make_service, shutdown


@pytest.fixture
def door() -> RecordingDoor:
    return RecordingDoor()


@pytest.fixture
async def service(door: RecordingDoor) -> AsyncIterator[ChatService]:
    service = await make_service(door, history=3)
    yield service
    await shutdown(service)
