"""socketio-chat: the application factory and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

from chat.fanout import Fanout
from chat.history import StoreFailed
from chat.limits import Limits
from chat.recovery import Recovery
from chat.rules import ChatError
from chat.service import ChatService
from chat.stats import Stats
from cluster.directory import RedisDirectory
from cluster.node import make_node, running
from config import Config, load_config
from events import create_sio
from web import admin_ui, api, metrics, pages
from web.bounds import Bounds
from web.keys import BOUNDS, CONFIG, HTTP_DOOR, NODE, SERVICE, WS_DOOR
from web.listener import raise_open_files, run
from web.proxies import PROXIES, TrustedProxies
from web.sessions import HttpDoor
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
    app[PROXIES] = TrustedProxies(config.trusted_proxies)
    stats = Stats()
    fanout = Fanout(stats)
    node = make_node(config, stats)
    app[NODE] = node
    service = ChatService(
        node.store,
        fanout,
        directory=node.directory,
        bus=node.bus,
        history=config.history,
        max_group=config.max_group,
        limits=Limits(config.rate_limit, config.rate_burst, node.buckets),
        recovery=Recovery(
            node.store,
            config.recovery_window,
            process=node.process,
        ),
    )
    app[SERVICE] = service
    sio, admin = create_sio(config, service, bounds.connections, node.process)
    sio.attach(app)
    app[WS_DOOR] = WebSocketDoor(
        config.max_unsent, node.process, fanout.stats, bounds.connections
    )
    fanout.add_door("ws", app[WS_DOOR])
    app[HTTP_DOOR] = HttpDoor(node.sessions)
    fanout.add_door("http", app[HTTP_DOOR])

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(pages.ROOT / "templates"),
        autoescape=True,
    )
    pages.setup(app)
    api.setup(app)
    metrics.setup(app, sio)
    app.cleanup_ctx.append(_core)
    app.cleanup_ctx.append(_background)
    if admin is not None:
        admin_ui.setup(app, admin, node, config.redis_url)

    async def close_connections(app: web.Application) -> None:
        # End sessions without a Socket.IO DISCONNECT or an Engine.IO CLOSE
        # packet, so that every client (python-socketio's too) sees a broken
        # transport and reconnects by itself (a restart, a deploy, to another
        # process). Their names wait for them: no "left" lines. Bounded: a
        # disconnect handler may wait on a Redis that is away.
        service.draining = True
        with contextlib.suppress(Exception):
            if isinstance(node.directory, RedisDirectory):
                await node.directory.heartbeat(config.shutdown_grace)
            else:
                await service.resumption.park(time.time() + config.shutdown_grace)
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
        async with running(app[NODE], service):
            service.start()
            yield
            await service.stop()  # commits what is queued while Redis is there
    finally:
        await service.store.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_prune(app), name="prune"),
        asyncio.create_task(api.expire_sessions(app), name="sessions"),
    ]
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
