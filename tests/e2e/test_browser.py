"""The chat page in a real browser (headless Chromium through Playwright)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import WAIT, LiveServer, OpenPage, chatting
from tests.helpers import SioClient, eventually, slow_commits
from tests.texts import PERSIAN, TECHNOLOGIST

pytestmark = pytest.mark.browser


async def test_two_people_chat(url: str, open_page: OpenPage, output_dir: Path) -> None:
    ming = await chatting(open_page, url, "小明")
    await ming.see("小明 加入了群聊")
    hong = await chatting(open_page, url, "小红")
    await hong.see("小红 加入了群聊")
    await ming.see("小红 加入了群聊")

    for chat in (ming, hong):
        await expect(chat.page).to_have_title(f"{chat.name}的群聊")
        await expect(chat.page.locator("#heading")).to_have_text(f"{chat.name}的群聊")
        await expect(chat.page.locator("#users > li")).to_have_text(["小明", "小红"])
        await expect(chat.page.locator("#status")).to_have_text("已连接")
        await expect(chat.page.locator("#send")).to_have_text("发送")

    await ming.send("你好，小红！今天的会议改到三点。")
    await hong.see("小明: 你好，小红！今天的会议改到三点。")
    await hong.send("收到，三点见！")
    await ming.see("小红: 收到，三点见！")
    await ming.see("小明: 你好，小红！今天的会议改到三点。")
    await hong.see("小红: 收到，三点见！")
    await expect(ming.page.locator("#input")).to_have_value("")
    await ming.send("会议室在三楼，议程见 https://example.com/agenda")
    await hong.send("好的。\n我把上周的报告也带上。")
    await ming.see("小红: 好的。\n我把上周的报告也带上。")
    await hong.see("小明: 会议室在三楼，议程见 https://example.com/agenda")

    # README's screenshot (docs/screenshot.png is a copy of this one).
    await hong.page.evaluate("document.fonts.ready")
    assert hong.page.viewport_size == {"width": 900, "height": 600}
    await hong.page.screenshot(path=str(output_dir / "two-people-chatting.png"))
    assert (output_dir / "two-people-chatting.png").stat().st_size > 1000

    # Text is text: markup typed by someone is shown, never interpreted.
    await ming.send("<b>x</b>")
    for chat in (ming, hong):
        await chat.see("小明: <b>x</b>")
        assert await chat.page.locator("#lines b").count() == 0


async def test_english_page(url: str, open_page: OpenPage) -> None:
    alice = await chatting(open_page, url, "Alice", locale="en-US")
    await alice.see("Alice joined the chat")
    await expect(alice.page).to_have_title("Alice's group chat")
    await expect(alice.page.locator("html")).to_have_attribute("lang", "en")
    await expect(alice.page.locator("#status")).to_have_text("Connected")
    await expect(alice.page.locator("#send")).to_have_text("Send")
    await expect(alice.page.locator("#users-heading")).to_have_text("Online 1")

    bob = await chatting(open_page, url, "Bob", locale="en-US")
    await alice.see("Bob joined the chat")
    await bob.send("hello in English")
    await alice.see("Bob: hello in English")
    # Nothing Chinese leaks into the English page.
    text = await alice.page.locator("body").inner_text()
    assert "加入" not in text and "已连接" not in text


async def test_phone_viewport(url: str, sio_client, open_page: OpenPage) -> None:
    # Enough history to overflow a phone screen many times over.
    bot: SioClient = await sio_client()
    await bot.join("bot")
    for i in range(1, 41):
        assert (await bot.call("message", f"line {i}"))["ok"]

    phone = await chatting(
        open_page,
        url,
        "手机",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    await phone.see("bot: line 40")
    width, height = 390, 844
    for selector in ("#input", "#send", "#status"):
        box = await phone.page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["y"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= width, (selector, box)
        assert box["y"] + box["height"] <= height, (selector, box)
    send = await phone.page.locator("#send").bounding_box()
    assert send is not None and send["height"] >= 30 and send["width"] >= 44
    await expect(phone.page.locator("aside")).to_be_hidden()
    # The newest line is scrolled into view, and the page itself doesn't scroll.
    await expect(phone.line("bot: line 40")).to_be_in_viewport()
    scroll = await phone.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert scroll == [width, height]

    await phone.page.locator("#input").tap()
    await phone.page.locator("#input").fill("发自手机")
    await phone.page.locator("#send").tap()
    await phone.see("手机: 发自手机")
    assert await bot.inbox.wait("message", lambda m: m == "手机: 发自手机")


async def test_websocket_demo_talks_to_socketio_page(
    open_page: OpenPage, url: str
) -> None:
    sio = await chatting(open_page, url, "小明")
    ws = await open_page(url + "/demo/websocket", "阿强")
    await expect(ws.page.locator("#status")).to_have_text("已连接", timeout=WAIT)
    await sio.see("阿强 加入了群聊")
    await ws.see("阿强 加入了群聊")

    await ws.send("来自 WebSocket 的问候")
    await sio.see("阿强: 来自 WebSocket 的问候")
    await ws.see("阿强: 来自 WebSocket 的问候")

    await sio.send("来自 Socket.IO 的回复")
    await ws.see("小明: 来自 Socket.IO 的回复")
    # The demo inserts lines as HTML: the name is bold, the text plain.
    reply = ws.line("小明: 来自 Socket.IO 的回复")
    await expect(reply.locator("b")).to_have_text("小明")

    # ...so the server must escape what goes to it.
    await sio.send("<i>not italic</i><img src=x onerror=alert(1)>")
    await ws.see("小明: <i>not italic</i><img src=x onerror=alert(1)>")
    assert await ws.page.locator("#lines i, #lines img").count() == 0

    await sio.page.close()
    await ws.see("小明 离开了群聊")


HONG = {"name": "小红", "format": "both", "client": "hong"}
"""python-socketio cannot recover; its client id takes its name back."""


async def test_page_catches_up_after_server_restart(
    live_server: LiveServer, open_page: OpenPage
) -> None:
    ming = await chatting(open_page, live_server.url, "小明")
    hong = await SioClient().connect(live_server.url)
    try:
        await hong.call("join", HONG)
        await ming.send("消息 1")
        await hong.inbox.wait("chat", lambda m: m["text"] == "消息 1")
        assert (await hong.call("message", "消息 2"))["id"] == 2
        await ming.see("小明: 消息 1")
        await ming.see("小红: 消息 2")
    finally:
        await hong.sio.disconnect()

    await live_server.stop()
    await ming.status("reconnecting")

    # The new server runs, but the page cannot reach it yet: what is posted
    # now is exactly what the page must catch up on when it reconnects.
    await live_server.start(listen=False)
    hong = await SioClient().connect(await live_server.side_door())
    try:
        await hong.call("join", HONG)
        assert (await hong.call("message", "消息 3"))["id"] == 3
        assert (await hong.call("message", "消息 4"))["id"] == 4
        await expect(ming.page.locator("#status")).to_have_class("status reconnecting")
        await live_server.listen()

        await ming.status("connected", timeout=20_000)
        await ming.see("小红: 消息 4")
        await asyncio.sleep(0.5)  # anything duplicated would have arrived by now
        # Back within --shutdown-grace: 小明 took the name back, quietly.
        assert "小明" not in hong.inbox.of("join")
        assert "小明" in (await hong.call("join", "小红"))["users"]
    finally:
        await hong.sio.disconnect()

    messages = [t for t in await ming.texts() if "消息" in t]
    assert messages == ["小明: 消息 1", "小红: 消息 2", "小红: 消息 3", "小红: 消息 4"]
    ids = await ming.page.locator("#lines > li[data-id]").evaluate_all(
        "els => els.map(e => Number(e.dataset.id))"
    )
    assert ids == [1, 2, 3, 4]
    # Caught-up messages are live ones, not "earlier" history.
    assert await ming.page.locator("#lines > li.earlier").count() == 0
    assert await ming.page.locator("#lines > li.separator").count() == 0


async def test_stop_drops_socketio_websockets_at_once(
    live_server: LiveServer, open_page: OpenPage
) -> None:
    ming = await chatting(open_page, live_server.url, "小明")
    # Wait until the page has upgraded from polling to a WebSocket ("5").
    await eventually(lambda: "5" in ming.frames_sent, timeout=WAIT / 1000)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await live_server.stop()
    await ming.status("reconnecting")
    assert loop.time() - started < 1.0


async def post(url: str, name: str, *texts: str) -> list[int]:
    """Messages from a short-lived Python client; their ids."""
    client = await SioClient().connect(url)
    try:
        await client.join(name)
        return [(await client.call("message", text))["id"] for text in texts]
    finally:
        await client.sio.disconnect()


async def test_history_reset_is_shown_once(
    live_server: LiveServer, open_page: OpenPage, tmp_path: Path
) -> None:
    ming = await chatting(open_page, live_server.url, "小明")
    assert await post(live_server.url, "小红", "旧 1", "旧 2", "旧 3") == [1, 2, 3]
    await ming.see("小红: 旧 3")

    # The server comes back with an empty database: ids start again at 1.
    await live_server.stop()
    live_server.db = str(tmp_path / "new.db")
    await live_server.start(listen=False)
    assert await post(await live_server.side_door(), "小红", "新 1") == [1]
    await live_server.listen()
    await ming.status("connected", timeout=20_000)
    await ming.see("小红: 新 1")

    # An ordinary restart later: nothing new, so nothing more to show.
    await live_server.stop()
    await ming.status("reconnecting")
    await live_server.start()
    await ming.status("connected", timeout=20_000)
    await asyncio.sleep(0.5)  # the history arrives right after the connect
    await ming.see("小红: 新 1", count=1, timeout=1000)


@pytest.mark.slow
async def test_someone_still_typing_still_shows_as_typing(
    url: str, open_page: OpenPage
) -> None:
    """The page refreshes its indicator within the server's expiry."""
    ming = await chatting(open_page, url, "小明")
    hong = await chatting(open_page, url, "小红")
    await ming.see("小红 加入了群聊")
    typing = hong.page.locator("#typing")
    for _ in range(16):  # 8 s of steady typing: past the server's 6 s expiry
        await ming.page.locator("#input").press("a")
        await asyncio.sleep(0.5)
        await expect(typing).to_have_text("小明 正在输入…")
    # Then a pause: it stops showing shortly after.
    await expect(typing).to_have_text("", timeout=6_000)


async def test_emoji_and_joiners_in_names_and_text(
    url: str, open_page: OpenPage
) -> None:
    # 40 emoji: the page keeps 32 code points, never half of a surrogate pair.
    laughing = "\U0001f600" * 40
    long = await chatting(open_page, url, laughing, locale="en-US")
    await long.see(f"{laughing[:32]} joined the chat")
    coder = await chatting(open_page, url, TECHNOLOGIST, locale="en-US")
    await long.see(f"{TECHNOLOGIST} joined the chat")
    await coder.send(PERSIAN)
    await long.see(f"{TECHNOLOGIST}: {PERSIAN}")
    await expect(coder.page.locator("#heading")).to_have_text(
        f"{TECHNOLOGIST}'s group chat"
    )


async def test_a_post_never_answered_is_said(
    server, url: str, open_page: OpenPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    ming = await chatting(open_page, url, "小明")
    await ming.page.evaluate("window.chatAckTimeout = 500")
    slow_commits(monkeypatch, server.app, 3.0)
    await ming.send("在吗")
    await ming.see("没有收到服务器的确认，可能没有发出：在吗")
