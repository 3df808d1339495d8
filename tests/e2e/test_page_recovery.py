"""The chat page across a blip it recovers from: the list of people.

Joins and leaves are not in the history, so the missed lines alone would
leave the page's list as it was before the blip.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Route, expect

from tests.e2e.conftest import KEEP_SOCKET, WAIT, OpenPage, chatting
from tests.helpers import ServerFactory, SioClient, eventually, url_of
from web.keys import SERVICE

pytestmark = pytest.mark.browser


async def test_page_list_of_people_is_right_after_a_recovery(
    make_server: ServerFactory, open_page: OpenPage
) -> None:
    server = await make_server(recovery_window=120)
    url = url_of(server)
    async with aiohttp.ClientSession() as http:
        # 阿强 is on the plain WebSocket door; he leaves while the page is away.
        qiang = await http.ws_connect(url + "/ws")
        await qiang.send_str(json.dumps({"type": "join", "name": "阿强"}))
        assert (await qiang.receive_json(timeout=WAIT / 1000))["type"] == "joined"
        ming = await chatting(open_page, url, "小明", script=KEEP_SOCKET)
        people = ming.page.locator("#users > li")
        await expect(people).to_have_text(["阿强", "小明"])
        # Blip the WebSocket, not the polling that comes before the upgrade.
        await eventually(lambda: "5" in ming.frames_sent, timeout=WAIT / 1000)

        # The page's way back is held until both changes are made.
        back = asyncio.Event()

        async def hold(route: Route) -> None:
            await back.wait()
            await route.continue_()

        await ming.page.route("**/socket.io/**", hold)
        await ming.page.evaluate("chatSocket.io.engine.close()")
        service = server.app[SERVICE]
        await eventually(lambda: "小明" not in _here(service))

        hong = await SioClient().connect(url)
        await hong.join("小红")
        await qiang.send_str(json.dumps({"type": "leave"}))
        await hong.inbox.wait("user_left", lambda u: u["name"] == "阿强")
        back.set()
        await ming.page.unroute("**/socket.io/**")

        await ming.page.wait_for_function(
            "chatSocket.connected && chatSocket.recovered", timeout=WAIT
        )
        await expect(people.filter(has_text="小红")).to_have_count(1)
        await expect(people.filter(has_text="阿强")).to_have_count(0)
        assert sorted(await people.all_inner_texts()) == ["小明", "小红"]
        await expect(ming.page.locator("#users-heading")).to_have_text("在线 2")
        # Still live: a later leave shows too.
        await hong.call("join", {"name": "小红", "room": "elsewhere"})
        await expect(people).to_have_text(["小明"])
        await hong.sio.disconnect()
        await qiang.close()


def _here(service: Any) -> list[str]:
    return [member.name for member in service.presence.members()]
