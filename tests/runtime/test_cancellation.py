# unasync: skip -- task cancellation and cancel scopes exist only in async code.
"""Cancellation on asyncio and trio: never converted into an error (every protocol)."""

from __future__ import annotations

import anyio
import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .conftest import PROTOCOL_MODES as PROTOCOL_MODES  # every test runs for every protocol
from .helpers import ECHO, STREAM, announced_timeout, outcome, seen_headers


async def test_cancelled_unary_propagates_and_pool_stays_healthy(
    client: AsyncConnectClient, transport: AsyncTransport
) -> None:
    # Cancelled explicitly (no deadline is announced, so the server cannot answer first).
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.unary, ECHO, pb.EchoRequest(outcome=outcome(delay_ms=3000)))
            await anyio.sleep(0.2)
            scope.cancel()
    assert scope.cancelled_caught
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"next"))
    assert response.payload == b"next"
    assert transport.num_connections == 1


async def test_cancelled_task_mid_stream(
    client: AsyncConnectClient, transport: AsyncTransport
) -> None:
    received: list[int] = []
    cancelled = anyio.Event()

    async def consume() -> None:
        try:
            request = pb.StreamRequest(count=1000, size=16, outcome=outcome(delay_ms=20))
            async with client.server_stream(STREAM, request) as call:
                async for message in call:
                    received.append(message.index)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        while len(received) < 3:
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert cancelled.is_set()
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"after"))
    assert response.payload == b"after"
    assert transport.num_connections == 1


async def test_enclosing_scope_deadline_is_sent(client: AsyncConnectClient) -> None:
    with anyio.fail_after(3):
        response = await client.unary(ECHO, pb.EchoRequest())
    assert 2 < announced_timeout(seen_headers(response)) <= 3
    # The tighter of the scope's deadline and the call's timeout is announced.
    with anyio.fail_after(30):
        response = await client.unary(ECHO, pb.EchoRequest(), timeout=1)
    assert announced_timeout(seen_headers(response)) <= 1


async def test_enclosing_scope_expiry_is_a_cancellation_not_an_error(
    client: AsyncConnectClient,
) -> None:
    # The scope's deadline is announced, so the server may time the call out at the
    # same moment; whichever comes first, a cancellation must not become CANCELED.
    with anyio.move_on_after(0.2) as scope:
        try:
            await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=3000)), timeout=10)
        except ConnectError as exc:
            # Only the server's own deadline error may win the race.
            assert exc.remote
            assert exc.code in (Code.DEADLINE_EXCEEDED, Code.CANCELED)
            await anyio.sleep(1)  # the scope's deadline still cancels us here
    assert scope.cancelled_caught


async def test_call_cancel_from_another_task_reports_canceled(client: AsyncConnectClient) -> None:
    # The other task cancels once three messages arrived, while the reader waits
    # for the fourth (the server paces them 50 ms apart): no timing guesswork.
    request = pb.StreamRequest(count=1000, size=16, outcome=outcome(delay_ms=50))
    call = client.server_stream(STREAM, request)
    got: list[int] = []
    three = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def cancel_after_three() -> None:
            await three.wait()
            call.cancel()

        tg.start_soon(cancel_after_three)
        with pytest.raises(ConnectError) as info:
            async with call:
                async for message in call:
                    got.append(message.index)
                    if len(got) == 3:
                        three.set()
    assert info.value.code is Code.CANCELED
    assert 3 <= len(got) < 20


async def test_concurrent_calls(
    client: AsyncConnectClient, transport: AsyncTransport, mode: str
) -> None:
    results: list[bytes] = []

    async def one(i: int) -> None:
        response = await client.unary(ECHO, pb.EchoRequest(payload=str(i).encode()))
        results.append(response.payload)

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert sorted(results) == sorted(str(i).encode() for i in range(50))
    if mode == "h1":
        assert 1 <= transport.num_connections <= 50
    else:
        # Multiplexed: one HTTP/2 connection carries every call.
        assert transport.num_connections == 1


async def test_cancel_token_reports_canceled(
    client: AsyncConnectClient, transport: AsyncTransport
) -> None:
    token = CancelToken()
    async with anyio.create_task_group() as tg:

        async def cancel_soon() -> None:
            await anyio.sleep(0.2)
            token.cancel()

        tg.start_soon(cancel_soon)
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=3000)), cancel=token)
    assert info.value.code is Code.CANCELED
    # Server stream and client stream take the same token; a cancelled one fails at once.
    with pytest.raises(ConnectError) as info:
        async for _ in client.server_stream(STREAM, pb.StreamRequest(count=3), cancel=token):
            pass
    assert info.value.code is Code.CANCELED
    response = await client.unary(ECHO, pb.EchoRequest(payload=b"after"))
    assert response.payload == b"after"
    assert transport.num_connections == 1
