"""Calls through real proxies (pproxy: HTTP CONNECT over plain TCP and over
TLS, SOCKS5, all with username/password) to the Go test server, over
HTTP/1.1, h2c and HTTP/2 over TLS; proxies from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from network.proxies import USER, ProxyServer, start_proxy

ROUTES = ["h1", "h2c", "h2-tls"]


@pytest.fixture(scope="module", params=["http", "https", "socks5"])
def proxy_server(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[ProxyServer]:
    server = start_proxy(request.param, Path(tmp_path_factory.mktemp("proxy")))
    try:
        yield server
    finally:
        server.stop()


def route_for(name: str, test_server: Any, proxy: ProxyServer) -> tuple[str, dict[str, Any]]:
    """(URL, transport keywords) of a route through ``proxy``."""
    ca = test_server.ca_pem_text + proxy.ca_pem
    if name == "h1":
        return test_server.http, {"http2": False, "ca_certs": ca}
    if name == "h2c":
        return test_server.http, {"h2c": True, "ca_certs": ca}
    return test_server.https, {"ca_certs": ca}


@pytest.mark.parametrize("route_name", ROUTES)
async def test_calls_through_the_proxy(
    proxy_server: ProxyServer, route_name: str, test_server: Any
) -> None:
    url, kwargs = route_for(route_name, test_server, proxy_server)
    async with (
        AsyncTransport(proxy=proxy_server.url, **kwargs) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"via"), timeout=10)
        assert reply.payload == b"via"
        assert reply.http_proto == ("HTTP/1.1" if route_name == "h1" else "HTTP/2.0")
        request = pb.StreamRequest(count=3, size=8)
        async with client.server_stream(STREAM, request, timeout=10) as call:
            assert [m.index async for m in call] == [0, 1, 2]


async def test_wrong_credentials_fail_with_the_proxys_reason(
    proxy_server: ProxyServer, test_server: Any
) -> None:
    url, kwargs = route_for("h2c", test_server, proxy_server)
    wrong = proxy_server.url_with(USER, "wrong")
    async with (
        AsyncTransport(proxy=wrong, retries=None, **kwargs) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=10)
    assert info.value.code is Code.UNAVAILABLE
    assert info.value.message.startswith("proxy ")
    assert "wrong" not in info.value.message  # never the password


async def test_proxy_from_the_environment(
    proxy_server: ProxyServer, test_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, kwargs = route_for("h2-tls", test_server, proxy_server)
    monkeypatch.setenv("HTTPS_PROXY", proxy_server.url_with(USER, "wrong"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with (
        AsyncTransport(trust_env=True, retries=None, **kwargs) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        with pytest.raises(ConnectError) as info:  # through the proxy: refused
            await client.unary(ECHO, pb.EchoRequest(), timeout=10)
        assert info.value.message.startswith("proxy ")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    async with (
        AsyncTransport(trust_env=True, **kwargs) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"direct"), timeout=10)
        assert reply.payload == b"direct"
    # Not asked to: the environment is not read.
    monkeypatch.delenv("NO_PROXY")
    async with (
        AsyncTransport(**kwargs) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"direct"), timeout=10)
        assert reply.payload == b"direct"


async def test_the_proxy_resolves_the_name(test_server: Any, tmp_path: Path) -> None:
    # SOCKS5 sends the name ("localhost"), not an address: the proxy resolves
    # it (socks5h:// and socks5:// alike), and TLS checks the name.
    proxy = start_proxy("socks5", tmp_path)
    try:
        port = test_server.https.rsplit(":", 1)[1]
        async with (
            AsyncTransport(proxy=proxy.url, ca_certs=test_server.ca_pem_text) as transport,
            AsyncConnectClient(f"https://localhost:{port}", transport=transport) as client,
        ):
            reply = await client.unary(ECHO, pb.EchoRequest(payload=b"named"), timeout=10)
            assert reply.payload == b"named"
            assert f"host: localhost:{port}" in reply.request_headers
    finally:
        proxy.stop()
