# unasync: skip
"""The fault proxy's own guarantees (plain sockets and threads: the proxy runs
on a thread of its own, so these tests are the same in every flavour and have
no twin)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from reliability.faultproxy import DOWN, FaultProxy, Latency, Stall

PAYLOAD = bytes(range(100))


@pytest.fixture
def upstream() -> Iterator[tuple[tuple[str, int], threading.Event]]:
    """A server that sends :data:`PAYLOAD` to its first client; the event is
    set once the payload is written."""
    server = socket.create_server(("127.0.0.1", 0))
    sent = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(PAYLOAD)
            sent.set()
            conn.settimeout(10)
            # Until the client (through the proxy) goes.
            while conn.recv(1024):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname(), sent
    finally:
        server.close()
        thread.join(10)


def test_a_fault_decided_before_heal_is_not_carried_out_after(
    upstream: tuple[tuple[str, int], threading.Event],
) -> None:
    # found by test_soak.py (H1: a round's healthy call met a HalfClose's FIN
    # about 1 round in 2,000): the proxy decides a fault's cut when the bytes
    # are read and carries it out once the bytes before the cut are forwarded.
    # A heal() in between must win: here the first 10 bytes wait out their
    # latency while heal() runs, and the stall due after them must not happen.
    address, sent = upstream
    with FaultProxy(address) as proxy:
        proxy.set_faults(Latency(1.0, direction=DOWN), Stall(DOWN, after_bytes=10))
        with socket.create_connection(proxy.address, timeout=5) as client:
            assert sent.wait(5)
            # The proxy reads what the upstream wrote at once (loopback); the
            # 1 s latency leaves room for heal() before the first bytes go.
            time.sleep(0.2)
            healed_at = time.monotonic()
            proxy.heal()
            got = b""
            client.settimeout(3)
            while len(got) < len(PAYLOAD):
                chunk = client.recv(1024)
                assert chunk, "the proxy closed the connection"
                got += chunk
            assert got == PAYLOAD
            assert time.monotonic() - healed_at < 2.0
            assert "Stall" not in proxy.snapshot().triggered
