"""Builds the python-socketio server and plugs it into the core."""

from __future__ import annotations

from chat.bounds import PerAddress
from chat.service import ChatService
from config import Config
from events import connection, messages, typing_events
from events.admin import Admin, WatchedDoor
from events.chat_server import ChatServer
from events.codec import OrjsonCodec
from events.door import SocketIODoor
from events.manager import ChatManager
from plumbing.proxies import TrustedProxies

MAX_PACKET = 64 * 1024
"""Bytes; far above a 2,000-character message, far below a memory problem."""


def create_sio(
    config: Config,
    service: ChatService,
    connections: PerAddress | None = None,
    server_id: str = "",
    proxies: TrustedProxies | None = None,
) -> tuple[ChatServer, Admin | None]:
    """The server, and its Admin UI door when ``--admin-password`` is set."""
    sio = ChatServer(
        async_mode="aiohttp",
        client_manager=ChatManager(),
        json=OrjsonCodec,
        origins=config.cors_allowed,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        max_http_buffer_size=MAX_PACKET,
        max_unsent=config.max_unsent,
        on_drop=service.stats.slow_drops.inc,
        connections=connections,
        proxies=proxies,
        # Send CONNECT before the connect handler runs, so the auto-join in
        # it can already send history to the client.
        always_connect=True,
        # Their INFO lines log every packet; only worth it when debugging.
        logger=config.log_level == "debug",
        engineio_logger=config.log_level == "debug",
    )
    epoch = None
    if service.recovery.enabled:
        sio.recovery = service.resumption
        store = service.store

        def epoch() -> str:
            return store.epoch

    door = SocketIODoor(sio, service.stats, epoch)
    admin = None
    if config.admin_password:
        admin = Admin(
            sio,
            service,
            user=config.admin_user,
            password=config.admin_password,
            read_only=config.admin_read_only,
            server_id=server_id,
        )
        admin.register()
        door = WatchedDoor(sio, service.stats, admin, epoch)
    connection.register(sio, door, service)
    messages.register(sio, door, service)
    typing_events.register(sio, door, service)
    service.fanout.add_door("sio", door)
    return sio, admin
