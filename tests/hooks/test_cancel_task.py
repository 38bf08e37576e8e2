# unasync: skip (task cancellation and cancel scopes exist in the async flavour only)
"""Cancelling the task that drives an intercepted call: the cancellation
propagates unchanged (never a ``ConnectError``), the stream is reset once,
and every interceptor sees the end as ``CANCELED``."""

from __future__ import annotations

import anyio
from _support.methods import ECHO, STREAM, pb
from transport.h2server import H2TestServer

from connect_python import Code
from connect_python.runtime_async import AsyncTransport

from .test_close import INFINITE, Client, assert_one_cancel, scenario


async def test_cancelled_while_waiting_for_a_message(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = Client(transport, h2_server.url)
        headers = scenario("task", count=1, delay_ms=30000)
        reached = False
        with anyio.move_on_after(0.3) as scope:
            async with client.hooked.server_stream(STREAM, INFINITE, headers=headers) as call:
                await call.receive()
                reached = True
                await call.receive()  # the server sends nothing more
        assert reached and scope.cancelled_caught
        await assert_one_cancel(client, h2_server, "task")
        assert client.ends() == [Code.CANCELED] * 3


async def test_cancelled_unary(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = Client(transport, h2_server.url)
        with anyio.move_on_after(0.3) as scope:
            await client.hooked.unary(
                ECHO, pb.EchoRequest(), headers=scenario("ut", "hold", hold=2)
            )
        assert scope.cancelled_caught
        await assert_one_cancel(client, h2_server, "ut")
        assert client.ends() == [Code.CANCELED] * 3
