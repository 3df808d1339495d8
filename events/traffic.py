"""What the Admin UI's dashboard charts: connections and bytes per second.

Counted as ``@socket.io/admin-ui`` 0.5.1's own server counts them (its
``EventBuffer``): per second, per type (and subtype: a disconnection's
reason), handed over and forgotten with every ``server_stats``. The UI charts
``rawConnection``/``rawDisconnection`` and ``bytesIn``/``bytesOut``;
``packetsIn``/``packetsOut`` go along as the package sends them.

Only while someone watches (:class:`events.admin.Admin` hangs a
:class:`Traffic` on the engine then, and takes it down after): the counting
points check for it, and do nothing without it. Bytes are counted where a
packet is whole anyway: a received Socket.IO packet's UTF-8 size, and a
sent one's WebSocket frame, once per broadcast (frame size × recipients),
never per recipient.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Key = tuple[int, str, str | None]
"""(second, type, subtype)"""


class Traffic:
    __slots__ = ("_clock", "_counts")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[Key, int] = {}

    def count(self, kind: str, n: int = 1, sub: str | None = None) -> None:
        key = (int(self._clock()), kind, sub)
        self._counts[key] = self._counts.get(key, 0) + n

    def heard(self, size: int) -> None:
        """One packet received, of ``size`` bytes."""
        self.count("packetsIn")
        self.count("bytesIn", size)

    def sent(self, packets: int, size: int) -> None:
        """``packets`` packets sent, ``size`` bytes in all."""
        if packets:
            self.count("packetsOut", packets)
            self.count("bytesOut", size)

    def drain(self) -> list[dict[str, Any]]:
        """What was counted since the last call, as ``aggregatedEvents``."""
        out = []
        for (second, kind, sub), n in self._counts.items():
            entry: dict[str, Any] = {"timestamp": second * 1000, "type": kind}
            if sub is not None:
                entry["subType"] = sub
            entry["count"] = n
            out.append(entry)
        self._counts.clear()
        return out
