# unasync: skip -- enclosing cancel scopes exist only in async code.
"""A deadline of an enclosing cancel scope ends as that scope's cancellation.

The scope's deadline is announced as ``Connect-Timeout-Ms`` (gRPC and
gRPC-Web: ``grpc-timeout``) and connect-go enforces it: the server's deadline
error often arrives a fraction of a millisecond before the scope fires (the
header is rounded down to whole milliseconds). Whichever comes first, leaving
the scope must be a cancellation, never a ``ConnectError``; the call's own
``timeout=`` keeps giving ``DEADLINE_EXCEEDED``. Each loop runs a few hundred
calls with short deadlines so that both orders occur many times.
"""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient

from .conftest import make_transport
from .helpers import ECHO, STREAM, announced_timeout, outcome, seen_headers

ITERATIONS = 200
#: Wall-clock bound of one loop (a stuck loop fails instead of running on).
LOOP_LIMIT = 60.0
SCOPE = 0.012

UNARY_SLOW = pb.EchoRequest(outcome=outcome(delay_ms=3000))
STREAM_SLOW = pb.StreamRequest(count=1000, size=16, outcome=outcome(delay_ms=4))


async def _unary(client: AsyncConnectClient, timeout: float | None) -> None:
    await client.unary(ECHO, UNARY_SLOW, timeout=timeout)


async def _stream(client: AsyncConnectClient, timeout: float | None) -> None:
    async with client.server_stream(STREAM, STREAM_SLOW, timeout=timeout) as call:
        async for _ in call:
            pass


KINDS = {"unary": _unary, "stream": _stream}
#: Connect over both HTTP versions; gRPC (HTTP/2) and gRPC-Web announce their
#: deadline as grpc-timeout, which connect-go enforces too.
PROTOCOLS = [("connect", "h1"), ("connect", "h2c"), ("grpc", "h2c"), ("grpc-web", "h1")]


@pytest.mark.parametrize(("protocol", "mode"), PROTOCOLS)
async def test_scope_deadline_always_ends_as_the_scope_cancellation(
    test_server: Any, protocol: str, mode: str
) -> None:
    base_url, transport = make_transport(test_server, mode)
    errors: list[tuple[str, str, ConnectError]] = []
    not_cancelled: list[tuple[str, str]] = []
    async with transport:
        clients = {
            codec: AsyncConnectClient(base_url, transport=transport, codec=codec, protocol=protocol)
            for codec in ("proto", "json")
        }
        # The server does enforce the announced deadline (connect-go does).
        response = await clients["proto"].unary(ECHO, pb.EchoRequest(), timeout=5)
        assert 4 < announced_timeout(seen_headers(response)) <= 5
        if protocol == "connect":  # (gRPC's timeout header is the client's alone)
            with anyio.fail_after(5), pytest.raises(ConnectError) as info:
                await clients["proto"].unary(ECHO, UNARY_SLOW, headers={"connect-timeout-ms": "20"})
            assert info.value.remote
            assert info.value.code in (Code.DEADLINE_EXCEEDED, Code.CANCELED)

        combos = itertools.cycle(itertools.product(KINDS, clients))
        started = anyio.current_time()
        for _ in range(ITERATIONS):
            assert anyio.current_time() - started < LOOP_LIMIT, "loop too slow"
            kind, codec = next(combos)
            # Own timeout far away: the scope's deadline is the one announced.
            with anyio.move_on_after(SCOPE) as scope:
                try:
                    await KINDS[kind](clients[codec], 30)
                except ConnectError as exc:
                    errors.append((kind, codec, exc))
            if not scope.cancelled_caught:
                not_cancelled.append((kind, codec))
    assert errors == []
    assert not_cancelled == []


@pytest.mark.parametrize(("protocol", "mode"), PROTOCOLS)
async def test_own_timeout_still_gives_deadline_exceeded(
    test_server: Any, protocol: str, mode: str
) -> None:
    base_url, transport = make_transport(test_server, mode)
    codes: list[Code] = []
    async with transport:
        client = AsyncConnectClient(base_url, transport=transport, protocol=protocol)
        started = anyio.current_time()
        for i in range(60):
            assert anyio.current_time() - started < LOOP_LIMIT, "loop too slow"
            kind = "unary" if i % 2 else "stream"
            # An enclosing scope further away: the call's own deadline is announced.
            with anyio.fail_after(10):
                with pytest.raises(ConnectError) as info:
                    await KINDS[kind](client, SCOPE)
            codes.append(info.value.code)
    assert set(codes) == {Code.DEADLINE_EXCEEDED}


async def test_remote_deadline_error_long_before_the_scope_is_reported(
    client: AsyncConnectClient,
) -> None:
    # A deadline error the server sends on its own, far from the scope's deadline,
    # is the server's answer: it is not held back until the scope ends.
    request = pb.EchoRequest(outcome=outcome("deadline_exceeded", "upstream timed out"))
    with anyio.fail_after(10):
        started = anyio.current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, request)
        assert anyio.current_time() - started < 5
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert info.value.remote
    assert info.value.message == "upstream timed out"
