"""Sync-only: every wait of a sync call ends at its deadline or when it is
cancelled from another thread, without a thread or timer per call.

The deadline is each wait's own timeout; a ``CancelToken`` wakes the waiting
thread. Checked where a call can block: connecting, writing a request the
server does not read, and the number of threads calls with deadlines leave.
"""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _support.concurrency.shim_sync import CallScope, SyncBackend
from _support.methods import ECHO, STREAM, pb

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_sync import ConnectClient, Transport


class Unaccepting:
    """A listener whose accept queue is full: a connect to it hangs."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._filler = socket.create_connection(("127.0.0.1", self.port))

    def close(self) -> None:
        self._filler.close()
        self._listener.close()


class NeverReads:
    """Accepts connections and never reads from them (nor answers)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._listener.close()


@pytest.fixture
def unaccepting() -> Iterator[Unaccepting]:
    server = Unaccepting()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def never_reads() -> Iterator[NeverReads]:
    server = NeverReads()
    try:
        yield server
    finally:
        server.close()


def cancel_after(token: CancelToken, delay: float) -> tuple[threading.Thread, list[float]]:
    """Cancel ``token`` from another thread after ``delay``; the time it did."""
    at: list[float] = []

    def run() -> None:
        time.sleep(delay)
        at.append(time.monotonic())
        token.cancel()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, at


@pytest.mark.parametrize("http", ["h1", "h2c"])
def test_cancel_during_connect_returns_at_once(unaccepting: Unaccepting, http: str) -> None:
    transport = Transport(http2=http == "h2c", h2c=http == "h2c", connect_timeout=8)
    url = f"http://127.0.0.1:{unaccepting.port}"
    with transport, ConnectClient(url, transport=transport) as client:
        token = CancelToken()
        thread, at = cancel_after(token, 0.2)
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(), timeout=30, cancel=token)
        ended = time.monotonic()
        thread.join()
        assert info.value.code is Code.CANCELED
        assert ended - at[0] < 0.1, ended - at[0]
        assert transport.num_connections == 0


@pytest.mark.parametrize("http", ["h1", "h2c"])
def test_calls_with_deadlines_leave_no_threads(test_server: Any, http: str) -> None:
    before = set(threading.enumerate())
    transport = Transport(http2=http == "h2c", h2c=http == "h2c")
    with transport, ConnectClient(test_server.http, transport=transport, timeout=60) as client:
        for _ in range(1000):
            client.unary(ECHO, pb.EchoRequest(payload=b"x"), timeout=60)
        for _ in range(100):
            # Left early: started, one message read, closed.
            with client.server_stream(STREAM, pb.StreamRequest(count=50, size=8)) as call:
                assert call.receive() is not None
        if http == "h2c":
            for _ in range(1000):
                # Dropped: started, one message read, never closed.
                dropped = client.server_stream(STREAM, pb.StreamRequest(count=50, size=8))
                assert dropped.receive() is not None
                del dropped
            gc.collect()
        assert client.unary(ECHO, pb.EchoRequest(payload=b"ok")).payload == b"ok"
        # No thread per call: nothing lingers until the calls' deadlines (60 s).
        # A short-lived helper (a background write of a reset) may still be
        # finishing: give it a moment.
        for _ in range(200):
            new = set(threading.enumerate()) - before
            if not new:
                break
            time.sleep(0.01)
        assert not new, f"{len(new)} threads left by calls: {sorted(t.name for t in new)[:5]}"


def test_a_stalled_upload_ends_at_the_deadline(never_reads: NeverReads) -> None:
    body = b"\0" * (40 * 1024 * 1024)
    transport = Transport(http2=False)
    with transport, ConnectClient(never_reads.url, transport=transport) as client:
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(payload=body), timeout=1)
        elapsed = time.monotonic() - start
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert 0.95 <= elapsed <= 1.1, elapsed
        assert transport.num_connections == 0  # the half-written connection is gone


def test_a_stalled_upload_ends_at_cancel(never_reads: NeverReads) -> None:
    body = b"\0" * (40 * 1024 * 1024)
    transport = Transport(http2=False)
    with transport, ConnectClient(never_reads.url, transport=transport) as client:
        token = CancelToken()
        thread, at = cancel_after(token, 0.3)
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(payload=body), timeout=30, cancel=token)
        ended = time.monotonic()
        thread.join()
        assert info.value.code is Code.CANCELED
        assert ended - at[0] < 0.1, ended - at[0]
        assert transport.num_connections == 0


