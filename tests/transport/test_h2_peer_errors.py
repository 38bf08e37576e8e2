"""A server that breaks HTTP/2 mid-call: the call fails with a typed error, the
client sends GOAWAY with the error code, and the next call gets a new connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2peer import raw_frame
from transport.h2server import H2TestServer

PROTOCOL_ERROR = 0x1
FRAME_SIZE_ERROR = 0x6
COMPRESSION_ERROR = 0x9


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(h2_server.url, transport=transport, timeout=10)


def _violation(kind: str, stream_id: int) -> tuple[bytes, int]:
    if kind == "data-on-stream-0":
        return raw_frame(0x0, 0, 0, b"x"), PROTOCOL_ERROR
    if kind == "bad-hpack":
        return raw_frame(0x1, 0x4, stream_id, b"\xff\xff\xff\xff\x7f"), COMPRESSION_ERROR
    if kind == "oversized-ping":
        return raw_frame(0x6, 0, 0, b"9 bytes!!"), FRAME_SIZE_ERROR
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["data-on-stream-0", "bad-hpack", "oversized-ping"])
async def test_peer_protocol_error_mid_stream(
    client: AsyncConnectClient, h2_server: H2TestServer, kind: str
) -> None:
    headers = {"x-scenario": "stream", "x-count": "-1", "x-delay-ms": "20", "x-tag": "bad"}
    received = 0
    with pytest.raises(ConnectError) as info:
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            async for _ in call:
                received += 1
                if received == 2:
                    conn = h2_server.connection
                    frame, code = _violation(kind, h2_server.stream_id("bad"))
                    with conn.lock:
                        conn.extra_out += frame
    assert info.value.code is Code.UNAVAILABLE
    assert "protocol error" in info.value.message
    assert h2_server.wait_for(lambda: len(h2_server.frames("GOAWAY")) == 1)
    assert [f.value for f in h2_server.frames("GOAWAY")] == [code]
    # The connection is gone; the next call gets a new one.
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"ok"), headers={"x-scenario": "unary"})
    assert reply.payload == b"ok"
    assert len(h2_server.connections) == 2
