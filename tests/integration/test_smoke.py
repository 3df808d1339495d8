from __future__ import annotations

from tests.helpers import SioClient


async def test_two_clients(sio_client) -> None:
    alice: SioClient = await sio_client()
    bob: SioClient = await sio_client()
    await alice.join("alice")
    await bob.join("bob")
    reply = await alice.call("message", "hi")
    assert reply["ok"] and reply["id"] == 1
    assert await bob.inbox.wait("message", lambda m: m == "alice: hi")
