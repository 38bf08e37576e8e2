"""Retries against the Go test server: a try whose request was never written
is made again, invisibly to the caller (a TLS handshake reset by the fault
proxy; a refused port); a written request is never sent again (the server
counts); opt-in code retries only for idempotent methods, honouring
Retry-After."""

from __future__ import annotations

import socket
import time
import uuid
from email.utils import formatdate
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, current_time, sleep
from _support.methods import ECHO, ECHO_GET, pb
from reliability.accounting import server_stats
from reliability.faultproxy import FaultProxy, Refuse

from connect_python import CancelToken, Code, ConnectError, RetryPolicy
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport

from .conftest import H2Route


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_reset_handshake_is_retried_invisibly(test_server: Any) -> None:
    with FaultProxy(("127.0.0.1", int(test_server.https.rsplit(":", 1)[1]))) as proxy:
        proxy.set_faults(Refuse(), connections=2)
        async with (
            AsyncTransport(ca_certs=test_server.ca_pem_text) as transport,
            AsyncConnectClient(proxy.url("https"), transport=transport) as client,
        ):
            reply = await client.unary(ECHO, pb.EchoRequest(payload=b"hi"), timeout=5)
        assert reply.payload == b"hi"
        assert proxy.stats.accepted == 3


async def test_refused_connections_are_tried_three_times_with_backoff() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    policy = RetryPolicy(3, initial_backoff=0.1, jitter=0)
    async with (
        AsyncTransport(retries=policy) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=5)
        # Two waits between three tries: 0.1 s, then 0.2 s.
        assert current_time() - started >= 0.3
        assert info.value.code is Code.UNAVAILABLE
        assert "cannot connect" in info.value.message


async def test_retries_stay_within_the_deadline() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    policy = RetryPolicy(10, initial_backoff=0.2, jitter=0)
    async with (
        AsyncTransport(retries=policy) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=0.5)
        assert current_time() - started < 0.5 + 0.3
        # The last failure, not a deadline: no try was left within it.
        assert info.value.code is Code.UNAVAILABLE


async def test_no_retries_when_off() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    async with (
        AsyncTransport(retries=None) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        started = current_time()
        with pytest.raises(ConnectError):
            await client.unary(ECHO, pb.EchoRequest(), timeout=5)
        assert current_time() - started < 0.3


async def test_a_written_request_is_never_sent_again(
    h2_route: H2Route, fault_proxy: FaultProxy, test_server: Any
) -> None:
    tag = f"never-again-{uuid.uuid4().hex}"
    headers = {"x-rel-tag": tag, "x-rel-id": f"{tag}/0"}
    async with (
        AsyncTransport(**h2_route.kwargs) as transport,
        AsyncConnectClient(fault_proxy.url(h2_route.scheme), transport=transport) as client,
    ):

        async def reset_once_received() -> None:
            # The server has the request (it waits before answering): cut.
            give_up = current_time() + 5
            while server_stats(test_server.http, tag).started < 1 and current_time() < give_up:
                await sleep(0.02)
            fault_proxy.reset_all()

        resetter = Background(reset_once_received)
        request = pb.EchoRequest(payload=b"once", outcome=pb.Outcome(delay_ms=3000))
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, request, headers=headers, timeout=10)
        await resetter.wait()
        assert info.value.code is Code.UNAVAILABLE
        assert fault_proxy.stats.accepted == 1
        assert server_stats(test_server.http, tag).started == 1
        reply = await client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=5)
        assert reply.payload == b"next"


def failing(times: int, retry_after: str = "") -> tuple[pb.EchoRequest, dict[str, str]]:
    """A request the server fails with UNAVAILABLE ``times`` times, then answers."""
    # Unique per call: the server counts per key for the whole session.
    headers = {"x-fail-first": str(times), "x-fail-key": uuid.uuid4().hex}
    response_headers = [f"retry-after: {retry_after}"] if retry_after else []
    outcome = pb.Outcome(error_code="unavailable", response_headers=response_headers)
    return pb.EchoRequest(payload=b"ok", outcome=outcome), headers


OPT_IN = RetryPolicy(3, initial_backoff=0.05, retry_codes={Code.UNAVAILABLE})


