"""Sync-only: one client with interceptors shared by many threads.

Per-call state lives in each call's hooks, so calls running at once on one
client (and one HTTP/2 connection) never see each other's values: every call
ends once, with its own messages, and abandoned streams are reset once each.
"""

from __future__ import annotations

import threading
from typing import Any

from _support.methods import ECHO, STREAM, pb
from transport.h2server import CANCEL, H2TestServer

from connect_python import ConnectError, Headers
from connect_python.interceptors import (
    CallHooks,
    CallInfo,
    DefaultHeaders,
    Interceptor,
    LoggingInterceptor,
)
from connect_python.runtime_sync import ConnectClient, Transport

THREADS = 8


class Tally(Interceptor):
    """Records, per call, the tag it was started with and what its hooks saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ended: list[tuple[str, int, str | None]] = []

    def intercept(self, call: CallInfo) -> CallHooks | None:
        return TallyHooks(self, call.request_headers.get("x-tag", ""))


class TallyHooks(CallHooks):
    def __init__(self, tally: Tally, tag: str) -> None:
        self.tally = tally
        self.tag = tag
        self.received = 0

    def on_response(self, message: Any) -> Any:
        self.received += 1
        return message

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        with self.tally.lock:
            code = None if error is None else error.code.value
            self.tally.ended.append((self.tag, self.received, code))
        return error


def test_threads_share_one_intercepted_client(h2_server: H2TestServer) -> None:
    tally = Tally()
    interceptors = [DefaultHeaders({"x-sdk": "1"}), LoggingInterceptor(), tally]
    failures: list[BaseException] = []

    def work(client: ConnectClient, n: int) -> None:
        try:
            for k in range(3):
                tag = f"u{n}-{k}"
                headers = {"x-tag": tag, "x-scenario": "unary"}
                reply = client.unary(ECHO, pb.EchoRequest(payload=tag.encode()), headers=headers)
                assert reply.payload == tag.encode()
            done = {"x-tag": f"s{n}", "x-scenario": "stream", "x-count": str(n + 1)}
            with client.server_stream(STREAM, pb.StreamRequest(), headers=done) as call:
                assert len(list(call)) == n + 1
            left = {"x-tag": f"a{n}", "x-scenario": "stream", "x-count": "50", "x-delay-ms": "20"}
            with client.server_stream(STREAM, pb.StreamRequest(), headers=left) as call:
                next(iter(call))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    with Transport(h2c=True) as transport:
        client = ConnectClient(
            h2_server.url, transport=transport, timeout=20, interceptors=interceptors
        )
        threads = [threading.Thread(target=work, args=(client, n)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        # Every frame sent before this call is in the server's log when it returns.
        client.unary(ECHO, pb.EchoRequest(), headers={"x-tag": "last", "x-scenario": "unary"})
    ended = {tag: (received, code) for tag, received, code in tally.ended}
    assert len(tally.ended) == len(ended) == THREADS * 5 + 1
    for n in range(THREADS):
        assert all(ended[f"u{n}-{k}"] == (1, None) for k in range(3))
        assert ended[f"s{n}"] == (n + 1, None)
        assert ended[f"a{n}"] == (1, "canceled")
        assert h2_server.resets(f"a{n}") == [CANCEL]
        assert h2_server.resets(f"s{n}") == []
