# unasync: skip -- task cancellation and task groups exist only in async code.
"""HTTP/2 streams shared by tasks, on asyncio and trio.

There is no background reader: whichever task needs input reads for every
stream of the connection. These tests check that a task waiting for its
stream is woken when another task read its data, that the reader role passes
on when the reading task is cancelled or leaves, and that task cancellation
resets the stream (once) without disturbing the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import CANCEL, H2TestServer


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(h2_server.url, transport=transport, timeout=20)


def stream_headers(tag: str, count: int, delay_ms: int = 0) -> dict[str, str]:
    return {
        "x-scenario": "stream",
        "x-tag": tag,
        "x-count": str(count),
        "x-delay-ms": str(delay_ms),
    }


async def test_task_cancellation_resets_the_stream(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    got: list[int] = []

    async def consume() -> None:
        headers = stream_headers("task", -1, delay_ms=20)
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            async for message in call:
                got.append(message.index)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        while len(got) < 3:
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"x"), headers={"x-scenario": "unary"})
    assert reply.payload == b"x"
    assert h2_server.resets("task") == [CANCEL]
    assert client.transport.num_connections == 1


async def test_cancelled_scope_around_a_read(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    headers = stream_headers("scope", 3, delay_ms=5000)
    async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
        assert await call.receive() is not None
        with anyio.move_on_after(0.2) as scope:
            await call.receive()
        assert scope.cancelled_caught
    await client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "unary"})
    assert h2_server.resets("scope") == [CANCEL]


async def test_waiting_task_is_woken_by_another_tasks_read(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    # Many concurrent slow streams: each delivery may be read by any task.
    results: dict[int, list[int]] = {}

    async def consume(n: int) -> None:
        headers = stream_headers(f"s{n}", 5, delay_ms=10 + n % 7)
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            results[n] = [message.index async for message in call]

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for n in range(30):
                tg.start_soon(consume, n)
    assert results == {n: [0, 1, 2, 3, 4] for n in range(30)}
    assert h2_server.frames("RST_STREAM") == []
    assert len(h2_server.connections) == 1


async def test_reader_role_passes_on_when_the_reader_is_cancelled(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    # Task A waits on a stream that never answers; task B on one that does.
    # Whichever reads, cancelling A must leave B served.
    done = anyio.Event()
    b_result: list[int] = []

    async def silent() -> None:
        headers = stream_headers("silent", 2, delay_ms=60000)
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            await call.receive()
            await call.receive()

    async def talker() -> None:
        headers = stream_headers("talker", 10, delay_ms=50)
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            b_result.extend([message.index async for message in call])
        done.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as a_scope:
                tg.start_soon(talker)
                await anyio.sleep(0.15)
                async with anyio.create_task_group() as inner:
                    inner.start_soon(silent)
                    await anyio.sleep(0.1)
                    a_scope.cancel()
            await done.wait()
    assert b_result == list(range(10))
    assert h2_server.resets("silent") == [CANCEL]
    assert h2_server.resets("talker") == []


async def test_unary_calls_interleaved_with_a_long_stream(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    # A unary call on a connection whose stream is being read by another task
    # completes promptly (no waiting for the stream's next message).
    async def reader(stop: anyio.Event) -> None:
        headers = stream_headers("long", -1, delay_ms=500)
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            async for _ in call:
                if stop.is_set():
                    break

    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader, stop)
        await anyio.sleep(0.1)
        start = anyio.current_time()
        for _ in range(20):
            await client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "unary"})
        elapsed = anyio.current_time() - start
        stop.set()
    assert elapsed < 0.45, elapsed
