"""Which proxy a connection uses (``connect_python._io.proxy``): the
transport's, else with ``trust_env`` the environment's, honouring NO_PROXY;
and the handshakes' bytes."""

from __future__ import annotations

import pytest

from connect_python._io.proxy import Proxy, connect_request, proxy_for, socks5_connect

ENV = {"HTTPS_PROXY": "http://p:3128", "http_proxy": "socks5://s:1080", "ALL_PROXY": "http://a:1"}


@pytest.mark.parametrize(
    ("scheme", "host", "env", "expected"),
    [
        ("https", "api.example", ENV, "http://p:3128"),
        ("http", "api.example", ENV, "socks5://s:1080"),
        ("https", "api.example", {"all_proxy": "socks5h://a:9"}, "socks5h://a:9"),
        ("https", "api.example", {**ENV, "NO_PROXY": "example"}, None),
        ("https", "api.example", {**ENV, "no_proxy": ".example"}, None),
        ("https", "api.example", {**ENV, "NO_PROXY": "other.example"}, "http://p:3128"),
        ("https", "notexample", {**ENV, "NO_PROXY": "example"}, "http://p:3128"),
        ("https", "127.0.0.1", {**ENV, "NO_PROXY": "localhost, 127.0.0.1"}, None),
        ("https", "anything", {**ENV, "NO_PROXY": "*"}, None),
        ("https", "api.example", {}, None),
    ],
)
def test_proxy_from_the_environment(
    scheme: str, host: str, env: dict[str, str], expected: str | None
) -> None:
    chosen = proxy_for(scheme, host, None, True, env)
    assert (str(chosen) if chosen else None) == expected


def test_environment_only_when_trusted() -> None:
    assert proxy_for("https", "api.example", None, False, ENV) is None
    own = Proxy.parse("socks5://u:p@own:1080")
    assert proxy_for("https", "api.example", own, True, ENV) is own


def test_parse_and_handshake_bytes() -> None:
    proxy = Proxy.parse("http://user%40corp:pa%3Ass@proxy:8080")
    assert (proxy.username, proxy.password, proxy.port) == ("user@corp", "pa:ss", 8080)
    assert str(proxy) == "http://proxy:8080"  # no credentials
    request = connect_request(proxy, "api.example", 443)
    assert request.startswith(b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n")
    assert b"Proxy-Authorization: Basic dXNlckBjb3JwOnBhOnNz\r\n\r\n" in request
    assert socks5_connect("api.example", 443) == b"\x05\x01\x00\x03\x0bapi.example\x01\xbb"
    assert socks5_connect("10.0.0.1", 80) == b"\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x50"
    with pytest.raises(ValueError, match="proxy must be"):
        Proxy.parse("ftp://proxy:21")
