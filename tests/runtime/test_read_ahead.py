# unasync: skip -- asyncio's transport reads ahead of the caller; threads read when asked.
"""On asyncio a connection's transport keeps reading between the client's
reads (no selector change per wait), within a bound: a consumer that falls
behind leaves the rest of a fast stream in the kernel, where TCP flow control
holds the server back. What an idle connection's transport read ahead (the
server closing it) is seen before the connection is used again.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python._http.frames import encode_goaway
from connect_python._io.async_net import _READ_AHEAD_CHUNKS, has_buffered_input
from connect_python.runtime_async import AsyncConnectClient

from .conftest import make_transport
from .helpers import ECHO, STREAM


def connection(client: AsyncConnectClient) -> Any:
    (pool,) = client.transport._pool._origins.values()
    conns = [*pool.idle, *pool.h2]
    assert len(conns) == 1
    return conns[0]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("mode", ["h1", "h2c"])
async def test_a_consumer_that_falls_behind_bounds_what_is_read_ahead(
    test_server: Any, mode: str
) -> None:
    url, transport = make_transport(test_server, mode)
    async with transport, AsyncConnectClient(url, transport=transport, timeout=30) as client:
        request = pb.StreamRequest(count=2_000, size=8_000)  # 16 MB
        async with client.server_stream(STREAM, request) as call:
            first = await call.receive()
            assert first is not None
            protocol = call._exchange._conn._io._protocol
            assert protocol is not None  # asyncio, plain TCP
            received = 1
            longest = 0
            async for _ in call:
                received += 1
                if received % 100 == 0:
                    # The consumer stops a while; the server goes on writing.
                    # (A read that found input queued pauses the transport's
                    # reading until the next read finds the queue empty: some
                    # of these stops find it paused with nothing queued.)
                    for _ in range(5):
                        await anyio.sleep(0.01)
                        longest = max(longest, len(protocol.read_queue))
        assert received == 2_000
        assert 0 < longest <= _READ_AHEAD_CHUNKS


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("mode", ["h1", "h2c"])
async def test_input_read_ahead_on_an_idle_connection_is_seen(test_server: Any, mode: str) -> None:
    url, transport = make_transport(test_server, mode)
    async with transport, AsyncConnectClient(url, transport=transport, timeout=30) as client:
        await client.unary(ECHO, pb.EchoRequest(payload=b"1"))
        conn = connection(client)
        io = conn._io
        assert not has_buffered_input(io)
        # Input the transport reads while nobody reads: the server going
        # away (a GOAWAY on HTTP/2; on HTTP/1.1 any byte, as nothing may
        # come between responses).
        goaway = encode_goaway(1, 0, b"") if mode == "h2c" else b"\0"
        io._protocol.data_received(goaway)
        assert has_buffered_input(io)
        # The pool drops the connection instead of sending on it.
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"2"))
        assert reply.payload == b"2"
        assert connection(client) is not conn
        if mode == "h2c":
            # Nothing was sent on it after the GOAWAY (not even a request
            # the server would have refused).
            assert conn._state.highest_stream_id == 1
