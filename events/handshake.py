"""The Socket.IO CONNECT with connection-state recovery (socket.io 4.6+).

One of the modules that use python-socketio internals (with
:mod:`events.chat_server` and :mod:`events.manager`; 5.18.1, pinned;
``tests/unit/test_engine.py`` fingerprints what is used here):
``AsyncServer._send_packet``, ``_trigger_event``, ``environ``,
``manager.basic_enter_room`` (and the bidict error it raises
for an id in use) and ``eio.generate_id``.

python-socketio has no recovery: its ``_handle_connect`` makes a new sid
and answers ``{"sid"}``. Here the CONNECT's ``pid`` and ``offset`` are read
first; a session taken back (see :mod:`chat.recovery`) keeps its old sid,
and the answer is ``{"sid", "pid"}`` with the same pid, which is how the
official client knows it recovered. The connect handler then runs with
:func:`resuming` telling it what was recovered, and sends what was missed
after the CONNECT.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Protocol

import socketio
from bidict import ValueDuplicationError
from socketio import packet as sio_packet

from chat.recovery import Resume

NAMESPACE = "/"


@dataclass(frozen=True, slots=True)
class Resuming:
    pid: str
    """The session's private id, sent to the client in CONNECT."""
    resume: Resume | None
    """What was recovered; None: a fresh connection."""
    refused: bool
    """The client asked to recover and could not (unknown, expired, taken,
    another epoch): it is told so."""


_resuming: contextvars.ContextVar[Resuming | None] = contextvars.ContextVar(
    "resuming", default=None
)


def resuming() -> Resuming | None:
    """In a connect handler, with recovery on: the session's pid and what
    was recovered."""
    return _resuming.get()


class Sessions(Protocol):
    """Where recoverable sessions are (chat.resumption.Resumption)."""

    async def take(self, pid: object, offset_value: object) -> Resume | None: ...

    def new_pid(self) -> str: ...


async def connect(
    server: socketio.AsyncServer, eio_sid: str, data: Any, sessions: Sessions
) -> None:
    """python-socketio's ``_handle_connect`` for the default namespace, with
    recovery (and ``always_connect``: CONNECT goes before the handler)."""
    auth = dict(data) if isinstance(data, dict) else None
    pid = auth.pop("pid", None) if auth is not None else None
    at = auth.pop("offset", None) if auth is not None else None
    resume = await sessions.take(pid, at) if pid is not None else None
    sid = None
    if resume is not None and _register(server, resume.session.sid, eio_sid):
        sid = resume.session.sid
    else:
        resume = None  # its old connection is still here: start afresh
        sid = server.eio.generate_id()
        if not _register(server, sid, eio_sid):
            return  # this Engine.IO session is connected already
    state = Resuming(
        pid=resume.session.pid if resume is not None else sessions.new_pid(),
        resume=resume,
        refused=pid is not None and resume is None,
    )
    await server._send_packet(
        eio_sid,
        sio_packet.Packet(
            sio_packet.CONNECT, {"sid": sid, "pid": state.pid}, namespace=NAMESPACE
        ),
    )
    token = _resuming.set(state)
    try:
        await server._trigger_event(
            "connect", NAMESPACE, sid, server.environ[eio_sid], auth or None
        )
    finally:
        _resuming.reset(token)


def _register(server: socketio.AsyncServer, sid: str, eio_sid: str) -> bool:
    """Connect ``sid`` on ``eio_sid``; False if either is connected already."""
    if server.manager.eio_sid_from_sid(sid, NAMESPACE) is not None:
        return False
    try:
        server.manager.basic_enter_room(sid, NAMESPACE, None, eio_sid=eio_sid)
    except ValueDuplicationError:
        return False
    server.manager.basic_enter_room(sid, NAMESPACE, sid, eio_sid=eio_sid)
    return True
