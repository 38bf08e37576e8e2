# unasync: skip -- enclosing cancel scopes exist only in the async flavour.
"""An enclosing cancel scope around a call with open and idle timeouts ends
as that scope's cancellation, never as one of the call's timeouts; and a
timeout inside a far scope is the call's error."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _support.methods import ECHO, STREAM, pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

SLOW = pb.EchoRequest(outcome=pb.Outcome(delay_ms=5000))


@pytest.fixture
async def client(test_server: Any) -> Any:
    async with (
        AsyncTransport(h2c=True) as transport,
        AsyncConnectClient(
            test_server.http, transport=transport, open_timeout=2, idle_timeout=2
        ) as made,
    ):
        yield made


async def test_scope_deadline_is_the_scopes_cancellation(client: AsyncConnectClient) -> None:
    with anyio.move_on_after(0.2) as scope:
        await client.unary(ECHO, SLOW)
    assert scope.cancelled_caught
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            request = pb.StreamRequest(count=2, outcome=pb.Outcome(delay_ms=5000))
            async with client.server_stream(STREAM, request) as call:
                async for _ in call:
                    pass


async def test_task_cancellation_is_untouched(client: AsyncConnectClient) -> None:
    async with anyio.create_task_group() as tg:

        async def call() -> None:
            await client.unary(ECHO, SLOW)

        tg.start_soon(call)
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    assert tg.cancel_scope.cancelled_caught


async def test_open_timeout_inside_a_far_scope_is_the_calls_error(
    client: AsyncConnectClient,
) -> None:
    with anyio.move_on_after(10) as scope:
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, SLOW, open_timeout=0.2)
    assert not scope.cancelled_caught
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert "open_timeout" in info.value.message
