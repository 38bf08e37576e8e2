"""Every wait ends: HTTP/2 connections whose server misbehaves (DESIGN.md §3).

A frame-level ``h2`` server plays the faults (``transport/h2server.py``):

- It stops reading in the middle of a 40 MB upload (a big unary request or a
  client stream; its receive buffer is small and its flow-control windows are
  huge, so the client's writes block in the socket). The call ends at its
  deadline, or on ``CancelToken.cancel()``, within 100 ms; the connection,
  whose peer stopped taking what is written to it, is retired, and the next
  call succeeds on a new one. A stream still open there goes on until the
  connection is given up (the PING sent after the upload's leftover is not
  answered within the budget), then fails with ``UNAVAILABLE``. (A peer that
  still reads keeps the connection's other streams going: see
  ``test_h2_faults_shared.py``.)
- It stops reading and floods PING frames, during a call or while the
  connection is idle: the client's PING ACKs pile up. Same outcome.
- It never sends SETTINGS, or stops responding: after a call's deadline on a
  connection that showed no sign of life since the call's stream opened, new
  calls go to a new connection. A call that times out while other streams'
  frames keep arriving leaves the connection in use.
- It allows one stream at a time (``MAX_CONCURRENT_STREAMS=1``, enforced: one
  more stream is a connection error): 20 concurrent calls all succeed.

The async tests run on asyncio and trio; their sync twins run the same faults
against the sync client (cancellation from another thread).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from _support.concurrency.shim_async import Background, current_time, sleep
from _support.methods import ECHO, STREAM, UPLOAD, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from transport.h2server import H2TestServer

MiB = 1 << 20
#: How long a call may take beyond its deadline (or its cancellation).
SLACK = 0.1
#: The deadline of the calls that meet a fault.
DEADLINE = 1.0


@pytest.fixture
def stall_server() -> Iterator[H2TestServer]:
    """Windows so large the client never waits for flow control, and a small
    receive buffer: once the server stops reading, the client's writes block."""
    server = H2TestServer(initial_window=2**31 - 1, rcvbuf=64 * 1024)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def client(stall_server: H2TestServer) -> AsyncIterator[AsyncConnectClient]:
    async with AsyncTransport(h2c=True) as transport:
        yield AsyncConnectClient(stall_server.url, transport=transport)


async def next_call_succeeds(client: AsyncConnectClient, server: H2TestServer, count: int) -> None:
    """A plain call works (on a new connection: ``count`` in all)."""
    reply = await client.unary(
        ECHO, pb.EchoRequest(payload=b"next"), headers={"x-scenario": "unary"}, timeout=5
    )
    assert reply.payload == b"next"
    assert len(server.connections) == count
    assert client.transport.num_connections == 1


async def chunks(count: int) -> AsyncIterator[pb.UploadRequest]:
    for _ in range(count):
        yield pb.UploadRequest(chunk=b"u" * MiB)


async def wait_until_stalled(server: H2TestServer) -> None:
    """Until the server stopped reading, plus a moment for the client's
    writes to fill the socket buffers and block."""
    for _ in range(1000):
        if any(conn.stalled for conn in server.connections):
            break
        await sleep(0.005)
    else:
        raise AssertionError("the server never stalled")
    await sleep(0.3)


# -- a write blocked by a server that stopped reading ------------------------------


async def test_blocked_unary_write_ends_at_the_deadline(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    request = pb.EchoRequest(payload=b"x" * (40 * MiB))
    start = current_time()
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, request, headers={"x-scenario": "stall"}, timeout=DEADLINE)
    elapsed = current_time() - start
    assert info.value.code == Code.DEADLINE_EXCEEDED, info.value
    assert elapsed <= DEADLINE + SLACK, elapsed
    await next_call_succeeds(client, stall_server, 2)


