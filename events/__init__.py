"""The Socket.IO front door: a thin adapter over :class:`chat.service.ChatService`.

One module per concern: ``server`` builds the AsyncServer, ``door`` carries
core events out to Socket.IO rooms, ``connection``, ``messages`` and
``typing`` handle what clients send.
"""

from __future__ import annotations

from events.server import create_sio

__all__ = ["create_sio"]
