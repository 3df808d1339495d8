"""What one client address may hold at once, and running out of descriptors.

Flood limits (``--rate-limit``) bound how fast an address acts; these bound
how much it holds: open connections on every door, TCP connections that
have not yet sent a request, and HTTP API sessions (each holds a nickname).
Without them one address could take every file descriptor of the process
and lock everyone else out. Behind a trusted proxy the address is the
client's (``X-Forwarded-For``); the proxy itself is not held to them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from chat.rules import ChatError

log = logging.getLogger(__name__)
TOO_MANY = "too_many_connections"
"""The error code of every refusal here (HTTP 429)."""


class PerAddress:
    """A count per address with a ceiling; 0 means no ceiling.

    An address at zero is forgotten, so the table holds only addresses
    that hold something now. The first refusal of an address is logged;
    the rest are not until it has held nothing again.
    """

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self._held: dict[str, int] = {}
        self._refused: set[str] = set()

    def take(self, address: str) -> bool:
        """Count one more for ``address``; False (nothing counted) at the limit."""
        held = self._held.get(address, 0)
        if self.limit and held >= self.limit:
            if address not in self._refused:
                self._refused.add(address)
                log.warning(
                    "%s holds %d %s: refusing more (limit %d)",
                    address,
                    held,
                    self.what,
                    self.limit,
                )
            return False
        self._held[address] = held + 1
        return True

    def give(self, address: str) -> None:
        held = self._held.get(address, 0) - 1
        if held > 0:
            self._held[address] = held
        else:
            self._held.pop(address, None)
            self._refused.discard(address)

    def held(self, address: str) -> int:
        return self._held.get(address, 0)

    def refusal(self) -> ChatError:
        return refusal(self.what, self.limit)


def refusal(what: str, limit: int) -> ChatError:
    return ChatError(
        TOO_MANY,
        f"Too many {what} from your address (at most {limit}); "
        "close some and try again.",
        retry_after=5,
    )


class Exhaustion:
    """Whether the process has run out of file descriptors.

    Said once in the log when it begins and once when it ends, not once per
    refused connection; ``/readyz`` reports :attr:`problem` meanwhile.
    """

    def __init__(self) -> None:
        self.problem: str | None = None

    def hit(self, exc: OSError) -> None:
        if self.problem is None:
            self.problem = f"out of file descriptors: {exc.strerror or exc}"
            log.warning(
                "cannot accept connections: %s (raise the open-file limit, "
                "or see who holds the connections)",
                self.problem,
            )

    def cleared(self) -> None:
        if self.problem is not None:
            self.problem = None
            log.info("accepting connections again: file descriptors are free")


@dataclass(frozen=True)
class Bounds:
    """The per-address bounds of one process (see ``--max-*-per-address``)."""

    connections: PerAddress
    """Socket.IO sessions, /ws connections and HTTP API long polls."""
    handshakes: PerAddress
    """TCP connections that have not sent their first request yet."""
    tcp: PerAddress
    """All TCP connections: a backstop for what is neither of the above."""
    sessions: int
    handshake_timeout: float
    fds: Exhaustion = field(default_factory=Exhaustion)

    @classmethod
    def of(
        cls,
        connections: int,
        handshakes: int,
        sessions: int,
        handshake_timeout: float,
    ) -> Bounds:
        # Every connection on a door began as a TCP connection, and a few
        # more may be on their way in; short requests (pages, API calls)
        # come and go within the same allowance.
        tcp = connections + handshakes if connections and handshakes else 0
        return cls(
            connections=PerAddress(connections, "connections"),
            handshakes=PerAddress(handshakes, "connections still opening"),
            tcp=PerAddress(tcp, "connections"),
            sessions=sessions,
            handshake_timeout=handshake_timeout,
        )