async def test_blocked_client_stream_write_ends_at_the_deadline(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    start = current_time()
    with pytest.raises(ConnectError) as info:
        await client.client_stream(
            UPLOAD, chunks(40), headers={"x-scenario": "stall"}, timeout=DEADLINE
        )
    elapsed = current_time() - start
    assert info.value.code == Code.DEADLINE_EXCEEDED, info.value
    assert elapsed <= DEADLINE + SLACK, elapsed
    await next_call_succeeds(client, stall_server, 2)


async def test_cancel_token_interrupts_a_blocked_write(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    token = CancelToken()
    cancelled_at: list[float] = []

    async def cancel_once_blocked() -> None:
        await wait_until_stalled(stall_server)
        cancelled_at.append(current_time())
        token.cancel()

    request = pb.EchoRequest(payload=b"x" * (40 * MiB))
    canceller = Background(cancel_once_blocked)
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, request, headers={"x-scenario": "stall"}, cancel=token)
    ended = current_time()
    await canceller.wait()
    assert canceller.error is None
    assert info.value.code == Code.CANCELED, info.value
    assert ended - cancelled_at[0] <= SLACK, ended - cancelled_at[0]
    await next_call_succeeds(client, stall_server, 2)


async def test_cancel_token_interrupts_a_blocked_client_stream(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    token = CancelToken()
    cancelled_at: list[float] = []

    async def cancel_once_blocked() -> None:
        await wait_until_stalled(stall_server)
        cancelled_at.append(current_time())
        token.cancel()

    canceller = Background(cancel_once_blocked)
    with pytest.raises(ConnectError) as info:
        await client.client_stream(
            UPLOAD, chunks(40), headers={"x-scenario": "stall"}, cancel=token
        )
    ended = current_time()
    await canceller.wait()
    assert canceller.error is None
    assert info.value.code == Code.CANCELED, info.value
    assert ended - cancelled_at[0] <= SLACK, ended - cancelled_at[0]
    await next_call_succeeds(client, stall_server, 2)


async def test_a_stream_on_a_connection_given_up_fails_with_a_typed_error(
    client: AsyncConnectClient, stall_server: H2TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server stream is open on the connection when an upload's write to the
    # stalled server is cut short: the connection is retired, the PING sent
    # after the upload's leftover gets no ACK within the budget, the
    # connection is given up, and the stream says so.
    budget = 2.0
    monkeypatch.setattr("connect_python.runtime_async._http2_writer._LEFTOVER_BUDGET", budget)
    headers = {"x-scenario": "stream", "x-count": "-1", "x-delay-ms": "50"}
    async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
        assert await call.receive() is not None
        with pytest.raises(ConnectError) as info:
            await client.client_stream(
                UPLOAD, chunks(40), headers={"x-scenario": "stall"}, timeout=DEADLINE
            )
        assert info.value.code == Code.DEADLINE_EXCEEDED
        cut_at = current_time()
        with pytest.raises(ConnectError) as failed:
            for _ in range(1000):
                await call.receive()
        assert failed.value.code == Code.UNAVAILABLE, failed.value
        assert current_time() - cut_at <= budget + SLACK
    await next_call_succeeds(client, stall_server, 2)


async def test_closing_a_stream_does_not_wait_for_a_blocked_write(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    # An upload's write blocks on the connection; a server stream on the same
    # connection is closed meanwhile: its reset is queued, the close returns.
    headers = {"x-scenario": "stream", "x-count": "-1", "x-delay-ms": "50"}
    token = CancelToken()
    call = client.server_stream(STREAM, pb.StreamRequest(), headers=headers)
    await call.start()
    assert await call.receive() is not None

    async def upload() -> None:
        await client.client_stream(
            UPLOAD, chunks(40), headers={"x-scenario": "stall"}, cancel=token
        )

    uploader = Background(upload)
    await wait_until_stalled(stall_server)
    start = current_time()
    await call.aclose()
    assert current_time() - start <= SLACK
    token.cancel()
    await uploader.wait()
    assert isinstance(uploader.error, ConnectError), uploader.error
    assert uploader.error.code == Code.CANCELED
    await next_call_succeeds(client, stall_server, 2)


# -- PING floods from a server that stopped reading --------------------------------


@pytest.mark.parametrize("burst", [4096, 300])
async def test_ping_flood_during_a_call_ends_in_time(
    client: AsyncConnectClient, stall_server: H2TestServer, burst: int
) -> None:
    # 4096 PINGs per burst: more than a read may carry, the connection fails
    # as flooded. 300 every 2 ms: the client answers them until its replies
    # fill the socket buffers (the server reads none), or until the deadline.
    headers = {"x-scenario": "ping-flood", "x-burst": str(burst)}
    start = current_time()
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers=headers, timeout=DEADLINE)
    elapsed = current_time() - start
    assert info.value.code in (Code.DEADLINE_EXCEEDED, Code.UNAVAILABLE), info.value
    assert elapsed <= DEADLINE + SLACK, elapsed
    # The server counts what it sent once its send returned: the client may have
    # read the flood and failed the call before that thread ran again.
    flooder = stall_server.connections[0]
    for _ in range(200):
        if flooder.pings_sent > 1000:
            break
        await sleep(0.005)
    assert flooder.pings_sent > 1000
    await next_call_succeeds(client, stall_server, 2)


async def test_ping_flood_on_an_idle_connection_does_not_hold_the_next_call(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    reply = await client.unary(
        ECHO,
        pb.EchoRequest(payload=b"one"),
        headers={"x-scenario": "flood-after", "x-delay-ms": "100"},
    )
    assert reply.payload == b"one"
    # Until the flood filled the socket buffers (the count stops growing).
    flooder = stall_server.connections[0]
    seen = -1
    for _ in range(400):
        await sleep(0.025)
        if flooder.pings_sent > 10_000 and flooder.pings_sent == seen:
            break
        seen = flooder.pings_sent
    else:
        raise AssertionError("the flood never filled the buffers")
    start = current_time()
    await next_call_succeeds(client, stall_server, 2)
    assert current_time() - start < DEADLINE


# -- a connection that shows no sign of life ---------------------------------------


async def test_connection_that_never_sends_settings_is_left() -> None:
    server = H2TestServer(silent_connections=1)
    try:
        async with AsyncTransport(h2c=True) as transport:
            client = AsyncConnectClient(server.url, transport=transport)
            start = current_time()
            with pytest.raises(ConnectError) as info:
                await client.unary(
                    ECHO, pb.EchoRequest(), headers={"x-scenario": "unary"}, timeout=0.5
                )
            assert info.value.code == Code.DEADLINE_EXCEEDED
            assert current_time() - start <= 0.5 + SLACK
            assert server.connections[0].frames_of("HEADERS")  # the request was sent
            for n in range(3):
                reply = await client.unary(
                    ECHO,
                    pb.EchoRequest(payload=b"%d" % n),
                    headers={"x-scenario": "unary"},
                    timeout=5,
                )
                assert reply.payload == b"%d" % n
            assert len(server.connections) == 2
            assert transport.num_connections == 1
    finally:
        server.close()


async def test_connection_that_stops_responding_is_left(
    client: AsyncConnectClient, stall_server: H2TestServer
) -> None:
    reply = await client.unary(ECHO, pb.EchoRequest(payload=b"1"), headers={"x-scenario": "unary"})
    assert reply.payload == b"1"
    with pytest.raises(ConnectError) as info:
        await client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "stall"}, timeout=0.5)
    assert info.value.code == Code.DEADLINE_EXCEEDED
    await next_call_succeeds(client, stall_server, 2)


async def test_a_timeout_among_live_streams_keeps_the_connection(
    h2_server: H2TestServer,
) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = AsyncConnectClient(h2_server.url, transport=transport)
        headers = {"x-scenario": "stream", "x-count": "-1", "x-delay-ms": "20"}
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            assert await call.receive() is not None

            async def read_on() -> None:
                for _ in range(50):
                    await call.receive()

            reader = Background(read_on)
            with pytest.raises(ConnectError) as info:
                await client.unary(
                    ECHO,
                    pb.EchoRequest(),
                    headers={"x-scenario": "slow-unary", "x-delay-ms": "5000"},
                    timeout=0.3,
                )
            assert info.value.code == Code.DEADLINE_EXCEEDED
            await reader.wait()
            assert reader.error is None
            reply = await client.unary(
                ECHO, pb.EchoRequest(payload=b"ok"), headers={"x-scenario": "unary"}
            )
            assert reply.payload == b"ok"
        assert len(h2_server.connections) == 1


async def wait_closed(server: H2TestServer, index: int, seconds: float) -> bool:
    """Whether the server saw connection ``index`` closed within ``seconds``."""
    end = current_time() + seconds
    while not server.connections[index].closed and current_time() < end:
        await sleep(0.01)
    return server.connections[index].closed


async def test_a_retired_connection_closes_after_its_last_call(h2_server: H2TestServer) -> None:
    async with AsyncTransport(h2c=True) as transport:
        client = AsyncConnectClient(h2_server.url, transport=transport)
        headers = {"x-scenario": "stream", "x-count": "3", "x-delay-ms": "50"}
        async with client.server_stream(STREAM, pb.StreamRequest(), headers=headers) as call:
            assert await call.receive() is not None
            await sleep(0.5)  # the rest of the answer waits in the socket
            slow = {"x-scenario": "slow-unary", "x-delay-ms": "5000"}
            for _ in range(2):
                # The first timeout's wait reads the rest of the answer: the
                # HTTP/2 stream is over while its call still has messages to
                # take. The second, on a connection silent since its stream
                # opened, retires the connection.
                with pytest.raises(ConnectError) as info:
                    await client.unary(ECHO, pb.EchoRequest(), headers=slow, timeout=0.3)
                assert info.value.code == Code.DEADLINE_EXCEEDED
            # Retired, and still in use: it stays open.
            assert not await wait_closed(h2_server, 0, 0.3)
            assert transport.num_connections == 1
            assert await call.receive() is not None
            assert await call.receive() is not None
            assert await call.receive() is None
        assert await wait_closed(h2_server, 0, 5)
        assert transport.num_connections == 0
        await next_call_succeeds(client, h2_server, 2)


# -- MAX_CONCURRENT_STREAMS --------------------------------------------------------


async def test_calls_beyond_the_server_stream_limit_queue() -> None:
    server = H2TestServer(max_concurrent_streams=1)
    try:
        async with AsyncTransport(h2c=True) as transport:
            client = AsyncConnectClient(server.url, transport=transport, timeout=30)
            results: list[bytes] = []

            async def one(n: int) -> None:
                reply = await client.unary(
                    ECHO,
                    pb.EchoRequest(payload=b"%d" % n),
                    headers={"x-scenario": "slow-unary", "x-delay-ms": "20"},
                )
                results.append(reply.payload)

            calls = [Background(one, n) for n in range(20)]
            for call in calls:
                await call.wait()
            assert [c.error for c in calls if c.error is not None] == []
            assert sorted(results) == sorted(b"%d" % n for n in range(20))
            assert all(conn.max_open == 1 for conn in server.connections)
    finally:
        server.close()
