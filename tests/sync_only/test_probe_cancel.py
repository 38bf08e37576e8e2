"""Sync-only: a call waiting for the ACK of a liveness probe PING (the pool's
check of a connection a past deadline found silent) ends when its
``CancelToken`` is cancelled from another thread, not when the wait's own
bound (up to a second) is over."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from _support.methods import ECHO, STREAM, pb
from reliability.faultproxy import FaultProxy
from reliability.faults import HalfOpen

from connect_python import CancelToken, Code, ConnectError
from connect_python.runtime_sync import ConnectClient, Transport


def test_cancel_ends_the_wait_for_a_probe_ack(test_server: Any) -> None:
    upstream = urlsplit(test_server.http)
    assert upstream.hostname is not None and upstream.port is not None
    with (
        FaultProxy((upstream.hostname, upstream.port)) as proxy,
        Transport(h2c=True) as transport,
        ConnectClient(proxy.url("http"), transport=transport) as client,
    ):
        # A stream that spoke, then fell silent past its deadline: the
        # connection sends a probe PING that the silent path never answers.
        request = pb.StreamRequest(count=100, size=8, outcome=pb.Outcome(delay_ms=50))
        with (
            pytest.raises(ConnectError) as info,
            client.server_stream(STREAM, request, timeout=0.6) as call,
        ):
            assert call.receive() is not None
            proxy.inject(HalfOpen())
            for _ in call:
                pass
        assert info.value.code is Code.DEADLINE_EXCEEDED

        # The next call waits for that ACK (1 s at most, with this deadline)
        # before it opens a stream there; cancelled during that wait.
        token = CancelToken()
        timer = threading.Timer(0.15, token.cancel)
        start = time.monotonic()
        timer.start()
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(payload=b"x"), timeout=10, cancel=token)
        elapsed = time.monotonic() - start
        timer.join()
        assert info.value.code is Code.CANCELED
        assert elapsed < 0.7, f"the probe wait ignored the cancel ({elapsed:.2f} s)"

        # The silent connection is still found out by the next call.
        reply = client.unary(ECHO, pb.EchoRequest(payload=b"next"), timeout=3)
        assert reply.payload == b"next"
        assert proxy.stats.accepted == 2
