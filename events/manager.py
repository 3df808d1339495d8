"""python-socketio's client manager, kept O(1) per connection: it touches
python-socketio internals.

Written against python-socketio 5.18.1 (pinned; ``tests/unit/test_engine.py``
fingerprints ``BaseManager.basic_disconnect``, ``pre_connect``,
``pre_disconnect``, ``basic_enter_room``, ``basic_leave_room`` and
``get_rooms``, and the ``rooms``, ``callbacks``, ``pending_connect`` and
``pending_disconnect`` they keep).

Why: every connection has a room of its own (its sid), and the base manager
finds a leaving connection's rooms by looking in every room of the
namespace, and keeps the connections being connected or disconnected in
lists. Each disconnect then costs time in proportion to the connections
there are: 19,000 dropping at once (a network blip, a proxy restart) took
the process 70 s. Here a connection's rooms are known (its sid's, the
namespace's, and the few others it entered) and the pending ones are sets.
"""

from __future__ import annotations

from typing import Any

import socketio


class _Pending(set[str]):
    """The base manager's pending lists as a set: it appends and removes."""

    def append(self, sid: str) -> None:
        self.add(sid)


class ChatManager(socketio.AsyncManager):  # type: ignore[misc]
    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, Any]
    pending_disconnect: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self._entered: dict[tuple[str, str], set[Any]] = {}
        """Rooms other than its own and the namespace's, per connection
        (none for a chat session: its rooms are the chat's, not these)."""

    def pre_connect(self, eio_sid: str, namespace: str) -> Any:
        self.pending_connect.setdefault(namespace, _Pending())
        return super().pre_connect(eio_sid, namespace)

    def pre_disconnect(self, sid: str, namespace: str) -> Any:
        self.pending_disconnect.setdefault(namespace, _Pending())
        return super().pre_disconnect(sid, namespace)

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if room is not None and room != sid:
            self._entered.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        entered = self._entered.get((namespace, sid))
        if entered is not None:
            entered.discard(room)
            if not entered:
                del self._entered[namespace, sid]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        rooms = self.rooms.get(namespace, {})
        own = [sid] if sid in rooms.get(sid, ()) else []
        return own + sorted(self._entered.get((namespace, sid), ()), key=str)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in (*self._entered.get((namespace, sid), ()), sid, None):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]
