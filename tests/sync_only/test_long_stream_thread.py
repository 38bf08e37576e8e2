"""Sync-only: a long-lived client stream fed from a queue by a producer
thread, with keepalive messages when the queue stays quiet (the async
variant: tests/network/test_long_stream.py)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _support.methods import UPLOAD, pb

from connect_python.runtime_sync import ConnectClient, Transport

KEEPALIVE_EVERY = 0.15
KEEPALIVE = pb.UploadRequest()


def from_queue(inbox: queue.Queue[bytes | None]) -> Iterator[pb.UploadRequest]:
    """Each chunk put on the queue, a keepalive message whenever none came
    for ``KEEPALIVE_EVERY`` seconds; ``None`` ends the stream."""
    while True:
        try:
            chunk = inbox.get(timeout=KEEPALIVE_EVERY)
        except queue.Empty:
            yield KEEPALIVE
            continue
        if chunk is None:
            return
        yield pb.UploadRequest(chunk=chunk)


@pytest.mark.parametrize("kwargs", [{"http2": False}, {"h2c": True}], ids=["h1", "h2c"])
def test_client_stream_fed_by_a_producer_thread(test_server: Any, kwargs: dict[str, Any]) -> None:
    inbox: queue.Queue[bytes | None] = queue.Queue()

    def producer() -> None:
        for chunk in (b"ls\n", b"pwd\n", b"exit\n"):
            time.sleep(0.4)  # quieter than the keepalive interval
            inbox.put(chunk)
        inbox.put(None)

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    with (
        Transport(**kwargs, http2_ping_interval=0.2, http2_ping_timeout=1) as transport,
        ConnectClient(
            test_server.http, transport=transport, open_timeout=0.3, idle_timeout=0.3
        ) as client,
    ):
        reply = client.client_stream(UPLOAD, from_queue(inbox), timeout=10)
    thread.join(5)
    assert not thread.is_alive()
    assert reply.bytes == len(b"ls\npwd\nexit\n")
    assert reply.messages >= 3 + 3 * 2
