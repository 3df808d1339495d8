"""The chat page's lines in Chromium: times, own lines, colours, unread
counts, earlier pages, links, keyboard and screen reader."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import WAIT, ChatPage, OpenPage, chatting
from tests.helpers import SioClient
from web.keys import SERVICE

pytestmark = pytest.mark.browser

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(zone: ZoneInfo, *when: int) -> float:
    return datetime(*when, tzinfo=zone).timestamp()  # type: ignore[misc]


async def times(chat: ChatPage) -> list[str]:
    return await chat.page.locator("#lines > li.msg time").all_inner_texts()


async def test_each_line_shows_its_time_and_each_day_its_date(
    server, url: str, sio_client, open_page: OpenPage, monkeypatch
) -> None:
    service = server.app[SERVICE]
    bot: SioClient = await sio_client()
    await bot.join("bot")
    # An injected clock: two lines late one evening, one just after midnight
    # (all in Shanghai time).
    for when, text in [((2026, 3, 4, 9, 5), "早"), ((2026, 3, 4, 23, 58), "晚")]:
        monkeypatch.setattr(service, "_clock", lambda when=when: at(SHANGHAI, *when))
        assert (await bot.call("message", text))["ok"]
    monkeypatch.setattr(service, "_clock", lambda: at(SHANGHAI, 2026, 3, 5, 0, 3))
    assert (await bot.call("message", "新的一天"))["ok"]

    shanghai = await chatting(open_page, url, "上海", timezone_id="Asia/Shanghai")
    await shanghai.see("bot: 新的一天")
    assert await times(shanghai) == ["09:05", "23:58", "00:03"]
    days = shanghai.page.locator("#lines > li.day")
    await expect(days).to_have_count(3)  # the third: today, when we joined
    assert (await days.all_inner_texts())[:2] == [
        "2026年3月4日星期三",
        "2026年3月5日星期四",
    ]
    # The date line comes once, before the first line of its day.
    texts = await shanghai.texts()
    first_day = texts.index("2026年3月4日星期三")
    assert texts[first_day + 1 : first_day + 3] == ["bot: 早", "bot: 晚"]
    assert texts[first_day + 3 : first_day + 5] == [
        "2026年3月5日星期四",
        "bot: 新的一天",
    ]
    # Hovering shows the full date and time; the element says it exactly.
    late = shanghai.line("bot: 晚").locator("time")
    assert "2026年3月4日" in (await late.get_attribute("title") or "")
    assert "23:58" in (await late.get_attribute("title") or "")
    assert await late.get_attribute("datetime") == "2026-03-04T15:58:00.000Z"

    # The same messages, read in New York: the reader's own time zone.
    york = await chatting(
        open_page, url, "York", locale="en-US", timezone_id="America/New_York"
    )
    await york.see("bot: 新的一天")
    assert await times(york) == ["20:05", "10:58", "11:03"]
    york_days = await york.page.locator("#lines > li.day").all_inner_texts()
    assert york_days[:2] == ["Tuesday, March 3, 2026", "Wednesday, March 4, 2026"]

    # A line that arrives live has its time too.
    monkeypatch.setattr(service, "_clock", lambda: at(SHANGHAI, 2026, 3, 5, 14, 5))
    await shanghai.send("下午好")
    await york.see("上海: 下午好")
    assert (await times(shanghai))[-1] == "14:05"
    assert (await times(york))[-1] == "01:05"


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def _contrast(a: str, b: str) -> float:
    def luminance(rgb: tuple[float, ...]) -> float:
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in rgb)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(_rgb(a)), luminance(_rgb(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


# Every sender colour on both kinds of bubble, as the page draws them.
COLOURS = """() => {
  const out = [];
  for (const own of [false, true]) {
    const li = document.createElement("li");
    li.className = own ? "msg own" : "msg";
    document.getElementById("lines").append(li);
    for (let i = 0; i < 12; i++) {
      const span = document.createElement("span");
      span.className = `name c${i}`;
      li.append(span);
      out.push([getComputedStyle(span).color, getComputedStyle(li).backgroundColor]);
    }
    li.remove();
  }
  return out;
}"""


async def test_own_lines_apart_and_names_in_their_own_colours(
    url: str, open_page: OpenPage
) -> None:
    ming = await chatting(open_page, url, "小明")
    hong = await chatting(open_page, url, "小红")
    await ming.see("小红 加入了群聊")
    await ming.send("我的话")
    await hong.send("她的话")
    for chat in (ming, hong):
        await chat.see("小红: 她的话")
        await chat.see("小明: 我的话")

    own = ming.line("小明: 我的话")
    theirs = ming.line("小红: 她的话")
    await expect(own).to_have_class(re.compile(r"\bown\b"))
    await expect(theirs).not_to_have_class(re.compile(r"\bown\b"))
    await expect(hong.line("小明: 我的话")).not_to_have_class(re.compile(r"\bown\b"))
    # Own lines sit on the right, in a colour of their own.
    own_box, their_box = await own.bounding_box(), await theirs.bounding_box()
    width = await ming.page.locator("#lines").evaluate("e => e.clientWidth")
    assert own_box and their_box
    assert own_box["x"] + own_box["width"] > width - 40 > their_box["x"] + 200
    assert await own.evaluate("e => getComputedStyle(e).backgroundColor") != (
        await theirs.evaluate("e => getComputedStyle(e).backgroundColor")
    )

    # A name has one colour, wherever and whenever it is shown; these two differ.
    def colour(chat: ChatPage, text: str):  # type: ignore[no-untyped-def]
        return (
            chat.line(text).locator(".name").evaluate("e => getComputedStyle(e).color")
        )

    assert await colour(ming, "小明: 我的话") == await colour(hong, "小明: 我的话")
    assert await colour(ming, "小红: 她的话") == await colour(hong, "小红: 她的话")
    assert await colour(ming, "小明: 我的话") != await colour(ming, "小红: 她的话")
    later = await chatting(open_page, url, "后来的人")
    await later.see("小明: 我的话")
    assert await colour(later, "小明: 我的话") == await colour(ming, "小明: 我的话")

    # Readable (WCAG AA, 4.5:1) in the light scheme and in the dark one.
    seen = set()
    for scheme in ("light", "dark"):
        await ming.page.emulate_media(color_scheme=scheme)
        pairs = await ming.page.evaluate(COLOURS)
        assert len(pairs) == 24
        for text, background in pairs:
            assert _contrast(text, background) >= 4.5, (scheme, text, background)
        seen.add(tuple(map(tuple, pairs)))
    assert len(seen) == 2  # the dark scheme has colours of its own


HIDE = """(state) => {
  const property = {configurable: true, get: () => state};
  Object.defineProperty(document, "visibilityState", property);
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def test_hidden_tab_counts_unread_lines_in_the_title(
    url: str, sio_client, open_page: OpenPage
) -> None:
    ming = await chatting(open_page, url, "小明")
    bot: SioClient = await sio_client()
    await bot.join("bot")
    assert (await bot.call("message", "看得见"))["ok"]
    await ming.see("bot: 看得见")
    await ming.page.evaluate("window.chatUnreadLinger = 1000")

    await ming.page.evaluate(HIDE, "hidden")
    for i in (1, 2, 3):
        assert (await bot.call("message", f"没看见 {i}"))["ok"]
    await ming.see("bot: 没看见 3")
    await expect(ming.page).to_have_title("(3) 小明的群聊")
    # The divider sits right before the first line that came while away.
    divider = ming.page.locator("#lines > li.unread")
    await expect(divider).to_have_count(1)
    await expect(divider).to_have_text("新消息")
    after = await divider.evaluate("e => e.nextElementSibling.textContent")
    assert after.endswith("bot: 没看见 1")
    assert await ming.page.locator("#lines > li.unread + li + li").count() == 1

    await ming.page.evaluate(HIDE, "visible")
    await expect(ming.page).to_have_title("小明的群聊")
    await expect(divider).to_have_count(0, timeout=WAIT)
    # Lines that come while you look are not unread.
    assert (await bot.call("message", "看见了"))["ok"]
    await ming.see("bot: 看见了")
    await expect(ming.page).to_have_title("小明的群聊")
    await expect(divider).to_have_count(0)


SCROLL_TOP = "() => { document.getElementById('lines').scrollTop = 0; }"
TOP = "e => e.getBoundingClientRect().top"
TO_TOP = (
    "e => { document.getElementById('lines').scrollTop = 0; return (" + TOP + ")(e); }"
)


async def test_scrolling_up_loads_earlier_pages_back_to_the_first(
    url: str, sio_client, open_page: OpenPage
) -> None:
    bot: SioClient = await sio_client()
    await bot.join("bot")
    for i in range(1, 131):
        assert (await bot.call("message", f"m{i}"))["ok"]
    ming = await chatting(open_page, url, "小明")
    await ming.see("bot: m130")
    first = "#lines > li.msg"
    assert await ming.page.locator(first).count() == 50  # the join's history

    start = ming.page.locator("#lines > li.separator", has_text="这是最早的消息")
    for top in (81, 31, 1):  # 50 more a page: three pages reach m1
        line = ming.page.locator(f"{first}[data-id='{top}']")
        # Scrolled to the top: where that line is on the screen now...
        y = await line.evaluate(TO_TOP)
        if top > 1:
            await expect(
                ming.page.locator(f"{first}[data-id='{top - 1}']")
            ).to_have_count(1)
        await expect(start).to_have_count(1 if top <= 31 else 0)
        # ...is where it stays, with the earlier lines above it: no jump.
        assert abs(await line.evaluate(TOP) - y) < 2
    await expect(ming.page.locator("#lines > li").first).to_have_text("这是最早的消息")

    ids = await ming.page.locator(first).evaluate_all(
        "els => els.map(e => Number(e.dataset.id))"
    )
    assert ids == list(range(1, 131))
    assert await ming.page.locator("#lines > li.day").count() == 1
    # Scrolling up again asks for nothing more.
    await ming.page.evaluate(SCROLL_TOP)
    await ming.page.wait_for_timeout(300)
    assert await ming.page.locator(first).count() == 130


async def test_links_open_safely_and_nothing_else_is_markup(
    url: str, open_page: OpenPage
) -> None:
    ming = await chatting(open_page, url, "小明")
    hong = await chatting(open_page, url, "小红")
    text = (
        "看 https://example.com/a?b=1&c=2，还有 http://127.0.0.1:9/x. "
        'javascript:alert(1) <a href="javascript:alert(2)">点</a> '
        "<img src=x onerror=\"document.title='pwned'\"> data:text/html,<b>x</b>"
    )
    await ming.send(text)
    for chat in (ming, hong):
        await chat.see(f"小明: {text}")
        line = chat.page.locator("#lines > li.msg").last
        await expect(line.locator(".text")).to_have_text(text)
        links = line.locator("a")
        await expect(links).to_have_count(2)
        await expect(links).to_have_text(
            ["https://example.com/a?b=1&c=2", "http://127.0.0.1:9/x"]
        )
        assert [await a.get_attribute("href") for a in await links.all()] == [
            "https://example.com/a?b=1&c=2",
            "http://127.0.0.1:9/x",
        ]
        for a in await links.all():
            assert await a.get_attribute("target") == "_blank"
            assert await a.get_attribute("rel") == "noopener noreferrer"
        assert await chat.page.locator("#lines img, #lines b").count() == 0
        assert await chat.page.locator("#lines a[href^='javascript']").count() == 0
        await expect(chat.page).not_to_have_title("pwned")


async def test_keyboard_and_screen_reader(
    url: str, sio_client, open_page: OpenPage
) -> None:
    bot: SioClient = await sio_client()
    await bot.join("bot")
    assert (await bot.call("message", "以前的话"))["ok"]
    ming = await chatting(open_page, url, "小明")
    await ming.see("bot: 以前的话")
    announce = ming.page.locator("#announce")
    await expect(announce).to_have_attribute("aria-live", "polite")
    await expect(announce).not_to_contain_text("以前的话")  # history is not read out

    box = ming.page.locator("#input")
    await box.focus()
    await box.press_sequentially("第一行")
    await box.press("Shift+Enter")
    await box.press_sequentially("第二行")
    await box.press("Enter")
    reply = await bot.inbox.wait("chat", lambda m: m["name"] == "小明")
    assert reply["text"] == "第一行\n第二行"
    await expect(box).to_have_value("")
    await expect(box).to_be_focused()

    await box.fill("按钮发送")
    await ming.page.locator("#send").click()
    await bot.inbox.wait("chat", lambda m: m["text"] == "按钮发送")
    await expect(box).to_be_focused()

    assert (await bot.call("message", "新来的话"))["ok"]
    await expect(announce).to_contain_text("bot: 新来的话")


async def test_narrow_phone(url: str, open_page: OpenPage) -> None:
    phone = await chatting(
        open_page, url, "手机", viewport={"width": 360, "height": 640}, is_mobile=True
    )
    other = await chatting(open_page, url, "电脑")
    await other.send("一条很长的消息，" * 12 + " https://example.com/" + "x" * 80)
    await phone.send("短")
    await phone.see("手机: 短")
    scroll = await phone.page.evaluate("document.documentElement.scrollWidth")
    assert scroll == 360
    for selector in ("#input", "#send", "#status", "#lines > li.own", "#lines a"):
        box = await phone.page.locator(selector).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, selector
