"""The Socket.IO Admin UI, served at /admin/, in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import WAIT
from tests.helpers import ServerFactory, SioClient, url_of

pytestmark = pytest.mark.browser


async def test_log_in_and_see_the_connections(
    make_server: ServerFactory, browser: Browser, output_dir: Path
) -> None:
    server = await make_server(admin_password="s3cret")
    base = url_of(server)
    ann = await SioClient().connect(base)
    context = await browser.new_context(viewport={"width": 1300, "height": 800})
    outside: list[str] = []
    context.on(
        "request",
        lambda r: None if r.url.startswith(base) else outside.append(r.url),
    )
    try:
        await ann.join("ann", room="kitchen")
        page = await context.new_page()
        await page.goto(f"{base}/admin/")
        await page.get_by_label("Server URL").fill(base)
        await page.get_by_label("Username").fill("admin")
        await page.get_by_label("Password").fill("wrong")
        await page.get_by_role("button", name="Connect").click()
        await expect(page.get_by_text("Invalid credentials")).to_be_visible(
            timeout=WAIT
        )
        await page.get_by_label("Password").fill("s3cret")
        await page.get_by_role("button", name="Connect").click()

        # The servers page: this process, with ann's and the UI's own connection.
        await page.goto(f"{base}/admin/#/servers/")
        row = page.locator("tbody tr").first
        await expect(row.locator("td").nth(4)).to_have_text("2", timeout=WAIT)
        await page.goto(f"{base}/admin/#/sockets/")
        await expect(page.get_by_text(ann.sio.get_sid())).to_be_visible(timeout=WAIT)

        # The dashboard's charts: bytes sent and received, and connections,
        # as the UI's store holds them (the charts are canvases).
        await ann.call("message", "hello")
        await page.goto(f"{base}/admin/#/")
        charted = await page.wait_for_function(
            """() => {
                const store = document.querySelector("#app").__vue__.$store;
                const counts = {};
                for (const e of store.state.main.aggregatedEvents) {
                    counts[e.type] = (counts[e.type] || 0) + e.count;
                }
                return counts.bytesIn && counts.bytesOut && counts.rawConnection
                    ? counts : null;
            }""",
            timeout=WAIT,
        )
        counts = await charted.json_value()
        assert counts["bytesOut"] > len("hello") and counts["bytesIn"] > len("hello")
        await page.screenshot(path=str(output_dir / "admin-ui.png"))
        assert outside == []  # works with no internet
    finally:
        await context.close()
        await ann.sio.disconnect()
