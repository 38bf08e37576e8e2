"""Request streams from a generator go out in batches: what the generator
produces while a write is in flight is written together (HTTP/2 DATA frames
and HTTP/1.1 chunks counted at the server), not one write per message. A
generator that waits still has each message sent before it makes the next,
and its errors reach the caller as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from _support.concurrency.shim_async import sleep
from _support.methods import CHAT, UPLOAD, pb
from runtime.h1server import H1TestServer

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import CANCEL, H2TestServer

#: Messages per request stream, and the chunk of each (57 bytes enveloped:
#: the stream is about 114 KiB, two batches).
COUNT = 2000
CHUNK = b"0123456789" * 5
#: The most writes such a stream may take. One per message is COUNT; batched
#: it is a handful (the sync flavour's sender thread batches what the
#: producing thread made while it had the interpreter, so a few more there).
MOST_WRITES = 60
#: DATA frames of the h2 server are at most 16 KiB (its SETTINGS).
MOST_DATA_FRAMES = MOST_WRITES + COUNT * (len(CHUNK) + 7) // 16384


@pytest.fixture
async def transport() -> AsyncIterator[AsyncTransport]:
    async with AsyncTransport(h2c=True) as made:
        yield made


@pytest.fixture
def h1_server() -> Iterator[H1TestServer]:
    with H1TestServer() as server:
        yield server


async def eager_uploads() -> AsyncIterator[pb.UploadRequest]:
    """A generator that never waits."""
    for _ in range(COUNT):
        yield pb.UploadRequest(chunk=CHUNK)


async def uploads_that_wait_now_and_then() -> AsyncIterator[pb.UploadRequest]:
    """A generator that lets the event loop run every 100 messages."""
    for n in range(COUNT):
        if n % 100 == 0:
            await sleep(0)
        yield pb.UploadRequest(chunk=CHUNK)


@pytest.mark.parametrize("source", [eager_uploads, uploads_that_wait_now_and_then])
async def test_h2_client_stream_from_a_generator_goes_out_in_batches(
    h2_server: H2TestServer, transport: AsyncTransport, source: object
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    headers = {"x-scenario": "upload", "x-tag": "up"}
    total = await client.client_stream(UPLOAD, source(), headers=headers)  # type: ignore[operator]
    assert (total.messages, total.bytes) == (COUNT, COUNT * len(CHUNK))
    frames = h2_server.frames("DATA", h2_server.stream_id("up"))
    assert len(frames) <= MOST_DATA_FRAMES, len(frames)
    assert sum(frame.length for frame in frames) == COUNT * (len(CHUNK) + 7)
    assert h2_server.frames("RST_STREAM") == []


async def test_h2_client_stream_from_a_plain_iterator_goes_out_in_batches(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    requests = (pb.UploadRequest(chunk=CHUNK) for _ in range(COUNT))
    headers = {"x-scenario": "upload", "x-tag": "up"}
    total = await client.client_stream(UPLOAD, requests, headers=headers)
    assert (total.messages, total.bytes) == (COUNT, COUNT * len(CHUNK))
    assert len(h2_server.frames("DATA", h2_server.stream_id("up"))) <= MOST_DATA_FRAMES


async def test_h2_a_waiting_generator_has_each_message_sent_before_the_next(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    # Each message must reach the server before the generator makes the
    # next one: a sender holding messages back for a batch would fail here.
    async def requests() -> AsyncIterator[pb.UploadRequest]:
        for n in range(5):
            yield pb.UploadRequest(chunk=b"m")
            for _ in range(1000):
                if len(h2_server.frames("DATA")) > n:
                    break
                await sleep(0.005)
            else:
                raise AssertionError(f"message {n} was held back")

    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    total = await client.client_stream(UPLOAD, requests(), headers={"x-scenario": "upload"})
    assert (total.messages, total.bytes) == (5, 5)


async def test_h2_an_error_of_the_generator_while_batches_go_out(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    async def requests() -> AsyncIterator[pb.UploadRequest]:
        for _ in range(COUNT):
            yield pb.UploadRequest(chunk=CHUNK)
        raise RuntimeError("the source failed")

    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=10)
    headers = {"x-scenario": "upload", "x-tag": "failed"}
    with pytest.raises(RuntimeError, match="the source failed"):
        await client.client_stream(UPLOAD, requests(), headers=headers)
    # The abandoned stream is reset exactly once; the connection goes on.

    def resets() -> list[int]:
        try:
            return h2_server.resets("failed")
        except KeyError:  # the server has not read the request's headers yet
            return []

    for _ in range(1000):
        if resets():
            break
        await sleep(0.005)
    total = await client.client_stream(
        UPLOAD, [pb.UploadRequest(chunk=b"ok")], headers={"x-scenario": "upload"}
    )
    assert (total.messages, total.bytes) == (1, 2)
    assert h2_server.resets("failed") == [CANCEL]
    assert len(h2_server.connections) == 1


async def test_h1_client_stream_from_a_generator_goes_out_in_batches(
    h1_server: H1TestServer,
) -> None:
    async with AsyncTransport() as transport:
        client = AsyncConnectClient(h1_server.url, transport=transport, timeout=10)
        total = await client.client_stream(
            UPLOAD, eager_uploads(), headers={"x-scenario": "upload"}
        )
    assert (total.messages, total.bytes) == (COUNT, COUNT * len(CHUNK))
    assert 0 < h1_server.chunks <= MOST_WRITES, h1_server.chunks


async def test_h1_half_duplex_bidi_from_a_generator_goes_out_in_batches(
    h1_server: H1TestServer,
) -> None:
    async def requests() -> AsyncIterator[pb.ChatRequest]:
        for n in range(COUNT):
            yield pb.ChatRequest(text=f"m{n}")

    async with AsyncTransport() as transport:
        client = AsyncConnectClient(h1_server.url, transport=transport, timeout=10)
        headers = {"x-scenario": "half_duplex_chat"}
        async with client.bidi_stream(CHAT, requests(), headers=headers) as call:
            replies = [reply.text async for reply in call]
    assert replies == [f"re: m{n}" for n in range(COUNT)]
    assert 0 < h1_server.chunks <= MOST_WRITES, h1_server.chunks
