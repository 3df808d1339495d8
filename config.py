"""Server configuration: defaults < ``CHAT_*`` environment variables < flags.

Every option is one dataclass field; its metadata holds the help text, so
``--help``, the environment variable and the README table cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Config:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(3000, "TCP port to listen on (0 picks a free one)")
    db: str = _opt(
        "chat.db",
        "history store: a SQLite file path, sqlite:///path, or :memory:",
    )
    max_group: int = _opt(
        1000, "most messages committed in one transaction (1: one commit each)"
    )
    history: int = _opt(50, "messages a joiner receives from the room's history")
    retention_days: float = _opt(
        30.0, "delete messages older than this many days (0 keeps them forever)"
    )
    room_cap: int = _opt(
        10_000,
        "keep this many messages per room (0 means no cap; Redis trims "
        "approximately, keeping a little more)",
    )
    session_ttl: float = _opt(
        120.0, "seconds an idle HTTP API session keeps its nickname"
    )
    rate_limit: float = _opt(
        5.0,
        "messages per second one person may post, sustained (0 turns off all "
        "flood limits: posts, joins, typing)",
    )
    rate_burst: int = _opt(20, "messages one person may post in a burst (at least 1)")
    max_connections_per_address: int = _opt(
        256,
        "open connections one client address may hold: Socket.IO sessions, "
        "/ws connections and HTTP API long polls together (0: no limit)",
    )
    max_handshakes_per_address: int = _opt(
        64,
        "TCP connections one client address may have open that have not yet "
        "sent a request (0: no limit)",
    )
    handshake_timeout: float = _opt(
        5.0,
        "seconds a TCP connection may stay without sending a complete "
        "request (the first, or the next on a kept-alive one) before it is closed",
    )
    max_sessions_per_address: int = _opt(
        256,
        "HTTP API sessions, each holding a nickname, one client address may "
        "have at once (0: no limit)",
    )
    ping_interval: float = _opt(
        25.0, "seconds between heartbeats on Socket.IO and WebSocket connections"
    )
    ping_timeout: float = _opt(
        20.0, "seconds without a heartbeat answer before a connection is dropped"
    )
    max_unsent: int = _opt(
        1 << 20,
        "bytes a WebSocket or polling client may leave unread before it is "
        "dropped as too slow (it can reconnect and catch up)",
    )
    cors_origins: str = _opt(
        "*",
        "comma-separated origins allowed to connect from other frontends ('*': any)",
    )
    trusted_proxies: str = _opt(
        "",
        "comma-separated addresses or CIDRs of reverse proxies whose "
        "X-Forwarded-For/-Proto/-Host/-Prefix headers are believed",
    )
    redis_url: str = _opt(
        "",
        "redis://host:port/db: share history, names, sessions and limits with "
        "other processes through Redis (--db is then unused); empty: one process",
    )
    process_timeout: float = _opt(
        30.0,
        "seconds after which a process that vanished (kill -9) loses its "
        "members' names and their leaves are announced (with --redis-url); "
        "one with a recoverable session keeps its name for its recovery window",
    )
    shutdown_grace: float = _opt(
        15.0,
        "seconds a stopped process's members keep their names, so that they "
        "reconnect (after a restart, or to another process) with no "
        "'left'/'joined' lines",
    )
    recovery_window: float = _opt(
        120.0,
        "seconds a dropped Socket.IO connection can come back whole (standard "
        "connection-state recovery: same id, name and room, the missed lines); "
        "0 turns recovery off and keeps the old wire format",
    )
    log_level: str = _opt("info", "debug, info, warning or error")
    admin_password: str = _opt(
        "",
        "turns on the Socket.IO Admin UI: the /admin namespace and the UI at "
        "/admin/, for this password (empty: off, nothing registered)",
    )
    admin_user: str = _opt("admin", "the Admin UI's user name")
    admin_read_only: bool = _opt(
        False,
        "the Admin UI only watches: no disconnecting sockets, no making them "
        "leave their room",
    )

    @property
    def cors_allowed(self) -> str | list[str]:
        if self.cors_origins.strip() == "*":
            return "*"
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def env_name(name: str) -> str:
    return "CHAT_" + name.upper()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _bool(raw: str) -> bool:
    """``bool("false")`` is True: spell the words out."""
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(raw)


def _cast(f: dataclasses.Field[Any], raw: str) -> Any:
    kind: Callable[[str], Any] = (
        _bool if isinstance(f.default, bool) else type(f.default)
    )
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(
            f"{env_name(f.name)}={raw!r}: expected {type(f.default).__name__}"
        ) from None


def options() -> list[tuple[str, str, Any, str]]:
    """(flag, environment variable, default, help) for every option."""
    return [
        (_flag(f.name), env_name(f.name), f.default, f.metadata["help"])
        for f in dataclasses.fields(Config)
    ]


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Socket.IO group chat server. Every option can also be set "
        "with the environment variable shown; a flag wins over the environment.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for f in dataclasses.fields(Config):
        var = env_name(f.name)
        default = _cast(f, env[var]) if var in env else f.default
        if isinstance(f.default, bool):
            parser.add_argument(
                _flag(f.name),
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{f.metadata['help']} (env {var}=1)",
            )
            continue
        parser.add_argument(
            _flag(f.name),
            type=type(f.default),
            default=default,
            metavar=var,
            help=f.metadata["help"],
        )
    return parser


def load_config(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    parser = build_parser(os.environ if env is None else env)
    ns = parser.parse_args(argv)
    config = Config(**vars(ns))
    problems = validate(config)
    if problems:
        parser.error("; ".join(problems))
    return config


def validate(config: Config) -> list[str]:
    problems = []
    if not 0 <= config.port <= 65535:
        problems.append("--port must be 0..65535")
    if config.max_unsent < 1024:
        problems.append("--max-unsent must be at least 1024")
    for name in ("max_group", "rate_burst"):
        if getattr(config, name) < 1:
            problems.append(f"{_flag(name)} must be at least 1")
    for name in (
        "history",
        "room_cap",
        "retention_days",
        "rate_limit",
        "shutdown_grace",
        "recovery_window",
        "max_connections_per_address",
        "max_handshakes_per_address",
        "max_sessions_per_address",
    ):
        if getattr(config, name) < 0:
            problems.append(f"{_flag(name)} must not be negative")
    if config.redis_url and not config.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        problems.append("--redis-url must start with redis://, rediss:// or unix://")
    try:
        proxy_networks(config.trusted_proxies)
    except ValueError as exc:
        problems.append(f"--trusted-proxies: {exc}")
    try:
        sqlite_path(config.db)
    except ValueError as exc:
        problems.append(str(exc))
    for name in (
        "session_ttl",
        "ping_interval",
        "ping_timeout",
        "process_timeout",
        "handshake_timeout",
    ):
        if getattr(config, name) <= 0:
            problems.append(f"{_flag(name)} must be positive")
    if config.admin_password and not config.admin_user:
        problems.append("--admin-user must not be empty")
    if config.admin_read_only and not config.admin_password:
        problems.append("--admin-read-only needs --admin-password")
    if config.log_level.lower() not in ("debug", "info", "warning", "error"):
        problems.append("--log-level must be debug, info, warning or error")
    return problems


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(cidrs: str) -> list[Network]:
    """The networks in ``--trusted-proxies``; ValueError for one that is not."""
    return [
        ipaddress.ip_network(cidr.strip(), strict=False)
        for cidr in cidrs.split(",")
        if cidr.strip()
    ]


def sqlite_path(url: str) -> str:
    """The database path in ``--db``; ValueError for a URL of another kind."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    if "://" in url:
        raise ValueError(
            f"--db {url!r} is unsupported: use a path or sqlite:///path "
            "(Redis is --redis-url)"
        )
    return url
