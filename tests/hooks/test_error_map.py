"""A client's HTTP status map for responses that are not Connect responses, and
the transport-failure predicate, against connect-go behind a middleware that
answers like an edge proxy (plain-text 404 / 429 / 502)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb
from runtime.helpers import ECHO, STREAM, outcome

from connect_python import Code, ConnectError
from connect_python.interceptors import (
    CallHooks,
    CallInfo,
    Interceptor,
    is_transport_failure,
    with_code,
)
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .conftest import make_transport
from .helpers import Event, Recorder, end_of

EDGE = {404: Code.NOT_FOUND, 429: Code.RESOURCE_EXHAUSTED, 502: Code.UNAVAILABLE}
PLAIN = {
    "http_404": (404, Code.UNIMPLEMENTED, b"404 page not found (test server raw mode)\n"),
    "http_429": (429, Code.UNAVAILABLE, b"too many requests (test server raw mode)\n"),
    "http_502": (502, Code.UNAVAILABLE, b"bad gateway (test server raw mode)\n"),
}


@pytest.fixture
async def transport(test_server: Any, mode: str) -> AsyncIterator[tuple[str, AsyncTransport]]:
    base_url, made = make_transport(test_server, mode)
    async with made:
        yield base_url, made


def raw(mode: str) -> dict[str, str]:
    return {"x-test-raw": mode}


@pytest.mark.parametrize("raw_mode", sorted(PLAIN))
async def test_spec_mapping_by_default(
    transport: tuple[str, AsyncTransport], raw_mode: str
) -> None:
    base_url, pool = transport
    client = AsyncConnectClient(base_url, transport=pool)
    status, code, body = PLAIN[raw_mode]
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=raw(raw_mode))
    error = info.value
    assert (error.code, error.http_status, error.http_body) == (code, status, body)
    assert error.from_http_status and error.remote
    assert not is_transport_failure(error)


@pytest.mark.parametrize("raw_mode", sorted(PLAIN))
async def test_client_map_for_unary_and_streams(
    transport: tuple[str, AsyncTransport], raw_mode: str
) -> None:
    base_url, pool = transport
    log: list[Event] = []
    client = AsyncConnectClient(
        base_url, transport=pool, http_status_codes=EDGE, interceptors=[Recorder("r", log)]
    )
    status, _, body = PLAIN[raw_mode]
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=raw(raw_mode))
    error = info.value
    assert (error.code, error.http_status, error.http_body) == (EDGE[status], status, body)
    assert error.remote and f"HTTP {status}" in error.message
    assert error.metadata["content-type"].startswith("text/plain")
    # Interceptors see the mapped error.
    assert end_of(log, "r")[0] is error
    with pytest.raises(ConnectError) as stream_info:
        async with client.server_stream(
            STREAM, pb.StreamRequest(count=2), headers=raw(raw_mode)
        ) as call:
            async for _ in call:
                pass
    assert stream_info.value.code is EDGE[status]
    assert stream_info.value.http_body == body


async def test_map_without_interceptors(transport: tuple[str, AsyncTransport]) -> None:
    base_url, pool = transport
    client = AsyncConnectClient(base_url, transport=pool, http_status_codes={404: Code.NOT_FOUND})
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=raw("http_404"))
    assert info.value.code is Code.NOT_FOUND
    # Statuses the map does not name keep the spec's code.
    with pytest.raises(ConnectError) as other:
        await client.unary(ECHO, pb.EchoRequest(), headers=raw("http_429"))
    assert other.value.code is Code.UNAVAILABLE


async def test_connect_errors_are_not_remapped(transport: tuple[str, AsyncTransport]) -> None:
    base_url, pool = transport
    table = {503: Code.INTERNAL, 404: Code.INTERNAL}
    client = AsyncConnectClient(base_url, transport=pool, http_status_codes=table)
    # A Connect error body with a code (an edge proxy speaking Connect JSON).
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=raw("http_503_json"))
    assert info.value.code is Code.UNAVAILABLE and not info.value.from_http_status
    # The server's own NOT_FOUND (HTTP 404 on the wire) is the server's word.
    with pytest.raises(ConnectError) as own:
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome("not_found", "gone")))
    assert own.value.code is Code.NOT_FOUND and own.value.http_status == 404


class Annotate(Interceptor):
    """Replaces every error with a copy carrying another message (same code, same cause)."""

    def intercept(self, call: CallInfo) -> CallHooks | None:
        return AnnotateHooks()


class AnnotateHooks(CallHooks):
    def on_end(self, error: ConnectError | None, trailers: Any) -> ConnectError | None:
        if error is None:
            return None
        return with_code(error, error.code, "sdk: " + error.message)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_transport_failure_predicate_through_interceptors(
    transport: tuple[str, AsyncTransport],
) -> None:
    base_url, pool = transport
    log: list[Event] = []
    hooks: list[Interceptor] = [Annotate(), Recorder("r", log)]
    async with AsyncConnectClient(f"http://127.0.0.1:{closed_port()}", interceptors=hooks) as dead:
        with pytest.raises(ConnectError) as refused:
            await dead.unary(ECHO, pb.EchoRequest())
    assert is_transport_failure(refused.value)
    assert refused.value.message.startswith("sdk: ")
    assert is_transport_failure(end_of(log, "r")[0])  # as the inner interceptor saw it
    client = AsyncConnectClient(base_url, transport=pool, interceptors=hooks)
    with pytest.raises(ConnectError) as server_error:
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome("unavailable", "busy")))
    assert server_error.value.code is Code.UNAVAILABLE and server_error.value.remote
    assert not is_transport_failure(server_error.value)
    with pytest.raises(ConnectError) as deadline:
        await client.unary(ECHO, pb.EchoRequest(outcome=outcome(delay_ms=5000)), timeout=0.05)
    assert deadline.value.code is Code.DEADLINE_EXCEEDED
    assert not is_transport_failure(deadline.value)
