# unasync: skip -- the queue and the timer are anyio's; the sync twin of this
# test (a producer thread, queue.Queue) is tests/sync_only/test_long_stream_thread.py.
"""A long-lived client stream fed from a queue, with the caller's own
keepalive messages when the queue stays quiet (as an SDK keeps a command's
input stream open for minutes): open and idle timeouts and HTTP/2 keepalive
PINGs never cut it, and every message arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from _support.methods import UPLOAD, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

KEEPALIVE_EVERY = 0.15
KEEPALIVE = pb.UploadRequest()  # an empty chunk: the server counts it, no bytes


async def from_queue(
    inbox: anyio.abc.ObjectReceiveStream[bytes],
) -> AsyncIterator[pb.UploadRequest]:
    """The request stream: each chunk put on the queue, a keepalive message
    whenever none came for ``KEEPALIVE_EVERY`` seconds; ends when the queue
    is closed."""
    while True:
        chunk = None
        with anyio.move_on_after(KEEPALIVE_EVERY):
            try:
                chunk = await inbox.receive()
            except anyio.EndOfStream:
                return
        yield KEEPALIVE if chunk is None else pb.UploadRequest(chunk=chunk)


@pytest.mark.parametrize("kwargs", [{"http2": False}, {"h2c": True}], ids=["h1", "h2c"])
async def test_client_stream_fed_from_a_queue(test_server: Any, kwargs: dict[str, Any]) -> None:
    send, receive = anyio.create_memory_object_stream[bytes](16)
    async with (
        receive,
        AsyncTransport(**kwargs, http2_ping_interval=0.2, http2_ping_timeout=1) as transport,
        AsyncConnectClient(
            test_server.http, transport=transport, open_timeout=0.3, idle_timeout=0.3
        ) as client,
        anyio.create_task_group() as tg,
    ):

        async def producer() -> None:
            async with send:
                for chunk in (b"ls\n", b"pwd\n", b"exit\n"):
                    await anyio.sleep(0.4)  # quieter than the keepalive interval
                    await send.send(chunk)

        tg.start_soon(producer)
        with anyio.fail_after(10):
            reply = await client.client_stream(UPLOAD, from_queue(receive))
    assert reply.bytes == len(b"ls\npwd\nexit\n")
    # Three chunks and the keepalives between them (at least two per gap).
    assert reply.messages >= 3 + 3 * 2
