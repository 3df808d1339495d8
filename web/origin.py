"""One cross-origin rule for every door (``--cors-origins``)."""

from __future__ import annotations


def origin_allowed(origin: str | None, allowed: str | list[str]) -> bool:
    """Whether a request from ``origin`` may connect or write.

    A request without an ``Origin`` header does not come from a page on
    another site (browsers always send one cross-site), so it is allowed.
    """
    return origin is None or allowed == "*" or origin in allowed