async def test_opt_in_retries_an_idempotent_method(test_server: Any) -> None:
    async with (
        AsyncTransport(h2c=True, retries=OPT_IN) as transport,
        AsyncConnectClient(test_server.http, transport=transport) as client,
    ):
        request, headers = failing(2)
        reply = await client.unary(ECHO_GET, request, headers=headers, timeout=5)
        assert reply.payload == b"ok"


async def test_opt_in_honours_retry_after(test_server: Any) -> None:
    async with (
        AsyncTransport(h2c=True, retries=OPT_IN) as transport,
        AsyncConnectClient(test_server.http, transport=transport) as client,
    ):
        request, headers = failing(1, retry_after="1")
        started = current_time()
        reply = await client.unary(ECHO_GET, request, headers=headers, timeout=5)
        assert reply.payload == b"ok"
        assert current_time() - started >= 1.0
        # A Retry-After past the deadline: the error, at once.
        request, headers = failing(1, retry_after="10")
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO_GET, request, headers=headers, timeout=3)
        assert info.value.code is Code.UNAVAILABLE
        assert current_time() - started < 1.0


async def test_opt_in_honours_a_retry_after_date(test_server: Any) -> None:
    # The HTTP-date form: measured against the response's Date (or this
    # host's clock), at whole-second resolution.
    async with (
        AsyncTransport(h2c=True, retries=OPT_IN) as transport,
        AsyncConnectClient(test_server.http, transport=transport) as client,
    ):
        request, headers = failing(1, retry_after=formatdate(time.time() + 2, usegmt=True))
        started = current_time()
        reply = await client.unary(ECHO_GET, request, headers=headers, timeout=6)
        assert reply.payload == b"ok"
        assert current_time() - started >= 0.9
        # A date past the deadline: the error, at once.
        request, headers = failing(1, retry_after=formatdate(time.time() + 20, usegmt=True))
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO_GET, request, headers=headers, timeout=3)
        assert info.value.code is Code.UNAVAILABLE
        assert current_time() - started < 1.0
        # No deadline, a date beyond the policy's max_retry_after (30 s).
        request, headers = failing(1, retry_after=formatdate(time.time() + 45, usegmt=True))
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO_GET, request, headers=headers)
        assert info.value.code is Code.UNAVAILABLE
        assert current_time() - started < 1.0


async def test_opt_in_never_retries_a_method_with_side_effects(test_server: Any) -> None:
    async with (
        AsyncTransport(h2c=True, retries=OPT_IN) as transport,
        AsyncConnectClient(test_server.http, transport=transport) as client,
    ):
        request, headers = failing(2)
        for _ in range(2):  # the server counts both: neither call was retried
            with pytest.raises(ConnectError) as info:
                await client.unary(ECHO, request, headers=headers, timeout=5)
            assert info.value.code is Code.UNAVAILABLE
        reply = await client.unary(ECHO, request, headers=headers, timeout=5)
        assert reply.payload == b"ok"


async def cancel_after(token: CancelToken, seconds: float) -> None:
    await sleep(seconds)
    token.cancel()


async def test_a_cancel_token_ends_the_wait_between_dials() -> None:
    # The waits between refused dials are long; the token ends the second one.
    url = f"http://127.0.0.1:{closed_port()}"
    policy = RetryPolicy(3, initial_backoff=3, max_backoff=3, jitter=0)
    token = CancelToken()
    async with (
        AsyncTransport(retries=policy) as transport,
        AsyncConnectClient(url, transport=transport) as client,
    ):
        canceller = Background(cancel_after, token, 0.3)
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=30, cancel=token)
        await canceller.wait()
        assert info.value.code is Code.CANCELED
        assert current_time() - started < 0.3 + 1.0


async def test_a_cancel_token_ends_a_retry_after_wait(test_server: Any) -> None:
    async with (
        AsyncTransport(h2c=True, retries=OPT_IN) as transport,
        AsyncConnectClient(test_server.http, transport=transport) as client,
    ):
        request, headers = failing(1, retry_after="20")
        token = CancelToken()
        canceller = Background(cancel_after, token, 0.3)
        started = current_time()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO_GET, request, headers=headers, timeout=60, cancel=token)
        await canceller.wait()
        assert info.value.code is Code.CANCELED
        assert current_time() - started < 0.3 + 1.0
