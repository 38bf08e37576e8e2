"""HTTP/1.1 exchanges against a raw server: an abandoned stream frees its
connection when collected; a server's early answer to an upload is reported.

Runs on asyncio, trio and (as a generated twin) the sync runtime.
"""

from __future__ import annotations

import gc

import pytest
from _support.concurrency.shim_async import current_time, sleep
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from runtime.h1server import H1TestServer

from .helpers import ECHO, STREAM, UPLOAD

FOREVER = {"x-scenario": "stream_forever"}
EARLY_401 = {"x-scenario": "early_401"}


async def _wait_until(predicate: object, limit: float = 5.0) -> bool:
    assert callable(predicate)
    end = current_time() + limit
    while current_time() < end:
        if predicate():
            return True
        await sleep(0.01)
    return bool(predicate())


async def test_bare_loop_over_a_stream_frees_the_connection_when_collected(
    h1_server: H1TestServer,
) -> None:
    # One connection at most: the next call can only run if the slot is freed.
    transport = AsyncTransport(http2=False, max_connections=1)
    async with transport:
        client = AsyncConnectClient(h1_server.url, transport=transport, headers=FOREVER)
        # No `with`: the call is dropped after `break`, still streaming.
        async for message in client.server_stream(STREAM, pb.StreamRequest(), timeout=30):
            assert message.index == 0
            break
        gc.collect()
        assert await _wait_until(h1_server.client_gone.is_set), "the server still streams"
        assert await _wait_until(lambda: transport.num_connections == 0)
        # The slot is free: another call gets a connection (a new one).
        async with client.server_stream(STREAM, pb.StreamRequest(), timeout=10) as call:
            async for message in call:
                assert message.index == 0
                break
        assert h1_server.accepted == 2


async def test_an_early_answer_to_an_upload_is_reported(h1_server: H1TestServer) -> None:
    # The server answers 401 after reading only the request head and closes
    # the connection with the upload unread (the kernel then resets it): the
    # upload's writes fail, and the server's answer is what the caller sees.
    transport = AsyncTransport(http2=False)
    async with transport:
        client = AsyncConnectClient(
            h1_server.url, transport=transport, headers=EARLY_401, timeout=10
        )
        big = pb.EchoRequest(payload=b"x" * 8_000_000)
        chunks = [pb.UploadRequest(chunk=b"y" * 60_000) for _ in range(200)]
        for kind in ("unary", "client_stream"):
            started = current_time()
            with pytest.raises(ConnectError) as info:
                if kind == "unary":
                    await client.unary(ECHO, big)
                else:
                    await client.client_stream(UPLOAD, chunks)
            error = info.value
            assert (error.code, error.message, error.remote, error.http_status) == (
                Code.UNAUTHENTICATED,
                "token expired",
                True,
                401,
            ), kind
            assert current_time() - started < 5
            # The connection whose write failed is not reused.
            assert await _wait_until(lambda: transport.num_connections == 0)
