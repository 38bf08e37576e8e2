# unasync: skip -- drives the sync client directly (hypothesis runs examples on one thread).
"""Fuzzing the client end to end: a loopback peer answers every request with
bytes hypothesis chose, and a real call (public API, sync client) reads them.

The answers start from well-formed Connect responses (HTTP/1.1 with chunked
or sized bodies; HTTP/2 frames with HPACK headers) made of envelopes,
end-stream JSON and compressed payloads, then get bytes flipped, cut or
inserted. Whatever the peer sends, the call must end with its result or a
``ConnectError``, within its deadline + 100 ms: this reaches the HTTP/1.1
parser, the HTTP/2 frame reader and HPACK decoder, envelopes, end-stream and
error JSON and decompression through the paths the runtime really takes.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import hpack
import pytest
from _support.methods import ECHO, STREAM, pb
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_python import ConnectError
from connect_python.runtime_sync import ConnectClient, Transport
from reliability.accounting import mode

EXAMPLES = 1000 if mode() == "release" else 100
TIMEOUT = 0.5
WIRE = settings(
    max_examples=EXAMPLES,
    deadline=None,  # bounded by the call's own deadline, checked below
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Peer:
    """A loopback server that answers each connection with ``self.answer``."""

    def __init__(self) -> None:
        self.answer = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="fuzz-peer", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # the request (or its start)
                    conn.sendall(self.answer)
                    conn.shutdown(socket.SHUT_WR)
                    deadline = time.monotonic() + TIMEOUT + 0.5
                    while time.monotonic() < deadline and conn.recv(65536):
                        pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    made = Peer()
    yield made
    made.close()


def envelope(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


messages = st.lists(st.binary(max_size=40), max_size=4).map(
    lambda ps: [pb.StreamResponse(index=i, payload=p).SerializeToString() for i, p in enumerate(ps)]
)
end_streams = st.sampled_from(
    [
        b"{}",
        b'{"error": {"code": "unavailable", "message": "x"}}',
        b'{"metadata": {"a": ["1"]}}',
        b'{"error": {"code": 5}}',
        b"not json",
        b'{"metadata": {"a": "1"}}',
        b"[" * 5000,
    ]
)
edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 300)), max_size=4)


def mutate(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in changes:
        if not out:
            break
        i = pos % len(out)
        if value < 256:
            out[i] = value
        elif value < 280:
            del out[i:]
        else:
            out[i:i] = bytes([value - 280])
    return bytes(out)


@st.composite
def stream_body(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Envelopes of a Connect stream, gzip-compressed or not."""
    compressed = draw(st.booleans())
    body = b""
    for message in draw(messages):
        if compressed:
            body += envelope(1, gzip.compress(message))
        else:
            body += envelope(0, message)
    body += envelope(2, draw(end_streams))
    return body, compressed


def h1_answer(body: bytes, compressed: bool, chunked: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\n"
    if compressed:
        head += b"connect-content-encoding: gzip\r\n"
    if chunked:
        return (
            head
            + b"transfer-encoding: chunked\r\n\r\n"
            + b"%x\r\n" % len(body)
            + body
            + (b"\r\n0\r\n\r\n")
        )
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def h2_answer(body: bytes, compressed: bool, extra: int) -> bytes:
    encoder = hpack.Encoder()
    headers = [(":status", "200"), ("content-type", "application/connect+proto")]
    if compressed:
        headers.append(("connect-content-encoding", "gzip"))
    out = SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize()
    out += HeadersFrame(1, encoder.encode(headers), flags=["END_HEADERS"]).serialize()
    for i in range(0, len(body), 700):
        out += DataFrame(1, body[i : i + 700]).serialize()
    end = DataFrame(1, b"", flags=["END_STREAM"]).serialize()
    if extra == 1:
        end = RstStreamFrame(1, error_code=2).serialize()
    elif extra == 2:
        end = GoAwayFrame(0, last_stream_id=0, error_code=1).serialize()
    return out + end


def call_and_check(port: int, h2: bool, unary: bool) -> None:
    transport = Transport(h2c=True) if h2 else Transport(http2=False)
    start = time.monotonic()
    with transport, ConnectClient(f"http://127.0.0.1:{port}", transport=transport) as client:
        try:
            if unary:
                client.unary(ECHO, pb.EchoRequest(payload=b"x"), timeout=TIMEOUT)
            else:
                with client.server_stream(STREAM, pb.StreamRequest(), timeout=TIMEOUT) as call:
                    for _ in call:
                        pass
        except ConnectError:
            pass
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + 0.1 + 0.2, f"the call took {elapsed:.3f} s"  # + close


@WIRE
@given(stream_body(), st.booleans(), edits)
def test_http1_stream_answers(
    peer: Peer, body: tuple[bytes, bool], chunked: bool, changes: list[tuple[int, int]]
) -> None:
    peer.answer = mutate(h1_answer(body[0], body[1], chunked), changes)
    call_and_check(peer.port, h2=False, unary=False)


@WIRE
@given(stream_body(), st.integers(0, 2), edits)
def test_http2_stream_answers(
    peer: Peer, body: tuple[bytes, bool], extra: int, changes: list[tuple[int, int]]
) -> None:
    peer.answer = mutate(h2_answer(body[0], body[1], extra), changes)
    call_and_check(peer.port, h2=True, unary=False)


unary_bodies = st.sampled_from(
    [
        (b"application/proto", pb.EchoResponse(payload=b"ok").SerializeToString()),
        (b"application/json", json.dumps({"code": "not_found", "message": "m"}).encode()),
        (b"application/json", b'{"code": "internal", "details": [{"type": "a", "value": "!!"}]}'),
        (b"text/html", b"<html>bad gateway</html>"),
    ]
)


@WIRE
@given(unary_bodies, st.sampled_from([200, 404, 502, 503]), st.booleans(), edits)
def test_unary_answers(
    peer: Peer, body: tuple[bytes, bytes], status: int, h2: bool, changes: list[tuple[int, int]]
) -> None:
    ctype, payload = body
    if h2:
        encoder = hpack.Encoder()
        headers = [(":status", str(status)), ("content-type", ctype.decode())]
        answer = (
            SettingsFrame(0).serialize()
            + HeadersFrame(1, encoder.encode(headers), flags=["END_HEADERS"]).serialize()
            + DataFrame(1, payload, flags=["END_STREAM"]).serialize()
        )
    else:
        answer = (
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
            % (status, ctype, len(payload))
            + payload
        )
    peer.answer = mutate(answer, changes)
    call_and_check(peer.port, h2=h2, unary=True)
