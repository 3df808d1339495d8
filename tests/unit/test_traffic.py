"""The Admin UI's counts: per second and type, as @socket.io/admin-ui's
EventBuffer keeps them (a fake clock stands for time)."""

from __future__ import annotations

from events.traffic import Traffic


def test_counts_per_second_and_type_until_drained() -> None:
    now = [100.2]
    traffic = Traffic(clock=lambda: now[0])
    traffic.heard(30)
    traffic.sent(3, 300)  # one broadcast to three
    now[0] = 100.9
    traffic.heard(20)
    traffic.count("rawDisconnection", sub="transport close")
    now[0] = 101.0
    traffic.sent(1, 50)
    traffic.sent(0, 0)  # a form nobody gets: nothing

    assert traffic.drain() == [
        {"timestamp": 100_000, "type": "packetsIn", "count": 2},
        {"timestamp": 100_000, "type": "bytesIn", "count": 50},
        {"timestamp": 100_000, "type": "packetsOut", "count": 3},
        {"timestamp": 100_000, "type": "bytesOut", "count": 300},
        {
            "timestamp": 100_000,
            "type": "rawDisconnection",
            "subType": "transport close",
            "count": 1,
        },
        {"timestamp": 101_000, "type": "packetsOut", "count": 1},
        {"timestamp": 101_000, "type": "bytesOut", "count": 50},
    ]
    assert traffic.drain() == []
