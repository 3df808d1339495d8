"""The Admin UI over several processes (``--redis-url``): every process's
admin events go out on one channel, and whichever process serves an Admin UI
hands the others' to it, so the UI lists every server by its ``serverId``
and every socket of the deployment (the door is :class:`chat.backends.AdminEvents`).

Losing an envelope only costs the UI a line until the next ``server_stats``
(every 2 s): nothing here is retried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from chat.backends import AdminEvents
from cluster.connection import PREFIX, close_quietly, connect

log = logging.getLogger(__name__)
ADMIN_CHANNEL = PREFIX + "admin"
BACKOFF_MAX = 5.0


class AdminRelay:
    def __init__(self, url: str, redis: Any, process: str, admin: AdminEvents) -> None:
        self._url = url
        self._redis = redis
        self._process = process
        self._admin = admin
        admin.publish = self.publish

    async def publish(self, envelope: dict[str, Any]) -> None:
        try:
            await self._redis.publish(
                ADMIN_CHANNEL, orjson.dumps({"p": self._process, **envelope})
            )
        except Exception as exc:  # Redis away: the UI misses a line
            log.debug("admin relay: %s", exc)

    async def run(self) -> None:
        """Until cancelled: subscribe and hand what comes to the admin door."""
        backoff = 0.1
        while True:
            client: Any = connect(self._url, listener=True)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(ADMIN_CHANNEL)
                backoff = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("admin relay: %s; reconnecting in %.1f s", exc, backoff)
            finally:
                await close_quietly(pubsub, client)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _dispatch(self, payload: bytes) -> None:
        try:
            data = orjson.loads(payload)
            if data.get("p") == self._process:
                return
            if "e" in data:
                await self._admin.deliver(str(data["e"]), list(data["a"]))
            elif "do" in data:
                action, nsp, room, filt = data["do"]
                await self._admin.act(action, nsp, room, filt, here=True)
            elif "want" in data:
                self._admin.report()
        except Exception:
            log.exception("admin relay: could not handle %r", payload[:200])
