"""The tutorial's own page, unmodified, across a blip and a restart.

It emits ``join`` once, at page load; only connection-state recovery keeps
its name and its missed lines when its socket comes back.
"""

from __future__ import annotations

from tests.e2e.conftest import LiveServer, OpenPage
from tests.helpers import SioClient

PEER = {"name": "peer", "format": "both", "client": "peer"}


async def test_tutorial_page_keeps_its_name_across_a_blip_and_a_restart(
    live_server: LiveServer, open_page: OpenPage
) -> None:
    page = await open_page(live_server.url + "/tutorial", "tut")
    messages = page.page.locator("#messages > li")
    await page.page.locator("#messages > li", has_text="tut joined").wait_for()
    peer = await SioClient().connect(live_server.url)
    await peer.call("join", PEER)

    async def sees(text: str) -> None:
        await page.page.locator("#messages > li", has_text=text).wait_for()

    async def says(text: str) -> None:
        await page.page.fill("#input", text)
        await page.page.press("#input", "Enter")
        await peer.inbox.wait("chat", lambda m: m["text"] == text)
        chat = next(m for m in peer.inbox.of("chat") if m["text"] == text)
        assert chat["name"] == "tut"

    await says("hello")
    # A blip: the transport closes under the page; it reconnects by itself.
    await page.page.evaluate("socket.io.engine.close()")
    for n in range(3):
        await peer.call("message", f"while away {n}")
    await page.page.wait_for_function("socket.connected && socket.recovered")
    await sees("peer: while away 2")
    await says("after the blip")

    await peer.sio.disconnect()
    await live_server.stop()
    await live_server.start(listen=False)
    peer = await SioClient().connect(await live_server.side_door())
    await peer.call("join", PEER)
    await peer.call("message", "during the restart")
    await live_server.listen()
    await page.page.wait_for_function(
        "socket.connected && socket.recovered", timeout=20_000
    )
    await sees("peer: during the restart")
    await says("after the restart")
    await sees("tut: after the restart")  # its own line, back from the server
    await peer.sio.disconnect()

    texts = await messages.all_inner_texts()
    lines = [t for t in texts if ": " in t]
    assert lines == [
        "tut: hello",
        "peer: while away 0",
        "peer: while away 1",
        "peer: while away 2",
        "tut: after the blip",
        "peer: during the restart",
        "tut: after the restart",
    ]
    assert "tut left" not in texts
    assert texts.count("tut joined") == 1
