"""Calls over a Unix domain socket (``uds=`` on the transport) to the Go test
server, over HTTP/1.1 and h2c."""

from __future__ import annotations

from typing import Any

import pytest
from _support.methods import CHAT, ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport


@pytest.fixture(params=["h1", "h2c"])
def uds_kwargs(request: pytest.FixtureRequest, test_server: Any) -> dict[str, Any]:
    assert test_server.uds
    if request.param == "h1":
        return {"uds": test_server.uds, "http2": False}
    return {"uds": test_server.uds, "h2c": True}


async def test_calls_over_a_unix_socket(uds_kwargs: dict[str, Any]) -> None:
    async with (
        AsyncTransport(**uds_kwargs) as transport,
        # The host is what the request carries; the socket is what is dialled.
        AsyncConnectClient("http://envd.local", transport=transport) as client,
    ):
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"uds"), timeout=5)
        assert reply.payload == b"uds"
        assert "host: envd.local" in reply.request_headers
        expected = "HTTP/1.1" if "http2" in uds_kwargs else "HTTP/2.0"
        assert reply.http_proto == expected
        request = pb.StreamRequest(count=3, size=8)
        async with client.server_stream(STREAM, request, timeout=5) as call:
            assert [m.index async for m in call] == [0, 1, 2]
        if "h2c" in uds_kwargs:
            texts = [pb.ChatRequest(text=t) for t in ("a", "b")]
            async with client.bidi_stream(CHAT, texts, timeout=5) as chat:
                assert [m.text async for m in chat] == ["a", "b"]
        assert transport.num_connections == 1


async def test_a_missing_socket_is_unavailable(tmp_path: Any) -> None:
    path = str(tmp_path / "nobody.sock")
    async with (
        AsyncTransport(uds=path, retries=None) as transport,
        AsyncConnectClient("http://localhost", transport=transport) as client,
    ):
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=5)
        assert info.value.code is Code.UNAVAILABLE
        assert f"unix socket {path}" in info.value.message
