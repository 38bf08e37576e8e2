"""HTTP/2 flow control, trailers and concurrency, seen from the server's side.

- The connection window is credited for data of abandoned streams, so it
  never leaks: 100 abandoned streams later a full-size call still works.
- Stream windows are credited as the application consumes: a slow reader of
  a 100 MB response keeps at most one stream window buffered.
- Trailers arrive; 200 streams run at once on one connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _support.methods import ECHO, pb

from connect_python._http.h2_state import DEFAULT_STREAM_WINDOW
from connect_python._io.shim_async import Background, CallScope, current_time, sleep
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport
from connect_python.runtime_async._exchange import read_all
from transport.h2server import CANCEL, H2TestServer

MiB = 1 << 20


def raw_headers(**params: object) -> list[tuple[bytes, bytes]]:
    return [(b"x-" + k.replace("_", "-").encode(), str(v).encode()) for k, v in params.items()]


@pytest.fixture
async def transport() -> AsyncIterator[AsyncTransport]:
    async with AsyncTransport(h2c=True) as made:
        yield made


async def test_trailers_are_delivered(h2_server: H2TestServer, transport: AsyncTransport) -> None:
    scope = CallScope(None)
    response = await transport.request(
        b"POST",
        b"http",
        b"127.0.0.1",
        h2_server.port,
        b"/trailers",
        raw_headers(scenario="trailers", size=1000),
        b"",
        scope,
    )
    assert response.status == 200
    assert response.trailers == []
    body = await read_all(response, scope, None)
    assert body == b"t" * 1000
    assert response.trailers == [(b"x-trailer-one", b"1"), (b"x-trailer-two", b"2")]
    await response.aclose()
    scope.close()


async def test_connection_window_survives_100_abandoned_streams(h2_server: H2TestServer) -> None:
    # A small connection window: without crediting the data of abandoned
    # streams it would be used up after a handful of them.
    window = 1 * MiB
    async with AsyncTransport(
        h2c=True, http2_connection_window=window, http2_stream_window=256 * 1024
    ) as transport:
        for n in range(100):
            scope = CallScope(None)
            response = await transport.request(
                b"POST",
                b"http",
                b"127.0.0.1",
                h2_server.port,
                b"/bytes",
                raw_headers(scenario="bytes", total=4 * MiB, tag=f"a{n}"),
                b"",
                scope,
            )
            assert await response.receive(scope)
            await response.aclose()  # unread data stays behind (and keeps coming)
            scope.close()
        # The server sent far more than the connection window in all.
        conn = h2_server.connection
        assert sum(conn.sent_by_stream.values()) > 10 * window
        # A full-size response on the same connection still gets through.
        scope = CallScope(current_time() + 10)
        response = await transport.request(
            b"POST",
            b"http",
            b"127.0.0.1",
            h2_server.port,
            b"/bytes",
            raw_headers(scenario="bytes", total=3 * MiB, tag="last"),
            b"",
            scope,
        )
        assert len(await read_all(response, scope, None)) == 3 * MiB
        scope.close()
        assert transport.num_connections == 1
        assert len(h2_server.connections) == 1
        # Every abandoned stream was reset once, and the server sees the
        # connection window restored (credits are sent in half-window steps).
        for n in range(100):
            assert h2_server.resets(f"a{n}") == [CANCEL]
        assert h2_server.wait_for(lambda: conn.outbound_window >= window // 2)
        assert not h2_server.frames("RST_STREAM", h2_server.stream_id("last"))


async def test_slow_consumer_keeps_memory_bounded(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    total = 100 * MiB
    scope = CallScope(None)
    response = await transport.request(
        b"POST",
        b"http",
        b"127.0.0.1",
        h2_server.port,
        b"/bytes",
        raw_headers(scenario="bytes", total=total, tag="slow"),
        b"",
        scope,
    )
    conn = h2_server.connection
    sid = h2_server.stream_id("slow")
    bound = DEFAULT_STREAM_WINDOW + 64 * 1024
    consumed = 0
    for step in range(8):
        # Read about 1 MiB, then dawdle while the server keeps offering data.
        target = consumed + MiB
        while consumed < target:
            consumed += len(await response.receive(scope))
        await sleep(0.05)
        sent = conn.sent_by_stream.get(sid, 0)
        assert sent <= consumed + bound, (step, sent, consumed)
        buffered = response._stream.buffered  # type: ignore[union-attr]
        assert buffered <= bound
    # What was read was credited back: the server could keep sending.
    assert h2_server.wait_for(lambda: conn.sent_by_stream.get(sid, 0) >= consumed + MiB)
    assert conn.sent_by_stream[sid] <= consumed + bound
    assert conn.sent_by_stream[sid] < total
    await response.aclose()
    scope.close()
    assert h2_server.wait_for(lambda: h2_server.resets("slow") == [CANCEL])


async def test_200_concurrent_streams_on_one_connection(
    h2_server: H2TestServer, transport: AsyncTransport
) -> None:
    client = AsyncConnectClient(h2_server.url, transport=transport, timeout=30)
    count = 200
    results: list[bytes] = []

    async def one(n: int) -> None:
        # The server answers only once all 200 streams are open at once.
        reply = await client.unary(
            ECHO,
            pb.EchoRequest(payload=str(n).encode()),
            headers={"x-scenario": "hold", "x-hold": str(count)},
        )
        results.append(reply.payload)

    tasks = [Background(one, n) for n in range(count)]
    for task in tasks:
        await task.wait()
    errors = [task.error for task in tasks if task.error is not None]
    assert not errors, errors[:3]
    assert sorted(results) == sorted(str(n).encode() for n in range(count))
    assert len(h2_server.connections) == 1
    assert h2_server.connection.max_open == count
    assert transport.num_connections == 1


async def test_server_stream_limit_is_honoured(transport: AsyncTransport) -> None:
    server = H2TestServer(max_concurrent_streams=5)
    try:
        client = AsyncConnectClient(server.url, transport=transport, timeout=30)
        await client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "unary"})

        async def one() -> None:
            # Answered once all 10 are open at once (on any connection).
            await client.unary(
                ECHO, pb.EchoRequest(), headers={"x-scenario": "hold", "x-hold": "10"}
            )

        tasks = [Background(one) for _ in range(10)]
        for task in tasks:
            await task.wait()
        assert [task.error for task in tasks if task.error is not None] == []
        # Never more than 5 at once per connection: the others went to a second one.
        assert len(server.connections) == 2
        assert [conn.max_open for conn in server.connections] == [5, 5]
    finally:
        server.close()
