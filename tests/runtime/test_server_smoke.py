"""The Go test server and its fixtures work with the runtime, in every mode."""

from __future__ import annotations

import pytest
from _support import ServerMode, pattern
from _support.methods import ECHO, STREAM, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

pytestmark = pytest.mark.anyio


async def test_unary_echo(server_mode: ServerMode) -> None:
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        AsyncConnectClient(base_url, transport=transport) as client,
    ):
        response = await client.unary(
            ECHO, pb.EchoRequest(payload=b"hello"), headers={"x-smoke": "yes"}
        )
    assert response.payload == b"hello"
    assert response.http_method == "POST"
    assert response.http_proto == server_mode.http_proto
    assert "x-smoke: yes" in response.request_headers
    assert "content-type: application/proto" in response.request_headers


async def test_server_stream(server_mode: ServerMode) -> None:
    base_url, kwargs = server_mode
    async with (
        AsyncTransport(**kwargs) as transport,
        AsyncConnectClient(base_url, transport=transport) as client,
    ):
        call = client.server_stream(STREAM, pb.StreamRequest(count=10, size=300))
        async with call:
            received = [message async for message in call]
    assert [m.index for m in received] == list(range(10))
    assert all(m.payload == pattern(300) for m in received)