class SilentTLS:
    """Accepts connections and never answers (a TLS handshake hangs)."""

    def __init__(self) -> None:
        self._server = NeverReads()
        self.url = f"https://127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def silent_tls() -> Iterator[SilentTLS]:
    server = SilentTLS()
    try:
        yield server
    finally:
        server.close()


def test_a_stalled_tls_handshake_ends_at_the_deadline(silent_tls: SilentTLS) -> None:
    transport = Transport(connect_timeout=30)
    with transport, ConnectClient(silent_tls.url, transport=transport) as client:
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(), timeout=0.3)
        elapsed = time.monotonic() - start
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert 0.25 <= elapsed < 0.4, elapsed
        assert transport.num_connections == 0


def test_a_stalled_tls_handshake_ends_at_cancel(silent_tls: SilentTLS) -> None:
    transport = Transport(connect_timeout=30)
    with transport, ConnectClient(silent_tls.url, transport=transport) as client:
        token = CancelToken()
        thread, at = cancel_after(token, 0.2)
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(), cancel=token)
        ended = time.monotonic()
        thread.join()
        assert info.value.code is Code.CANCELED
        assert ended - at[0] < 0.1, ended - at[0]
        assert transport.num_connections == 0


# -- the socket's own waits (no abort hook involved) ---------------------------


def write_in_thread(
    stream: Any, scope: CallScope, data: bytes
) -> tuple[threading.Thread, list[BaseException], list[float]]:
    """Write ``data`` under ``scope`` in a thread: its error and end time."""
    errors: list[BaseException] = []
    ended: list[float] = []

    def run() -> None:
        try:
            with scope.step():
                stream.write(data)
        except BaseException as exc:
            errors.append(exc)
        ended.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors, ended


def test_a_blocked_socket_write_ends_at_the_call_deadline(never_reads: NeverReads) -> None:
    stream = SyncBackend().connect_tcp("127.0.0.1", never_reads.port)
    try:
        start = time.monotonic()
        scope = CallScope(start + 0.5)
        thread, errors, ended = write_in_thread(stream, scope, b"\0" * (40 * 1024 * 1024))
        thread.join(5)
        assert not thread.is_alive(), "the write ignored the call's deadline"
        assert isinstance(errors[0], ConnectError), errors
        assert errors[0].code is Code.DEADLINE_EXCEEDED
        assert 0.5 <= ended[0] - start <= 0.6, ended[0] - start
    finally:
        stream.close()


def test_a_blocked_socket_write_ends_when_cancelled(never_reads: NeverReads) -> None:
    stream = SyncBackend().connect_tcp("127.0.0.1", never_reads.port)
    try:
        scope = CallScope(None)
        thread, errors, ended = write_in_thread(stream, scope, b"\0" * (40 * 1024 * 1024))
        time.sleep(0.3)  # the write fills the socket buffers and blocks
        assert thread.is_alive()
        cancelled_at = time.monotonic()
        scope.cancel()  # from this thread, not the writing one
        thread.join(5)
        assert not thread.is_alive(), "the cancel did not wake the write"
        assert isinstance(errors[0], ConnectError), errors
        assert errors[0].code is Code.CANCELED
        assert ended[0] - cancelled_at < 0.1, ended[0] - cancelled_at
    finally:
        stream.close()


def _eventfds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += "eventfd" in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            pass
    return count


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="counts eventfds in /proc")
def test_a_thread_s_wake_fd_closes_when_the_thread_ends(never_reads: NeverReads) -> None:
    # Each thread that waits inside a call's step gets a wake fd (a cancel
    # from another thread writes to it); it must go with the thread, not
    # wait for the cyclic garbage collector.
    errors: list[BaseException] = []

    def call_that_times_out() -> None:
        stream = SyncBackend().connect_tcp("127.0.0.1", never_reads.port)
        try:
            with CallScope(time.monotonic() + 0.05).step():
                stream.read(1)
        except ConnectError as exc:
            if exc.code is not Code.DEADLINE_EXCEEDED:
                errors.append(exc)
        else:
            errors.append(AssertionError("the read returned"))
        finally:
            stream.close()

    gc.collect()
    gc.disable()
    try:
        before = _eventfds()
        threads = [threading.Thread(target=call_that_times_out) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not errors, errors
        assert _eventfds() == before
    finally:
        gc.enable()
