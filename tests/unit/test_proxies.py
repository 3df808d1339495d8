from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from config import Config, validate
from plumbing.proxies import TrustedProxies


def request(peer: str, **headers: str):
    req = make_mocked_request("GET", "/", headers=headers)
    return req.clone(remote=peer)


def test_forwarded_headers_are_believed_from_trusted_proxies_only() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    via = request(
        "127.0.0.1",
        **{
            "X-Forwarded-For": "203.0.113.9, 10.1.2.3",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "chat.example",
            "X-Forwarded-Prefix": "/chat/",
        },
    )
    # The nearest hop that is not a trusted proxy is the client.
    assert proxies.client(via) == "203.0.113.9"
    assert proxies.origin(via) == "https://chat.example"
    assert proxies.prefix(via) == "/chat"
    liar = request("198.51.100.7", **{"X-Forwarded-For": "1.2.3.4"})
    assert proxies.client(liar) == "198.51.100.7"
    assert proxies.prefix(request("198.51.100.7", **{"X-Forwarded-Prefix": "/x"})) == ""


def test_prefixes_that_could_break_a_page_are_ignored() -> None:
    proxies = TrustedProxies("127.0.0.1")
    for bad in ('/a"b', "/a b", "//evil.example", "chat", "/<x>"):
        assert proxies.prefix(request("127.0.0.1", **{"X-Forwarded-Prefix": bad})) == ""


def test_bad_cidrs_are_a_config_error() -> None:
    assert validate(Config(trusted_proxies="10.0.0.0/8,::1")) == []
    assert validate(Config(trusted_proxies="not-an-address"))
