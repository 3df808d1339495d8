"""A store's current fault, logged when it begins and ends, not per message."""

from __future__ import annotations

import logging

from chat.history import StoreFailed

log = logging.getLogger("store")


class Health:
    def __init__(self, where: str) -> None:
        self.where = where
        """What the log names: a file path, a server address."""
        self.problem: str | None = None
        self.final = False
        """The fault cannot pass while the server runs (the file was removed)."""

    def failed(self, problem: str, *, final: bool = False) -> StoreFailed:
        """Record ``problem``; the error to raise for it."""
        if self.final:
            assert self.problem is not None
            return StoreFailed(self.problem)  # the first final fault stands
        if problem != self.problem:
            until = "the server is restarted" if final else "this is fixed"
            log.error(
                "%s: %s. Messages are refused until %s.", self.where, problem, until
            )
        self.problem = problem
        self.final = final
        return StoreFailed(problem)

    def ok(self) -> None:
        """A write succeeded."""
        if self.problem is not None and not self.final:
            log.warning("%s: messages can be saved again", self.where)
            self.problem = None
