"""The page deployed as docs/deploy.md says: behind nginx, over Redis."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from tests.e2e.conftest import OpenPage

pytestmark = [pytest.mark.browser, pytest.mark.nginx, pytest.mark.redis]


async def test_pages_behind_nginx_and_under_a_sub_path_chat_across_processes(
    cluster: list[TestServer], proxy, open_page: OpenPage
) -> None:
    nginx = await proxy("nginx.conf")
    subpath = await proxy("nginx-subpath.conf")
    # A third page straight on the other process: one room across processes.
    pages = []
    for address, name in (
        (nginx.url + "/", "小明"),
        (subpath.url + "/chat/r/lobby", "小红"),
        (str(cluster[1].make_url("/")), "小刚"),
    ):
        page = await open_page(address, name)
        await page.see(f"{name} 加入了群聊")  # joined before the next one comes
        pages.append(page)
    ming, hong, gang = pages
    await ming.see("小刚 加入了群聊")
    await hong.send("从子路径发的消息")
    for page in (ming, hong, gang):
        await page.see("小红: 从子路径发的消息")
    await gang.send("从另一个进程回复")
    for page in (ming, hong, gang):
        await page.see("小刚: 从另一个进程回复")
    await expect(hong.page.locator("#users > li")).to_have_count(3)
