from __future__ import annotations

from web.sessions import Sessions


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_when_idle_and_use_keeps_them() -> None:
    clock = Clock()
    sessions = Sessions(ttl=10, clock=clock)
    a = sessions.create()
    b = sessions.create()
    assert a.token != b.token and a.conn != b.conn
    clock.now = 8
    assert sessions.get(a.token) is a  # used: idle timer restarts
    clock.now = 12
    assert sessions.get(b.token) is None
    assert sessions.expired() == [b]
    assert sessions.get(a.token) is a
    clock.now = 30
    assert sessions.expired() == [a]
    assert sessions.get("nonsense") is None


def test_drop_by_token_and_connection() -> None:
    sessions = Sessions(ttl=10)
    a = sessions.create()
    assert sessions.drop(a.token) is a and sessions.get(a.token) is None
    b = sessions.create()
    sessions.drop_conn(b.conn)
    assert sessions.get(b.token) is None
