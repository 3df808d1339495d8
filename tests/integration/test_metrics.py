"""/metrics: Prometheus text that moves with what the server does."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import SioClient, next_frame


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def test_metrics_count_connections_messages_deliveries_and_refusals(
    url: str,
) -> None:
    before = await scrape(url)
    assert before["chat_connections{door=sio,transport=websocket}"] == 0
    a = await SioClient().connect(url)
    b = await SioClient().connect(url, transports=["polling"])
    await a.join("ann")
    await b.join("bob")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "/ws")
        await ws.send_json({"type": "join", "name": "plain"})
        for text in ("one", "two"):
            assert (await a.call("message", text))["ok"]
        assert (await a.call("message", ""))["error"]["code"] == "invalid_text"
        await b.inbox.wait("chat", lambda m: m["text"] == "two")
        after = await scrape(url)
        await ws.close()
    assert after["chat_connections{door=sio,transport=websocket}"] == 1
    assert after["chat_connections{door=sio,transport=polling}"] == 1
    assert after["chat_connections{door=ws,transport=websocket}"] == 1
    assert after["chat_messages_in_total{}"] == 2
    assert after["chat_rejections_total{reason=invalid_text}"] == 1
    # Two messages, in both forms, to two Socket.IO clients; once to the other.
    assert after["chat_deliveries_total{door=sio}"] >= 2 * 2 * 2
    assert after["chat_deliveries_total{door=ws}"] >= 2
    assert after["chat_commit_seconds_count{}"] >= 1
    assert after["chat_broadcast_seconds_count{}"] >= 2
    assert "chat_slow_client_drops_total{}" in after
    assert "chat_gaps_repaired_total{}" in after
    for client in (a, b):
        await client.sio.disconnect()


async def test_a_typing_change_counts_one_delivery_per_reader(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        typist = await http.ws_connect(url + "/ws")
        reader = await http.ws_connect(url + "/ws")
        await typist.send_json({"type": "join", "name": "tia"})
        await next_frame(typist, "joined")
        await reader.send_json({"type": "join", "name": "rex"})
        await next_frame(reader, "joined")
        await next_frame(typist, "system", event="join", name="rex")  # notices out
        before = await scrape(url)
        await typist.send_json({"type": "typing", "typing": True})
        await next_frame(reader, "typing", name="tia", typing=True)
        after = await scrape(url)
        await typist.close()
        await reader.close()
    key = "chat_deliveries_total{door=ws}"
    assert after[key] - before[key] == 1  # the reader; the typist is skipped
