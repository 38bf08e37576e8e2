# unasync: skip -- tasks woken together exist only in async code (threads write as they come).
"""Requests of tasks woken together go out in one write (``Gathering``).

When one network read answers many calls, their tasks wake together and each
queues its next request at once. The first of them to write lets the others
run first and writes what they all queued in one batch. These tests check the
batching itself (fewer writes than requests) and that cancelling calls at
any point of it, the writer's turn included, loses no request of the others,
resets each abandoned stream once and leaves the connection usable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _support.methods import ECHO, pb

from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import CANCEL, H2TestServer

CALLS = 20


@pytest.fixture
async def client(h2_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(h2_server.url, transport=transport, timeout=20)


def connection_of(client: AsyncConnectClient) -> object:
    (pool,) = client.transport._pool._origins.values()
    (conn,) = pool.h2
    return conn


async def test_requests_of_tasks_woken_together_share_a_write(
    client: AsyncConnectClient, h2_server: H2TestServer
) -> None:
    # A call first: the connection is up and its SETTINGS exchange done.
    await client.unary(ECHO, pb.EchoRequest(payload=b"w"), headers={"x-scenario": "unary"})
    conn = connection_of(client)
    go = anyio.Event()
    replies: list[bytes] = []

    async def call(index: int) -> None:
        await go.wait()
        payload = str(index).encode()
        # Answered 20 ms later, as by a server across a network: this server
        # runs in a thread of the test process and may answer a request
        # before the next task runs, and a call whose answer is there when it
        # reads completes without a scheduling point (its requests are not
        # woken together with the others' any more).
        reply = await client.unary(
            ECHO,
            pb.EchoRequest(payload=payload),
            headers={"x-scenario": "slow-unary", "x-delay-ms": "20"},
        )
        replies.append(reply.payload)

    async with anyio.create_task_group() as tg:
        for index in range(CALLS):
            tg.start_soon(call, index)
        await anyio.sleep(0.05)
        before = conn._batches  # type: ignore[attr-defined]
        go.set()
        while len(conn._state.streams) < CALLS and len(replies) < CALLS:  # type: ignore[attr-defined]
            await anyio.sleep(0)
        # Every request is out (or answered) by now; one write per request
        # would be CALLS batches.
        opened = conn._batches - before  # type: ignore[attr-defined]
    assert sorted(replies) == sorted(str(i).encode() for i in range(CALLS))
    assert opened <= CALLS // 4, f"{opened} writes for {CALLS} requests"


@pytest.mark.parametrize("delay", [0.0, 0.0001, 0.001])
async def test_calls_cancelled_while_others_gather_their_writes(
    client: AsyncConnectClient, h2_server: H2TestServer, delay: float
) -> None:
    await client.unary(ECHO, pb.EchoRequest(payload=b"w"), headers={"x-scenario": "unary"})
    go = anyio.Event()
    done: list[str] = []
    cancelled: list[str] = []

    async def call(tag: str, cancel: bool) -> None:
        await go.wait()
        with anyio.CancelScope() as scope:
            if cancel:
                # Due at the task's first checkpoint with delay 0 (the
                # writer's turn when it is the first to write), a little
                # later otherwise.
                scope.deadline = anyio.current_time() + delay
            headers = {"x-scenario": "unary", "x-tag": tag}
            reply = await client.unary(ECHO, pb.EchoRequest(payload=tag.encode()), headers=headers)
            assert reply.payload == tag.encode()
            done.append(tag)
        if scope.cancelled_caught:
            cancelled.append(tag)

    async with anyio.create_task_group() as tg:
        for index in range(CALLS):
            tg.start_soon(call, f"g{index}", index % 2 == 0)
        await anyio.sleep(0.05)
        go.set()
    # Every call that was not cancelled completed; none failed.
    assert len(done) + len(cancelled) == CALLS
    assert all(int(tag[1:]) % 2 == 0 for tag in cancelled)
    # Every stream the server saw ended: answered whole, or reset by the
    # client (a call cancelled after its answer arrived completed it). A
    # reset comes once, with CANCEL, and only for a cancelled call.
    (server_conn,) = h2_server.connections
    assert h2_server.wait_for(lambda: not server_conn._streams)
    seen = {headers.get("x-tag") for _, headers in server_conn.requests}
    for tag in cancelled:
        if tag in seen:
            assert h2_server.resets(tag) in ([], [CANCEL]), tag
    for tag in done:
        assert h2_server.resets(tag) == []
    # The connection goes on.
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"z"), headers={"x-scenario": "unary"})
    assert reply.payload == b"z"
    assert client.transport.num_connections == 1
