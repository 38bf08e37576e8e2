"""Calls beyond a real server's stream limit queue: hypercorn (an ``h2``-based
ASGI server) advertising ``MAX_CONCURRENT_STREAMS=1`` over h2c.

``h2`` enforces the limit from the connection's first byte: a client that
opens more streams than that before the server's SETTINGS arrive gets a
PROTOCOL_ERROR for the whole connection. 20 concurrent calls all succeed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _support.concurrency.shim_async import Background
from _support.methods import ECHO, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2hypercorn import HypercornServer


@pytest.fixture
def hypercorn_server() -> Iterator[HypercornServer]:
    server = HypercornServer(max_concurrent_streams=1)
    try:
        yield server
    finally:
        server.close()


async def test_calls_beyond_hypercorns_stream_limit_queue(
    hypercorn_server: HypercornServer,
) -> None:
    async with AsyncTransport(h2c=True, http1=False) as transport:
        client = AsyncConnectClient(hypercorn_server.url, transport=transport, timeout=30)
        results: list[bytes] = []

        async def one(n: int) -> None:
            reply = await client.unary(ECHO, pb.EchoRequest(payload=b"%d" % n))
            results.append(reply.payload)

        calls = [Background(one, n) for n in range(20)]
        for call in calls:
            await call.wait()
        assert [c.error for c in calls if c.error is not None] == []
        assert sorted(results) == sorted(b"%d" % n for n in range(20))
