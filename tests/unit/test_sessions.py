from __future__ import annotations

from chat.sessions import Sessions


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_sessions_expire_when_idle_and_use_keeps_them() -> None:
    clock = Clock()
    sessions = Sessions(ttl=10, clock=clock)
    a = await sessions.create()
    b = await sessions.create()
    assert a.token != b.token and a.conn != b.conn and a.owner != b.owner
    clock.now = 8
    assert await sessions.get(a.token) is a  # used: idle timer restarts
    clock.now = 12
    assert await sessions.get(b.token) is None
    assert await sessions.expired() == [b]
    assert await sessions.get(a.token) is a
    clock.now = 30
    assert await sessions.expired() == [a]
    assert await sessions.get("nonsense") is None


async def test_drop_by_token_and_connection() -> None:
    sessions = Sessions(ttl=10)
    a = await sessions.create()
    await sessions.drop(a.token)
    assert await sessions.get(a.token) is None
    b = await sessions.create()
    await sessions.drop_conn(b.conn)
    assert await sessions.get(b.token) is None
