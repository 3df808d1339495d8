"""What the server counts and times, for ``/metrics`` (Prometheus).

One registry per app, not prometheus-client's global one, so that every
test (and every app in a process) counts on its own. Counts the core keeps
anyway (messages stored, connections) are read when scraped, by
:mod:`web.metrics`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Stats:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "chat_deliveries",
            "Events written to recipients, per door.",
            ["door"],
            registry=r,
        )
        self.rejections = Counter(
            "chat_rejections",
            "Requests refused with an error to the client, by error code.",
            ["reason"],
            registry=r,
        )
        self.slow_drops = Counter(
            "chat_slow_client_drops",
            "Connections dropped for leaving too much unread (--max-unsent).",
            registry=r,
        )
        self.commit_seconds = Histogram(
            "chat_commit_seconds",
            "Time to store one group of messages.",
            buckets=_FAST,
            registry=r,
        )
        self.broadcast_seconds = Histogram(
            "chat_broadcast_seconds",
            "Time to hand one batch of events to every door of this process.",
            buckets=_FAST,
            registry=r,
        )
        self.bus_lag_seconds = Histogram(
            "chat_bus_lag_seconds",
            "From a message's post on another process to its arrival here.",
            buckets=_FAST + (2.5, 5.0, 10.0),
            registry=r,
        )
        self.events_received = Counter(
            "chat_events_received",
            "Socket.IO events received from clients (join, message, typing).",
            registry=r,
        )
        self.gaps_repaired = Counter(
            "chat_gaps_repaired",
            "Gaps in a room's ids filled from the store before delivery.",
            registry=r,
        )

    def rejected(self, code: str) -> None:
        self.rejections.labels(code).inc()


def total(counter: Counter, **labels: str) -> float:
    """A counter's value so far (of the children with ``labels``), read
    through prometheus-client's public ``collect``."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )
