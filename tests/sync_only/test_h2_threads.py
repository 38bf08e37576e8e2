"""Sync-only: HTTP/2 streams shared by threads.

A thread blocked reading the socket for every stream of a connection can be
interrupted when *its* call is cancelled from another thread; the stream is
reset (once) and the other streams and the connection carry on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from _support.methods import ECHO, STREAM, pb
from transport.h2server import CANCEL, H2TestServer

from connect_python import Code, ConnectError
from connect_python.runtime_sync import ConnectClient, Transport


@pytest.fixture
def client(h2_server: H2TestServer) -> Iterator[ConnectClient]:
    with Transport(h2c=True) as transport:
        yield ConnectClient(h2_server.url, transport=transport, timeout=20)


def headers(tag: str, count: int, delay_ms: int) -> dict[str, str]:
    return {
        "x-scenario": "stream",
        "x-tag": tag,
        "x-count": str(count),
        "x-delay-ms": str(delay_ms),
    }


def test_cancel_the_reading_thread(client: ConnectClient, h2_server: H2TestServer) -> None:
    # The only stream: its thread is the one blocked on the socket.
    call = client.server_stream(STREAM, pb.StreamRequest(), headers=headers("solo", 3, 5000))
    assert call.receive() is not None
    timer = threading.Timer(0.3, call.cancel)
    start = time.monotonic()
    timer.start()
    with pytest.raises(ConnectError) as info:
        call.receive()
    elapsed = time.monotonic() - start
    timer.join()
    assert info.value.code is Code.CANCELED
    assert elapsed < 1.0, elapsed
    call.close()
    assert client.unary(ECHO, pb.EchoRequest(payload=b"ok"), headers={"x-scenario": "unary"})
    assert h2_server.resets("solo") == [CANCEL]
    assert client.transport.num_connections == 1


def test_cancel_one_of_several_threads(client: ConnectClient, h2_server: H2TestServer) -> None:
    results: dict[str, object] = {}
    calls = {
        "quiet": client.server_stream(
            STREAM, pb.StreamRequest(), headers=headers("quiet", 2, 60000)
        ),
        "busy": client.server_stream(STREAM, pb.StreamRequest(), headers=headers("busy", 20, 30)),
    }

    def run(name: str) -> None:
        call = calls[name]
        try:
            with call:
                results[name] = [message.index for message in call]
        except ConnectError as exc:
            results[name] = exc.code

    threads = [threading.Thread(target=run, args=(name,)) for name in calls]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    calls["quiet"].cancel()
    for thread in threads:
        thread.join(timeout=10)
    assert results["quiet"] is Code.CANCELED
    assert results["busy"] == list(range(20))
    assert h2_server.resets("quiet") == [CANCEL] or h2_server.wait_for(
        lambda: h2_server.resets("quiet") == [CANCEL]
    )
    assert h2_server.resets("busy") == []
    assert client.unary(ECHO, pb.EchoRequest(), headers={"x-scenario": "unary"}) is not None
    assert len(h2_server.connections) == 1


def test_many_threads_share_one_connection(client: ConnectClient, h2_server: H2TestServer) -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            call = client.server_stream(
                STREAM, pb.StreamRequest(), headers=headers(f"t{n}", 5, 5 + n % 5)
            )
            with call:
                results[n] = [message.index for message in call]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert results == {n: [0, 1, 2, 3, 4] for n in range(24)}
    assert len(h2_server.connections) == 1
    assert h2_server.frames("RST_STREAM") == []
