"""Sync-only: cancelling a blocked sync call from another thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import CancelToken, Code, ConnectError, MethodInfo, StreamType
from connect_python.runtime_sync import ConnectClient, Transport

SERVICE = "connectpy.testing.v1.TestService"
ECHO = MethodInfo(SERVICE, "Echo", pb.EchoRequest, pb.EchoResponse)
STREAM = MethodInfo(
    SERVICE, "Stream", pb.StreamRequest, pb.StreamResponse, StreamType.SERVER_STREAM
)


@pytest.mark.parametrize("mode", ["h1", "h2c"])
def test_cancel_blocked_stream_from_another_thread(test_server: Any, mode: str) -> None:
    transport = Transport(http2=False) if mode == "h1" else Transport(h2c=True)
    with transport, ConnectClient(test_server.http, transport=transport) as client:
        request = pb.StreamRequest(count=5, size=8, outcome=pb.Outcome(delay_ms=2000))
        call = client.server_stream(STREAM, request)
        call.start()
        timer = threading.Timer(0.3, call.cancel)
        start = time.monotonic()
        timer.start()
        with pytest.raises(ConnectError) as info:
            for _ in call:
                pass
        elapsed = time.monotonic() - start
        timer.join()
        assert info.value.code is Code.CANCELED
        assert elapsed < 1.5, "the blocked read was not interrupted"
        call.close()
        # The pool keeps serving calls.
        assert client.unary(ECHO, pb.EchoRequest(payload=b"ok")).payload == b"ok"


def test_sync_deadline_interrupts_blocked_read(test_server: Any) -> None:
    transport = Transport(http2=False)
    with transport, ConnectClient(test_server.http, transport=transport) as client:
        start = time.monotonic()
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(outcome=pb.Outcome(delay_ms=3000)), timeout=0.3)
        assert info.value.code is Code.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("mode", ["h1", "h2c", "h2-tls"])
def test_cancel_token_interrupts_blocked_unary_from_another_thread(
    test_server: Any, mode: str
) -> None:
    if mode == "h1":
        url, transport = test_server.http, Transport(http2=False)
    elif mode == "h2c":
        url, transport = test_server.http, Transport(h2c=True)
    else:
        url, transport = test_server.https, Transport(ca_certs=test_server.ca_pem_text)
    with transport, ConnectClient(url, transport=transport) as client:
        token = CancelToken()
        timer = threading.Timer(0.3, token.cancel)
        start = time.monotonic()
        timer.start()
        with pytest.raises(ConnectError) as info:
            client.unary(ECHO, pb.EchoRequest(outcome=pb.Outcome(delay_ms=3000)), cancel=token)
        timer.join()
        assert info.value.code is Code.CANCELED
        assert time.monotonic() - start < 1.5, "the blocked call was not interrupted"
        assert token.cancelled
        # The token stays cancelled; other calls on the pool go on.
        with pytest.raises(ConnectError):
            client.unary(ECHO, pb.EchoRequest(), cancel=token)
        assert client.unary(ECHO, pb.EchoRequest(payload=b"ok")).payload == b"ok"
