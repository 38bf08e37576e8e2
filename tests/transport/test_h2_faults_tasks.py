# unasync: skip -- cancel scopes and task groups exist only in async code.
"""A write blocked by a server that stopped reading, cut short by the task's own
cancellation (asyncio and trio): the cancellation propagates as the backend's,
promptly, and the next call succeeds on a new connection.

A write to a server that reads slowly, cut short by an enclosing cancel scope
while another call shares the connection: the other call goes on there and
completes (the ``CancelToken`` case is in ``test_h2_faults_shared.py``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from _support.methods import CHAT, ECHO, UPLOAD, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import H2TestServer
from transport.test_h2_faults_shared import (
    certificate,
    slow_server,
    transport_kwargs,
    wait_until_received,
)

__all__ = ["certificate", "slow_server"]  # fixtures, used by name

MiB = 1 << 20
SLACK = 0.1


@pytest.fixture
def stall_server() -> Iterator[H2TestServer]:
    server = H2TestServer(initial_window=2**31 - 1, rcvbuf=64 * 1024)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def client(stall_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(stall_server.url, transport=transport)


async def next_call_succeeds(client: AsyncConnectClient, server: H2TestServer) -> None:
    reply = await client.unary(
        ECHO, pb.EchoRequest(payload=b"next"), headers={"x-scenario": "unary"}, timeout=5
    )
    assert reply.payload == b"next"
    assert len(server.connections) == 2
    assert client.transport.num_connections == 1


async def test_move_on_after_interrupts_a_blocked_write(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    request = pb.EchoRequest(payload=b"x" * (40 * MiB))
    start = anyio.current_time()
    with anyio.move_on_after(0.5) as scope:
        await client.unary(ECHO, request, headers={"x-scenario": "stall"})
    assert scope.cancelled_caught
    assert anyio.current_time() - start <= 0.5 + SLACK
    await next_call_succeeds(client, stall_server)


async def test_task_group_cancel_interrupts_a_blocked_client_stream(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    async def chunks() -> AsyncIterator[pb.UploadRequest]:
        for _ in range(40):
            yield pb.UploadRequest(chunk=b"u" * MiB)

    cancelled = anyio.get_cancelled_exc_class()
    outcome: list[BaseException] = []

    async def upload() -> None:
        try:
            await client.client_stream(UPLOAD, chunks(), headers={"x-scenario": "stall"})
        except BaseException as exc:
            outcome.append(exc)
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(upload)
        for _ in range(1000):
            if any(conn.stalled for conn in stall_server.connections):
                break
            await anyio.sleep(0.005)
        await anyio.sleep(0.3)  # the upload's writes fill the buffers and block
        start = anyio.current_time()
        tg.cancel_scope.cancel()
    assert anyio.current_time() - start <= SLACK
    assert len(outcome) == 1 and isinstance(outcome[0], cancelled), outcome
    await next_call_succeeds(client, stall_server)


@pytest.mark.parametrize("how", ["task group", "enclosing scope"])
async def test_cancel_scope_during_a_write_leaves_the_other_stream_alone(
    slow_server: H2TestServer, certificate: tuple[str, str], how: str
) -> None:
    async with AsyncTransport(**transport_kwargs(slow_server, certificate)) as transport:
        client = AsyncConnectClient(slow_server.url, transport=transport, timeout=20)
        headers = {"x-scenario": "chat", "x-tag": "chat"}
        async with client.bidi_stream(CHAT, headers=headers) as chat:
            await chat.send(pb.ChatRequest(text="before"))
            reply = await chat.receive()
            assert reply is not None and reply.text == "before"

            request = pb.EchoRequest(payload=b"x" * (16 * MiB))
            upload_headers = {"x-scenario": "unary", "x-tag": "upload"}
            cancelled = anyio.get_cancelled_exc_class()
            outcome: list[BaseException] = []

            async def upload() -> None:
                try:
                    await client.unary(ECHO, request, headers=upload_headers)
                except BaseException as exc:
                    outcome.append(exc)
                    raise

            if how == "task group":
                async with anyio.create_task_group() as tg:
                    tg.start_soon(upload)
                    await wait_until_received(slow_server, 2 * MiB)
                    start = anyio.current_time()
                    tg.cancel_scope.cancel()
                assert anyio.current_time() - start <= SLACK
                assert len(outcome) == 1 and isinstance(outcome[0], cancelled), outcome
            else:
                start = math.inf
                async with anyio.create_task_group() as tg:
                    with anyio.CancelScope() as scope:

                        async def cancel_when_under_way() -> None:
                            nonlocal start
                            await wait_until_received(slow_server, 2 * MiB)
                            start = anyio.current_time()
                            scope.cancel()

                        tg.start_soon(cancel_when_under_way)
                        await upload()
                assert scope.cancelled_caught
                assert anyio.current_time() - start <= SLACK
                assert len(outcome) == 1 and isinstance(outcome[0], cancelled), outcome

            for n in range(3):
                await chat.send(pb.ChatRequest(text=f"after {n}"))
                reply = await chat.receive()
                assert reply is not None and reply.text == f"after {n}", reply
            await chat.close_send()
            assert await chat.receive() is None
        server = slow_server.connection
        assert server.protocol_error is None
        assert slow_server.wait_for(lambda: slow_server.resets("upload") == [8])
        assert slow_server.resets("chat") == []
        assert not server.closed
