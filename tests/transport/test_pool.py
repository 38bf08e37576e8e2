"""The connection pool: ``max_connections`` is a limit, every waiter wakes or
ends at its deadline or cancel, and a failed dial names its target.

The limit is checked where it matters, at a server the test owns: a counting
TCP proxy in front of the Go test server sees every connection the pool dials.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _support.concurrency.shim_async import Background, sleep
from _support.methods import ECHO, STREAM, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_async import AsyncConnectClient, AsyncTransport


class CountingProxy:
    """A TCP proxy on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = 0
        self.open = 0
        self.max_open = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._start(self._accept_loop)

    def _start(self, fn: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self.accepted += 1
                self.open += 1
                self.max_open = max(self.max_open, self.open)
                self._socks += [client, upstream]
            done = [0]
            self._start(self._pump, client, upstream, done)
            self._start(self._pump, upstream, client, done)

    def _pump(self, src: socket.socket, dst: socket.socket, done: list[int]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            done[0] += 1
            if done[0] == 2:
                self.open -= 1

    def close(self) -> None:
        self._closed = True
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        for sock in [*socks, self._listener]:
            sock.close()


class Unaccepting:
    """A listener whose accept queue is full: a connect to it hangs."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        # The queue holds one connection: this one fills it.
        self._filler = socket.create_connection(("127.0.0.1", self.port))

    def close(self) -> None:
        self._filler.close()
        self._listener.close()


@pytest.fixture
def proxy(test_server: Any) -> Iterator[CountingProxy]:
    server = CountingProxy(test_server.http)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def unaccepting() -> Iterator[Unaccepting]:
    server = Unaccepting()
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def run_all(fns: list[Callable[[], Any]]) -> list[BaseException | None]:
    """Run the calls concurrently (tasks; threads in the sync twin); their errors."""
    jobs = [Background(fn) for fn in fns]
    for job in jobs:
        await job.wait()
    return [job.error for job in jobs]


@pytest.mark.parametrize("limit", [1, 3, 8])
@pytest.mark.parametrize("http", ["h1", "h2c"])
async def test_max_connections_is_a_limit(proxy: CountingProxy, limit: int, http: str) -> None:
    # 50 calls at once: never more than `limit` dials, and every waiter gets
    # its turn (a lost wake-up would end as DEADLINE_EXCEEDED).
    async with AsyncTransport(
        http2=http == "h2c", h2c=http == "h2c", max_connections=limit
    ) as transport:
        client = AsyncConnectClient(proxy.url, transport=transport, timeout=20)
        replies: list[bytes] = []

        async def one(i: int) -> None:
            request = pb.EchoRequest(payload=b"%d" % i, outcome=pb.Outcome(delay_ms=10))
            replies.append((await client.unary(ECHO, request)).payload)

        errors = await run_all([lambda i=i: one(i) for i in range(50)])
        assert errors == [None] * 50
        assert sorted(replies) == sorted(b"%d" % i for i in range(50))
        assert transport.num_connections <= limit
    assert 1 <= proxy.accepted <= limit
    if http == "h2c":
        assert proxy.accepted == 1  # one HTTP/2 connection carries them all


async def test_pool_wait_ends_at_the_deadline(test_server: Any) -> None:
    async with AsyncTransport(http2=False, max_connections=1) as transport:
        client = AsyncConnectClient(test_server.http, transport=transport, timeout=20)
        request = pb.StreamRequest(count=3, size=8, outcome=pb.Outcome(delay_ms=1000))
        async with client.server_stream(STREAM, request) as held:
            await held.start()  # holds the only connection
            start = time.monotonic()
            with pytest.raises(ConnectError) as info:
                await client.unary(ECHO, pb.EchoRequest(), timeout=0.5)
            elapsed = time.monotonic() - start
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert 0.45 <= elapsed <= 0.6, elapsed
        # The held connection went back to the pool: the next call has it.
        assert (await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))).payload == b"ok"


async def test_cancel_token_ends_a_pool_wait(test_server: Any) -> None:
    async with AsyncTransport(http2=False, max_connections=1) as transport:
        client = AsyncConnectClient(test_server.http, transport=transport, timeout=20)
        request = pb.StreamRequest(count=3, size=8, outcome=pb.Outcome(delay_ms=1000))
        async with client.server_stream(STREAM, request) as held:
            await held.start()
            token = CancelToken()
            cancelled_at: list[float] = []

            async def cancel_soon() -> None:
                await sleep(0.2)
                cancelled_at.append(time.monotonic())
                token.cancel()

            canceller = Background(cancel_soon)
            with pytest.raises(ConnectError) as info:
                await client.unary(ECHO, pb.EchoRequest(), cancel=token)
            ended = time.monotonic()
            await canceller.wait()
        assert info.value.code is Code.CANCELED
        assert ended - cancelled_at[0] < 0.1
        assert (await client.unary(ECHO, pb.EchoRequest(payload=b"ok"))).payload == b"ok"


async def test_waiters_take_turns_and_none_is_lost(proxy: CountingProxy) -> None:
    # One connection, calls of different lengths, some leaving the queue at
    # their deadline: the others still all finish.
    async with AsyncTransport(http2=False, max_connections=1) as transport:
        client = AsyncConnectClient(proxy.url, transport=transport, timeout=20)

        async def one(i: int) -> None:
            delay = 0 if i % 3 else 30
            timeout = 0.05 if i % 4 == 1 else None
            request = pb.EchoRequest(outcome=pb.Outcome(delay_ms=delay))
            await client.unary(ECHO, request, timeout=timeout)

        errors = await run_all([lambda i=i: one(i) for i in range(30)])
        timed_out = 0
        for i, error in enumerate(errors):
            if i % 4 == 1 and error is not None:
                assert isinstance(error, ConnectError), error
                assert error.code is Code.DEADLINE_EXCEEDED, error
                timed_out += 1
            else:
                assert error is None, (i, error)
        assert transport.num_connections <= 1
    # A call that timed out during its exchange closed its connection; no
    # other dial happened.
    assert 1 <= proxy.accepted <= 1 + timed_out


# -- a failed dial names its target, the same way in every flavour ------------


async def test_connection_refused_names_the_target() -> None:
    port = closed_port()
    async with AsyncTransport(http2=False) as transport:
        client = AsyncConnectClient(f"http://127.0.0.1:{port}", transport=transport)
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
    error = info.value
    assert error.code is Code.UNAVAILABLE
    assert error.message == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert error.remote is False
    assert error.__cause__ is not None


async def test_unknown_host_names_the_target() -> None:
    host = "no-such-host.invalid"
    try:
        socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        reason = exc.strerror
    else:
        pytest.fail(f"{host} resolved")
    async with AsyncTransport(http2=False) as transport:
        client = AsyncConnectClient(f"http://{host}", transport=transport)
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest())
    error = info.value
    assert error.code is Code.UNAVAILABLE
    assert error.message == f"cannot connect to {host}:80: cannot resolve the host name ({reason})"
    assert error.remote is False
    assert isinstance(error.__cause__, Exception)


async def test_connect_timeout_names_the_target(unaccepting: Unaccepting) -> None:
    # One dial (no retries: by default a dial that timed out is tried again).
    async with AsyncTransport(http2=False, connect_timeout=0.3, retries=None) as transport:
        client = AsyncConnectClient(f"http://127.0.0.1:{unaccepting.port}", transport=transport)
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=5)
        elapsed = time.monotonic() - start
    error = info.value
    assert error.code is Code.UNAVAILABLE
    assert error.message == f"cannot connect to 127.0.0.1:{unaccepting.port}: timed out after 0.3 s"
    assert error.remote is False
    assert 0.25 <= elapsed < 0.5, elapsed


async def test_the_call_deadline_ends_a_dial(unaccepting: Unaccepting) -> None:
    async with AsyncTransport(http2=False, connect_timeout=30) as transport:
        client = AsyncConnectClient(f"http://127.0.0.1:{unaccepting.port}", transport=transport)
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            await client.unary(ECHO, pb.EchoRequest(), timeout=0.3)
        elapsed = time.monotonic() - start
    assert info.value.code is Code.DEADLINE_EXCEEDED
    assert 0.25 <= elapsed < 0.4, elapsed
    assert transport.num_connections == 0


async def test_an_idle_connection_makes_room_for_another_origin(
    proxy: CountingProxy, test_server: Any
) -> None:
    # At the limit, a call to another origin closes an idle connection
    # instead of waiting for one that would never be released.
    async with AsyncTransport(http2=False, max_connections=1) as transport:
        via_proxy = AsyncConnectClient(proxy.url, transport=transport, timeout=2)
        direct = AsyncConnectClient(test_server.http, transport=transport, timeout=2)
        assert (await via_proxy.unary(ECHO, pb.EchoRequest(payload=b"a"))).payload == b"a"
        assert transport.num_idle == 1
        assert (await direct.unary(ECHO, pb.EchoRequest(payload=b"b"))).payload == b"b"
        assert transport.num_connections == 1
        assert (await via_proxy.unary(ECHO, pb.EchoRequest(payload=b"c"))).payload == b"c"
        assert transport.num_connections == 1
    assert proxy.accepted == 2
