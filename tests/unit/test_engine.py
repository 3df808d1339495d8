"""Fails loudly when python-engineio or python-socketio change under us.

events/engine.py, events/chat_server.py, events/link.py, events/handshake.py
and events/manager.py override or call these library internals. Each one's
source is fingerprinted here as it was when the module was written; an
upgrade that changes any of them fails this test, naming the function to
re-read before the pin in pyproject.toml moves.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import engineio
import pytest
import socketio
from engineio import async_socket, base_server as eio_base_server, base_socket
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import base_manager, base_server

from events.chat_server import ChatServer
from events.engine import Engine
from events.link import Link
from events.manager import ChatManager

RELIED_ON: dict[str, tuple[Any, str]] = {
    # replaced by Engine.generate_id (python-socketio's ids come from it too)
    "engineio.base_server.BaseServer.generate_id": (
        eio_base_server.BaseServer.generate_id,
        "b6a591454237c0bb",
    ),
    # replaced by Engine._handle_connect
    "engineio.AsyncServer._handle_connect": (
        engineio.AsyncServer._handle_connect,
        "5bd7edc1d1ae115a",
    ),
    # routes requests to Link.handle_get_request and friends; a poll's
    # QueueEmpty (Link.poll of an ended session) becomes a 400
    "engineio.AsyncServer.handle_request": (
        engineio.AsyncServer.handle_request,
        "1a8c878e35166cfe",
    ),
    # Engine._post reads polling POSTs instead (no 16-packet limit, 413)
    "engineio.AsyncSocket.handle_post_request": (
        async_socket.AsyncSocket.handle_post_request,
        "82dca119a261a959",
    ),
    # Engine._reply: the driver's translate_request (self._async), the CORS
    # headers; max_http_buffer_size and reason are set here
    "engineio.base_server.BaseServer.__init__": (
        eio_base_server.BaseServer.__init__,
        "a06b17502fbd9646",
    ),
    "engineio.base_server.BaseServer._cors_headers": (
        eio_base_server.BaseServer._cors_headers,
        "da3a25b4305292e2",
    ),
    "engineio.async_drivers.aiohttp.translate_request": (
        eio_aiohttp.translate_request,
        "20aa782740060790",
    ),
    # Link.close triggers "disconnect" through it
    "engineio.AsyncServer._trigger_event": (
        engineio.AsyncServer._trigger_event,
        "4a09b6e47eb66532",
    ),
    # the attributes Link declares
    "engineio.base_socket.BaseSocket.__init__": (
        base_socket.BaseSocket.__init__,
        "8532b631a4dc815f",
    ),
    # overridden by Link
    "engineio.AsyncSocket.send": (async_socket.AsyncSocket.send, "0437276ccba7ab09"),
    "engineio.AsyncSocket.poll": (async_socket.AsyncSocket.poll, "826f58a9f3606db2"),
    "engineio.AsyncSocket.close": (async_socket.AsyncSocket.close, "faa2e93902543244"),
    "engineio.AsyncSocket.schedule_ping": (
        async_socket.AsyncSocket.schedule_ping,
        "fe316639159cd70d",
    ),
    "engineio.AsyncSocket._websocket_handler": (
        async_socket.AsyncSocket._websocket_handler,
        "27f120df4d717a24",
    ),
    # called by Link: PONG must call schedule_ping, MESSAGE the server
    "engineio.AsyncSocket.receive": (
        async_socket.AsyncSocket.receive,
        "a91ae36ec2fb5340",
    ),
    "engineio.AsyncSocket.handle_get_request": (
        async_socket.AsyncSocket.handle_get_request,
        "05eaae9f0a60d9be",
    ),
    "engineio.AsyncSocket._upgrade_websocket": (
        async_socket.AsyncSocket._upgrade_websocket,
        "820b83efe96adb98",
    ),
    # Link reads ws._sock and ws.environ["aiohttp.request"]
    "engineio.async_drivers.aiohttp.WebSocket.__call__": (
        eio_aiohttp.WebSocket.__call__,
        "71f9a94476d737c3",
    ),
    # wrapped by ChatServer
    "socketio.AsyncServer._handle_event_internal": (
        socketio.AsyncServer._handle_event_internal,
        "472e8b723a12d507",
    ),
    "socketio.AsyncServer._handle_eio_message": (
        socketio.AsyncServer._handle_eio_message,
        "bef50fc0e1635921",
    ),
    "socketio.AsyncServer._handle_eio_connect": (
        socketio.AsyncServer._handle_eio_connect,
        "76704886d944a7e6",
    ),
    "socketio.AsyncServer._handle_eio_disconnect": (
        socketio.AsyncServer._handle_eio_disconnect,
        "9344593148b66fd9",
    ),
    # replaced by ChatServer._handle_connect for a refused session or a
    # namespace gate (the Admin UI's password), which must act before its
    # always_connect sends CONNECT; _send_packet sends the CONNECT_ERROR;
    # events/handshake.py replaces it for the default namespace (CONNECT
    # first, always_connect) and registers the sid as pre_connect does
    "socketio.AsyncServer._handle_connect": (
        socketio.AsyncServer._handle_connect,
        "c97c480cf777de36",
    ),
    # SocketIODoor.kick
    "socketio.AsyncServer.disconnect": (
        socketio.AsyncServer.disconnect,
        "7d2f76686c12cc23",
    ),
    # passes unknown options (max_unsent) on to Engine; async_handlers off
    "socketio.base_server.BaseServer.__init__": (
        base_server.BaseServer.__init__,
        "6b998e091b34a563",
    ),
    "socketio.AsyncServer._send_packet": (
        socketio.AsyncServer._send_packet,
        "a00022b42c1c29e9",
    ),
    "socketio.AsyncServer._trigger_event": (
        socketio.AsyncServer._trigger_event,
        "01ba90cfa09ba43e",
    ),
    "socketio.base_manager.BaseManager.basic_enter_room": (
        base_manager.BaseManager.basic_enter_room,
        "3f509586d2d7f47e",
    ),
    "socketio.base_manager.BaseManager.pre_connect": (
        base_manager.BaseManager.pre_connect,
        "bfdba4c0c8f1bd8a",
    ),
    # events.manager.ChatManager: what the base keeps, and what it replaces
    "socketio.base_manager.BaseManager.__init__": (
        base_manager.BaseManager.__init__,
        "bfee992d912fe9a4",
    ),
    "socketio.base_manager.BaseManager.basic_disconnect": (
        base_manager.BaseManager.basic_disconnect,
        "2933b50bc4b2ea7b",
    ),
    "socketio.base_manager.BaseManager.pre_disconnect": (
        base_manager.BaseManager.pre_disconnect,
        "18a8d01ed87a9682",
    ),
    "socketio.base_manager.BaseManager.basic_leave_room": (
        base_manager.BaseManager.basic_leave_room,
        "e27f3eea06d1c6a6",
    ),
    "socketio.base_manager.BaseManager.get_rooms": (
        base_manager.BaseManager.get_rooms,
        "56a1017f85af9f91",
    ),
    # ChatServer.link, ChatServer.said_goodbye, handshake._register
    "socketio.base_manager.BaseManager.eio_sid_from_sid": (
        base_manager.BaseManager.eio_sid_from_sid,
        "b0c0aeb5430d5248",
    ),
}


def fingerprint(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(RELIED_ON))
def test_upstream_internals_are_as_written_against(name: str) -> None:
    function, expected = RELIED_ON[name]
    assert fingerprint(function) == expected, (
        f"{name} changed upstream: re-read events/ against it, "
        "then update its fingerprint here and the pin in pyproject.toml"
    )


def test_installed_versions_are_the_pinned_ones() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = dict(
        m.groups() for d in deps if (m := re.fullmatch(r"([\w-]+)==([\w.]+)", d))
    )
    for package in ("python-socketio", "python-engineio"):
        assert metadata.version(package) == pins[package], package


def test_our_classes_plug_in_where_expected() -> None:
    sio = ChatServer(async_mode="aiohttp", max_unsent=4096)
    assert isinstance(sio.eio, Engine) and sio.eio.max_unsent == 4096
    assert sio.eio.async_handlers is False  # our reader awaits each packet
    assert sio.eio.start_service_task is False  # each Link times itself out
    link = Link(sio.eio, "sid")
    for attr in ("queue", "connected", "upgrading", "upgraded", "closing", "closed"):
        assert hasattr(link, attr), attr


def test_the_manager_forgets_a_connection_whole() -> None:
    """ChatManager's own bookkeeping against what the base manager keeps."""
    manager = ChatManager()
    manager.basic_enter_room("s1", "/", None, eio_sid="e1")
    manager.basic_enter_room("s1", "/", "s1", eio_sid="e1")
    manager.basic_enter_room("s1", "/", "extra")
    manager.basic_enter_room("s2", "/", None, eio_sid="e2")
    manager.pre_disconnect("s1", "/")
    assert not manager.is_connected("s1", "/") and manager.is_connected("s2", "/")
    assert manager.get_rooms("s1", "/") == ["s1", "extra"]
    manager.basic_disconnect("s1", "/")
    assert "s1" not in manager.rooms["/"][None] and "extra" not in manager.rooms["/"]
    assert "s1" not in manager.rooms["/"] and "/" not in manager.pending_disconnect
    manager.basic_disconnect("s2", "/")
    assert manager.rooms == {} and manager._entered == {}
