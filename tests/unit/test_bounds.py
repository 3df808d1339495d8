"""Per-address counters and the out-of-descriptors state, without a server."""

from __future__ import annotations

import errno
import logging

import pytest

from chat.bounds import TOO_MANY, Bounds, Exhaustion, PerAddress


def test_an_address_is_refused_at_its_limit_and_others_are_not() -> None:
    slots = PerAddress(2, "connections")
    assert slots.take("10.0.0.1") and slots.take("10.0.0.1")
    assert not slots.take("10.0.0.1")
    assert slots.held("10.0.0.1") == 2  # a refusal counts nothing
    assert slots.take("10.0.0.2")
    slots.give("10.0.0.1")
    assert slots.take("10.0.0.1")


def test_zero_is_no_limit_and_idle_addresses_are_forgotten() -> None:
    slots = PerAddress(0, "connections")
    assert all(slots.take("10.0.0.1") for _ in range(1000))
    for _ in range(1000):
        slots.give("10.0.0.1")
    assert slots.held("10.0.0.1") == 0 and not slots._held


def test_the_refusal_says_what_and_how_many() -> None:
    error = PerAddress(3, "connections").refusal()
    assert error.code == TOO_MANY and "at most 3" in error.message
    assert len(error.message.encode()) <= 123  # fits a WebSocket close reason


def test_a_refused_address_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    slots = PerAddress(1, "connections")
    slots.take("10.0.0.1")
    with caplog.at_level(logging.WARNING, "chat.bounds"):
        for _ in range(5):
            slots.take("10.0.0.1")
    assert len(caplog.records) == 1
    assert "10.0.0.1" in caplog.text


def test_running_out_of_descriptors_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fds = Exhaustion()
    with caplog.at_level(logging.INFO, "chat.bounds"):
        for _ in range(10):
            fds.hit(OSError(errno.EMFILE, "Too many open files"))
        assert fds.problem == "out of file descriptors: Too many open files"
        fds.cleared()
        fds.cleared()
    assert fds.problem is None
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO"]


def test_tcp_connections_are_bounded_by_the_sum() -> None:
    bounds = Bounds.of(4, 2, 8, 5.0)
    assert (bounds.connections.limit, bounds.handshakes.limit) == (4, 2)
    assert bounds.tcp.limit == 6
    assert Bounds.of(0, 2, 8, 5.0).tcp.limit == 0
