"""HTTP API sessions in Redis: a token works on every process.

``chat:session:<token>`` holds the session and who joined through it, and
``chat:alive:<owner>`` keeps its nickname alive in the directory; both
expire after ``--session-ttl`` idle seconds, and every use renews them. When
they expire, the directory's sweep frees the nickname and announces the
leave, whichever process notices first. ``chat:sessions-from:<address>``
scores each of an address's tokens by when it expires, so that every process
counts the same sessions against ``--max-sessions-per-address``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from chat.models import Member
from chat.sessions import Session, new_session
from cluster.connection import PREFIX, guarded


class RedisSessions:
    expires_by_itself = True
    """Redis expires them; the directory's sweep announces it."""

    def __init__(self, redis: Any, ttl: float) -> None:
        self._redis = redis
        self.ttl = ttl
        self._ms = int(ttl * 1000)

    @guarded
    async def create(self, address: str = "") -> Session:
        session = new_session(self.ttl, time.time(), address)
        await self._save(session)
        return session

    @guarded
    async def held(self, address: str) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(_from(address), "-inf", int(time.time() * 1000))
            pipe.zcard(_from(address))
            _, held = await pipe.execute()
        return int(held)

    @guarded
    async def bind(self, session: Session, member: Member) -> None:
        session.member = member
        await self._save(session)

    async def _save(self, session: Session) -> None:
        member = session.member
        record: dict[str, str | None] = {
            "c": session.conn,
            "o": session.owner,
            "ip": session.address,
        }
        if member is not None:
            record |= {
                "n": member.name,
                "r": member.room,
                "k": member.client,
                "a": member.address,
            }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(session.token), orjson.dumps(record), px=self._ms)
            pipe.set(PREFIX + "session-of:" + session.conn, session.token, px=self._ms)
            pipe.set(PREFIX + "alive:" + session.owner, b"1", px=self._ms)
            self._count(pipe, session.token, session.address)
            await pipe.execute()

    def _count(self, pipe: Any, token: str, address: str) -> None:
        """Until the session expires, it counts against its address."""
        pipe.zadd(_from(address), {token: int(time.time() * 1000) + self._ms})
        pipe.pexpire(_from(address), self._ms)

    @guarded
    async def get(self, token: str) -> Session | None:
        raw = await self._redis.get(_key(token))
        if raw is None:
            return None
        record = orjson.loads(raw)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.pexpire(_key(token), self._ms)
            pipe.pexpire(PREFIX + "session-of:" + record["c"], self._ms)
            pipe.pexpire(PREFIX + "alive:" + record["o"], self._ms)
            self._count(pipe, token, record.get("ip", ""))
            renewed = await pipe.execute()
        if not renewed[2]:
            return None  # its nickname was swept: the session is over
        member = None
        if "n" in record:
            member = Member(
                door="http",
                conn=record["c"],
                name=record["n"],
                room=record["r"],
                client=record["k"],
                address=record["a"],
                owner=record["o"],
            )
        return Session(
            token, record["c"], record["o"], address=record.get("ip", ""), member=member
        )

    @guarded
    async def drop(self, token: str) -> None:
        raw = await self._redis.get(_key(token))
        if raw is not None:
            record = orjson.loads(raw)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(
                    _key(token),
                    PREFIX + "session-of:" + record["c"],
                    PREFIX + "alive:" + record["o"],
                )
                pipe.zrem(_from(record.get("ip", "")), token)
                await pipe.execute()

    @guarded
    async def drop_conn(self, conn: str) -> None:
        token = await self._redis.get(PREFIX + "session-of:" + conn)
        if token is not None:
            await self.drop(token.decode())

    async def expired(self) -> list[Session]:
        return []  # Redis expires them; the directory's sweep announces it


def _key(token: str) -> str:
    return PREFIX + "session:" + token


def _from(address: str) -> str:
    return PREFIX + "sessions-from:" + address
