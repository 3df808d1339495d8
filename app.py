"""socketio-chat: the application factory and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from chat.bounds import Bounds
from chat.fanout import Fanout
from chat.history import StoreFailed
from chat.limits import Limits
from chat.recovery import Recovery
from chat.rules import ChatError
from chat.service import ChatService
from chat.stats import Stats
from config import Config, load_config
from events import create_sio
from events.admin import Admin
from factory import make_backends
from plumbing.proxies import PROXIES, TrustedProxies
from web import admin_ui, api, metrics, pages
from web.http_door import HttpDoor
from web.keys import (
    BACKENDS,
    BOUNDS,
    CONFIG,
    HTTP_DOOR,
    SERVICE,
    UPGRADES,
    WS_DOOR,
)
from web.listener import raise_open_files, run
from web.ws import WebSocketDoor

log = logging.getLogger("chat")
PRUNE_EVERY = 600.0
"""Seconds between retention sweeps."""
SHUTDOWN_TIMEOUT = 2.0
"""Seconds a request still running once every session has been ended (a
POST whose body stalls, say) may hold a stop before it is cancelled."""


def create_app(config: Config | None = None) -> web.Application:
    config = config or Config()
    # aiohttp's keep-alive timer also runs before the first request: it
    # closes connections that never finish one (--handshake-timeout).
    app = web.Application(
        client_max_size=64 * 1024,
        handler_args={"keepalive_timeout": config.handshake_timeout},
    )
    app[CONFIG] = config
    app[BOUNDS] = bounds = Bounds.of(
        config.max_connections_per_address,
        config.max_handshakes_per_address,
        config.max_sessions_per_address,
        config.handshake_timeout,
    )
    app[PROXIES] = proxies = TrustedProxies(config.trusted_proxies)
    stats = Stats()
    fanout = Fanout(stats)
    backends = make_backends(config, stats)
    app[BACKENDS] = backends
    service = ChatService(
        backends.store,
        fanout,
        directory=backends.directory,
        bus=backends.bus,
        history=config.history,
        max_group=config.max_group,
        limits=Limits(config.rate_limit, config.rate_burst, backends.buckets),
        recovery=Recovery(
            backends.store,
            config.recovery_window,
            process=backends.process,
        ),
    )
    app[SERVICE] = service
    sio, admin = create_sio(
        config, service, bounds.connections, backends.process, proxies
    )
    sio.attach(app)
    app[UPGRADES] = sio.eio.upgrade
    app[WS_DOOR] = WebSocketDoor(
        config.max_unsent, backends.process, fanout.stats, bounds.connections
    )
    fanout.add_door("ws", app[WS_DOOR])
    app[HTTP_DOOR] = HttpDoor(backends.sessions)
    fanout.add_door("http", app[HTTP_DOOR])

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(pages.ROOT / "templates"),
        autoescape=True,
    )
    pages.setup(app)
    api.setup(app)
    metrics.setup(app, sio.transports)
    app.cleanup_ctx.append(_core)
    app.cleanup_ctx.append(_background)
    if admin is not None:
        admin_ui.setup(app)
        app.cleanup_ctx.append(functools.partial(_admin, admin))

    async def close_connections(app: web.Application) -> None:
        # End sessions without a Socket.IO DISCONNECT or an Engine.IO CLOSE
        # packet, so that every client (python-socketio's too) sees a broken
        # transport and reconnects by itself (a restart, a deploy, to another
        # process). Their names wait for them: no "left" lines. Bounded: a
        # disconnect handler may wait on a Redis that is away.
        service.draining = True
        with contextlib.suppress(Exception):
            await backends.park(service, config.shutdown_grace)
        closing = sio.end_all(WSCloseCode.GOING_AWAY)
        if closing:
            _, stuck = await asyncio.wait(closing, timeout=1.0)
            for task in stuck:
                task.cancel()
        await sio.shutdown()
        app[WS_DOOR].close_all()
        app[HTTP_DOOR].close()

    app.on_shutdown.append(close_connections)
    return app


async def _core(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.store.open()
    try:
        async with app[BACKENDS].running(service):
            service.start()
            yield
            await service.stop()  # commits what is queued while Redis is there
    finally:
        await service.store.close()


async def _admin(admin: Admin, app: web.Application) -> AsyncIterator[None]:
    """With Redis: the relay, and this process's stats every 2 s."""
    relaying = app[BACKENDS].relay_admin(admin)
    relay = None
    if relaying is not None:
        relay = asyncio.create_task(relaying, name="admin-relay")
        admin.start()
    yield
    if relay is not None:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
    await admin.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_prune(app), name="prune")]
    if not app[HTTP_DOOR].sessions.expires_by_itself:
        tasks.append(asyncio.create_task(api.expire_sessions(app), name="sessions"))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _prune(app: web.Application) -> None:
    store = app[SERVICE].store
    while True:
        try:
            deleted = await store.prune(int(time.time() * 1000))
            if deleted:
                log.info("retention removed %d messages", deleted)
        except StoreFailed:
            pass  # logged by the store when the fault began; tried again later
        except ChatError as exc:  # Redis away: /readyz says so; tried again later
            log.warning("retention sweep skipped: %s", exc.__cause__ or exc)
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(PRUNE_EVERY)


def _event_loop() -> asyncio.AbstractEventLoop:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main(argv: Sequence[str] | None = None) -> None:
    config = load_config(argv)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    files = raise_open_files()
    try:
        run(
            create_app(config),
            config.host,
            config.port,
            _event_loop(),
            files,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
    except StoreFailed as exc:
        # A file to fix, not a bug: one line saying which and why.
        print(f"app.py: cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
