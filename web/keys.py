"""Typed application state (``web.AppKey``), shared by app.py and the doors."""

from __future__ import annotations

from aiohttp import web

from chat.service import ChatService
from cluster.node import Node
from config import Config
from web.bounds import Bounds
from web.sessions import HttpDoor
from web.ws import WebSocketDoor

CONFIG = web.AppKey("config", Config)
SERVICE = web.AppKey("service", ChatService)
NODE = web.AppKey("node", Node)
WS_DOOR = web.AppKey("ws_door", WebSocketDoor)
HTTP_DOOR = web.AppKey("http_door", HttpDoor)
BOUNDS = web.AppKey("bounds", Bounds)
