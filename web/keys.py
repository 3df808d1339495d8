"""Typed application state (``web.AppKey``), shared by app.py and the doors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from chat.backends import Backends
from chat.bounds import Bounds
from chat.service import ChatService
from config import Config
from plumbing.upgrade import Head
from web.http_door import HttpDoor
from web.ws import WebSocketDoor

CONFIG = web.AppKey("config", Config)
SERVICE = web.AppKey("service", ChatService)
BACKENDS = web.AppKey("backends", Backends)
WS_DOOR = web.AppKey("ws_door", WebSocketDoor)
HTTP_DOOR = web.AppKey("http_door", HttpDoor)
BOUNDS = web.AppKey("bounds", Bounds)
Upgrades = Callable[[Head], asyncio.Protocol | None]
UPGRADES: web.AppKey[Upgrades] = web.AppKey("upgrades")
"""The WebSocket upgrades the listener serves itself (see plumbing.upgrade)."""
