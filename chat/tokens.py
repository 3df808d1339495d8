"""Random ids, drawn from a pool of the system's randomness.

Each connection takes three (its Engine.IO and Socket.IO ids and its
recovery ``pid``); a system call for each cost more than the rest of an id.
The pool is read from ``os.urandom`` 4 KB at a time and never reused.
"""

from __future__ import annotations

import base64
import os

_POOL = 4096
_pool = b""
_at = 0


def token(size: int) -> str:
    """``size`` random bytes, URL-safe base64 (no padding when ``size`` is a
    multiple of 3)."""
    global _pool, _at
    if _at + size > len(_pool):
        _pool, _at = os.urandom(_POOL), 0
    raw = _pool[_at : _at + size]
    _at += size
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
