"""A small HTTP/2 server on ``h2`` (h2c, or h2 over TLS), for frame-level tests
of our transport (and :class:`HypercornServer`, a real ``h2``-based server, for
limits it enforces).

It runs in threads over plain sockets on 127.0.0.1, so it serves the async and
the sync flavour alike. Every frame a client sends is logged (type, stream,
flags, error code / window increment), and the server's own view of the
connection (windows, streams, bytes sent) is inspectable.

What a request gets is chosen by the ``x-scenario`` header (Connect framing is
used where the client is a Connect call):

``stream``
    A Connect server stream of ``x-count`` messages (``-1``: until the client
    resets) of ``x-size`` payload bytes, ``x-delay-ms`` apart, then the
    end-stream message.
``unary``
    A Connect unary response echoing the request payload.
``trailers``
    Body ``x-size`` bytes, then HTTP/2 trailers ``x-trailer-one: 1`` and
    ``x-trailer-two: 2``.
``bytes``
    ``x-total`` raw bytes (chunks of ``x-size``), then the end of the stream.
``echo``
    Every DATA chunk is sent back as it arrives; the response ends when the
    request does.
``upload``
    A Connect client stream: the request's ``UploadRequest`` messages are
    counted, and once the request ended one ``UploadResponse`` (messages,
    chunk bytes) answers, then the end-stream message.
``chat``
    A Connect bidi stream: each complete request envelope is answered with
    one ``ChatResponse`` envelope (its ``text`` echoed, ``index`` counting);
    the end-stream message follows the end of the request.
``reset``
    Headers and ``x-count`` messages, then RST_STREAM(``x-code``); with
    ``x-count: -1`` the reset comes before the response headers.
``goaway``
    Headers and ``x-count`` messages, then GOAWAY(``x-code``, last stream =
    this one), and the socket is closed.
``refuse``
    GOAWAY(NO_ERROR) naming the previous stream as the last one processed,
    then the socket is closed once older streams finished.
``refuse-once``
    ``refuse`` on the first connection, ``unary`` on later ones.
``bye``
    A unary answer; 0.1 s later GOAWAY(NO_ERROR), and the socket is closed.
``drain``
    GOAWAY(NO_ERROR) naming this stream as the last one: it and the older
    streams are served to their end, then the socket is closed.
``hold``
    The response waits until ``x-hold`` streams of this scenario arrived (on
    any connection); then all held streams answer (Connect unary).
``stall``
    The server stops reading the connection and never answers: the client's
    writes pile up in the socket buffers (make them small with ``rcvbuf``, and
    the flow-control windows large with ``initial_window``) until they block.
``ping-flood``
    Like ``stall``, and the server sends PING frames as fast as its socket
    takes them, so the client's PING ACKs pile up unread; with ``x-burst``
    (PINGs per write, 4096 by default) below 4096, a burst every 2 ms.
``flood-after``
    A Connect unary answer, then, ``x-delay-ms`` later, ``ping-flood`` (the
    connection is idle then).
``slow-unary``
    A Connect unary answer, ``x-delay-ms`` after the request ended.

Faults of a whole connection: the first ``silent_connections`` connections
never send anything (not even SETTINGS) and read and drop what arrives; with
``read_chunk`` and ``read_pause`` every connection reads slowly (at most
``read_chunk`` bytes, then a pause), so a client's large writes block often
but keep making progress.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from _support.methods import pb
from hyperframe.frame import GoAwayFrame

from connect_python.protocol.envelope import FLAG_END_STREAM, EnvelopeDecoder, encode_envelope

__all__ = [
    "FRAME_TYPES",
    "Frame",
    "H2TestServer",
    "HypercornServer",
    "ServerConnection",
    "make_certificate",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_TYPES = {
    0: "DATA",
    1: "HEADERS",
    2: "PRIORITY",
    3: "RST_STREAM",
    4: "SETTINGS",
    5: "PUSH_PROMISE",
    6: "PING",
    7: "GOAWAY",
    8: "WINDOW_UPDATE",
    9: "CONTINUATION",
}
CANCEL = int(h2.errors.ErrorCodes.CANCEL)


@dataclass(frozen=True)
class Frame:
    """One frame the client sent."""

    type: str
    stream_id: int
    flags: int
    length: int
    #: RST_STREAM / GOAWAY error code, WINDOW_UPDATE increment.
    value: int = 0


class _FrameTap:
    """Splits the client's bytes into frames for the log."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._preface = len(PREFACE)

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        buf += data
        if self._preface:
            take = min(self._preface, len(buf))
            del buf[:take]
            self._preface -= take
        frames = []
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            kind = FRAME_TYPES.get(buf[3], f"0x{buf[3]:x}")
            flags = buf[4]
            stream_id = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(buf[9 : 9 + length])
            value = 0
            if kind == "RST_STREAM":
                value = struct.unpack("!I", payload[:4])[0]
            elif kind == "WINDOW_UPDATE":
                value = struct.unpack("!I", payload[:4])[0] & 0x7FFFFFFF
            elif kind == "GOAWAY":
                value = struct.unpack("!I", payload[4:8])[0]
            frames.append(Frame(kind, stream_id, flags, length, value))
            del buf[: 9 + length]
        return frames


def _envelope_message(message: Any) -> bytes:
    return encode_envelope(0, message.SerializeToString())


_END_OK = encode_envelope(FLAG_END_STREAM, b"{}")


@dataclass
class _Stream:
    sid: int
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)
    request_ended: bool = False
    out: deque[tuple[str, Any]] = field(default_factory=deque)
    source: Iterator[bytes] | None = None
    closed: bool = False
    sent: int = 0
    #: Chunk bytes of the ``UploadRequest`` messages received (``upload``).
    received: int = 0
    decoder: EnvelopeDecoder | None = None
    index: int = 0
    wake_at: float = 0.0

    def param(self, name: str, default: int) -> int:
        value = self.headers.get(name)
        return default if value is None else int(value)


class ServerConnection:
    """The server's side of one client connection (runs in its own thread)."""

    def __init__(self, server: H2TestServer, sock: socket.socket, index: int) -> None:
        self.server = server
        self.index = index
        self.sock = sock
        self.lock = threading.Lock()
        self.frames: list[Frame] = []
        self.streams_opened = 0
        self.max_open = 0
        self.closed = False
        self.sent_by_stream: dict[int, int] = {}
        #: (stream id, request headers) of every request, in order.
        self.requests: list[tuple[int, dict[str, str]]] = []
        self._tap = _FrameTap()
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        settings = h2.settings.SettingCodes
        initial: dict[Any, int] = {settings.MAX_FRAME_SIZE: 16384}
        if server.max_concurrent_streams is not None:
            initial[settings.MAX_CONCURRENT_STREAMS] = server.max_concurrent_streams
        if server.initial_window is not None:
            initial[settings.INITIAL_WINDOW_SIZE] = server.initial_window
        conn.local_settings = h2.settings.Settings(client=False, initial_values=initial)
        conn.initiate_connection()
        if server.initial_window is not None and server.initial_window > 65535:
            conn.increment_flow_control_window(server.initial_window - 65535)
        self.h2 = conn
        self.initial_window = 65535
        self._streams: dict[int, _Stream] = {}
        self._close_when_idle = False
        self.extra_out = bytearray()
        self._bye: tuple[float, int] | None = None
        #: Set once the server stopped reading (``stall``, ``ping-flood``).
        self.stalled = False
        self._ping_flood = False
        self._flood_burst = 4096
        self._flood_delay = 0.0
        #: PING frames sent by ``ping-flood`` (whole frames only).
        self.pings_sent = 0
        #: Bytes read from the client so far.
        self.received = 0
        #: Set when the client's frames broke the protocol (h2 raised).
        self.protocol_error: h2.exceptions.ProtocolError | None = None
        #: The connection sends nothing at all (see ``silent_connections``).
        self.silent = index < server.silent_connections

    # -- inspection (any thread) ------------------------------------------------

    def frames_of(self, kind: str, stream_id: int | None = None) -> list[Frame]:
        with self.lock:
            return [
                f
                for f in self.frames
                if f.type == kind and (stream_id is None or f.stream_id == stream_id)
            ]

    @property
    def outbound_window(self) -> int:
        """What the client's connection receive window is, as the server sees it."""
        with self.lock:
            return int(self.h2.outbound_flow_control_window)

    @property
    def open_streams(self) -> int:
        with self.lock:
            return len(self._streams)

    # -- the loop ---------------------------------------------------------------

    def run(self) -> None:
        try:
            context = self.server.ssl_context
            if context is not None:
                self.sock.settimeout(5)
                self.sock = context.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
        except (OSError, ssl.SSLError):
            _close_gracefully(self.sock)
            self.closed = True
            return
        sock = self.sock
        try:
            if self.silent:
                self._run_silent()
                return
            self._send()
            while not self.server.stopping and not self.closed:
                if self.stalled:
                    self._run_stalled()
                    return
                timeout = self._timeout()
                readable: Any = _pending(sock)
                if not readable:
                    readable, _, _ = select.select([sock], [], [], timeout)
                if readable:
                    try:
                        data = sock.recv(self.server.read_chunk or 1 << 20)
                    except OSError:
                        break
                    if not data:
                        break
                    self.received += len(data)
                    with self.lock:
                        self.frames.extend(self._tap.feed(data))
                        events = self.h2.receive_data(data)
                        for event in events:
                            self._on_event(event)
                with self.lock:
                    self._pump()
                    bye = self._bye
                    if bye is not None and time.monotonic() >= bye[0]:
                        self._bye = None
                        self._goaway(bye[1])
                        self._close_when_idle = True
                self._send()
                if self._close_when_idle and not self._streams:
                    break
                if readable and self.server.read_pause:
                    time.sleep(self.server.read_pause)
        except h2.exceptions.ProtocolError as exc:
            self.protocol_error = exc
        except OSError:
            pass
        finally:
            self.closed = True
            _close_gracefully(sock)

    def _run_silent(self) -> None:
        """Read and drop everything; send nothing."""
        sock = self.sock
        while not self.server.stopping:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    data = sock.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    self.frames.extend(self._tap.feed(data))

    def _run_stalled(self) -> None:
        """Never read again (and flood PINGs, for ``ping-flood``)."""
        sock = self.sock
        sock.setblocking(False)
        ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"floodpng"
        burst = ping * self._flood_burst
        pending = b""
        wake = time.monotonic() + self._flood_delay
        while time.monotonic() < wake and not self.server.stopping:
            time.sleep(0.005)
        while not self.server.stopping:
            if self._ping_flood:
                try:
                    while True:
                        if not pending:
                            pending = burst
                        sent = sock.send(pending)
                        self.pings_sent += sent // len(ping)
                        pending = pending[sent:]
                        if self._flood_burst < 4096 and not pending:
                            break
                except BlockingIOError:
                    pass
                except OSError:
                    return
            time.sleep(0.002 if self._flood_burst < 4096 else 0.01)

    def _timeout(self) -> float:
        with self.lock:
            waits = [s.wake_at for s in self._streams.values() if s.wake_at]
        if not waits:
            return 0.05
        return max(0.0, min(min(waits) - time.monotonic(), 0.05))

    def _send(self) -> None:
        with self.lock:
            data = self.h2.data_to_send()
            if self.extra_out:
                data += bytes(self.extra_out)
                self.extra_out.clear()
        if data:
            self.sock.sendall(data)

    # -- events -----------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = {k: v for k, v in event.headers}
            stream = _Stream(event.stream_id, headers)
            self.requests.append((event.stream_id, headers))
            self._streams[event.stream_id] = stream
            self.streams_opened += 1
            self.max_open = max(self.max_open, len(self._streams))
            self._start(stream)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
                self._on_body(stream, event.data)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.request_ended = True
                self._on_request_end(stream)
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                stream.closed = True
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            change = event.changed_settings.get(h2.settings.SettingCodes.INITIAL_WINDOW_SIZE)
            if change is not None:
                self.initial_window = change.new_value

    def _respond(self, stream: _Stream, content_type: str = "application/connect+proto") -> None:
        headers = [(":status", "200"), ("content-type", content_type)]
        try:
            self.h2.send_headers(stream.sid, headers)
        except (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError):
            # The client's RST_STREAM came in the same read as the request data
            # this answers: h2 closed the stream (and may have forgotten it, when
            # a later stream opened) before the events are handled here.
            stream.closed = True

    def _start(self, stream: _Stream) -> None:
        scenario = stream.headers.get("x-scenario", "stream")
        if scenario == "refuse-once":
            scenario = "refuse" if self.index == 0 else "unary"
            stream.headers["x-scenario"] = scenario
        if scenario == "bye":
            # Answer, then shut the connection down while the client is idle.
            stream.out.append(("await_request", None))
            stream.out.append(("unary", None))
            stream.out.append(("bye", None))
            return
        if scenario == "drain":
            # Graceful shutdown: this stream is the last one served.
            self._goaway(stream.sid)
            self._close_when_idle = True
            stream.out.append(("await_request", None))
            stream.out.append(("unary", None))
            return
        if scenario == "refuse":
            last = max(0, stream.sid - 2)
            self._goaway(last)
            self._close_when_idle = True
            self._streams.pop(stream.sid, None)
            for sid in [s for s in self._streams if s > last]:
                self._streams.pop(sid)
            return
        if scenario == "reset" and stream.param("x-count", 0) < 0:
            self._reset(stream, stream.param("x-code", CANCEL))
            return
        if scenario in ("stall", "ping-flood"):
            self.stalled = True
            self._ping_flood = scenario == "ping-flood"
            self._flood_burst = stream.param("x-burst", 4096)
            return
        if scenario == "flood-after":
            stream.out.append(("await_request", None))
            stream.out.append(("unary", None))
            stream.out.append(("flood", None))
            return
        if scenario == "slow-unary":
            stream.out.append(("await_request", None))
            stream.out.append(("sleep", stream.param("x-delay-ms", 100) / 1000))
            stream.out.append(("unary", None))
            return
        if scenario == "hold":
            self.server.held += 1
            stream.out.append(("hold", stream.param("x-hold", 1)))
            stream.out.append(("await_request", None))
            stream.out.append(("unary", None))
            return
        if scenario in ("stream", "reset", "goaway"):
            self._respond(stream)
            stream.source = self._messages(stream)
            if scenario == "reset":
                stream.out.append(("source", None))
                stream.out.append(("reset", stream.param("x-code", CANCEL)))
            elif scenario == "goaway":
                stream.out.append(("source", None))
                stream.out.append(("goaway", stream.param("x-code", 0)))
            else:
                stream.out.append(("source", None))
                stream.out.append(("data_end", _END_OK))
        elif scenario == "unary":
            stream.out.append(("await_request", None))
            stream.out.append(("unary", None))
        elif scenario == "trailers":
            self._respond(stream, "application/octet-stream")
            stream.out.append(("data", b"t" * stream.param("x-size", 10)))
            stream.out.append(("trailers", [("x-trailer-one", "1"), ("x-trailer-two", "2")]))
        elif scenario == "bytes":
            self._respond(stream, "application/octet-stream")
            stream.source = self._raw_bytes(stream)
            stream.out.append(("source", None))
            stream.out.append(("end", None))
        elif scenario == "echo":
            self._respond(stream, "application/octet-stream")
        elif scenario in ("chat", "upload"):
            stream.decoder = EnvelopeDecoder()
        else:
            self._reset(stream, int(h2.errors.ErrorCodes.INTERNAL_ERROR))

    def _messages(self, stream: _Stream) -> Iterator[bytes]:
        count = stream.param("x-count", 3)
        size = stream.param("x-size", 16)
        payload = b"x" * size
        index = 0
        while count < 0 or index < count:
            yield _envelope_message(pb.StreamResponse(index=index, payload=payload))
            index += 1

    def _raw_bytes(self, stream: _Stream) -> Iterator[bytes]:
        left = stream.param("x-total", 1 << 20)
        chunk = b"b" * stream.param("x-size", 16384)
        while left > 0:
            part = chunk if left >= len(chunk) else chunk[:left]
            left -= len(part)
            yield part

    def _on_body(self, stream: _Stream, data: bytes) -> None:
        scenario = stream.headers.get("x-scenario", "stream")
        if scenario == "echo" and data:
            stream.out.append(("data", bytes(data)))
        elif scenario == "chat" and stream.decoder is not None:
            stream.decoder.feed(data)
            while True:
                envelope = stream.decoder.next()
                if envelope is None:
                    break
                request = pb.ChatRequest.FromString(envelope[1])
                if stream.index == 0:
                    self._respond(stream)
                reply = pb.ChatResponse(text=request.text, index=stream.index)
                stream.index += 1
                stream.out.append(("data", _envelope_message(reply)))
        elif scenario == "upload" and stream.decoder is not None:
            stream.decoder.feed(data)
            while True:
                envelope = stream.decoder.next()
                if envelope is None:
                    break
                stream.index += 1
                stream.received += len(pb.UploadRequest.FromString(envelope[1]).chunk)

    def _on_request_end(self, stream: _Stream) -> None:
        scenario = stream.headers.get("x-scenario", "stream")
        if scenario == "echo":
            stream.out.append(("end", None))
        elif scenario == "chat":
            if stream.index == 0:
                self._respond(stream)
            stream.out.append(("data_end", _END_OK))
        elif scenario == "upload":
            self._respond(stream)
            total = pb.UploadResponse(messages=stream.index, bytes=stream.received)
            stream.out.append(("data", _envelope_message(total)))
            stream.out.append(("data_end", _END_OK))

    def _goaway(self, last_stream_id: int) -> None:
        """A graceful GOAWAY, written by hand: h2 would stop serving every stream."""
        frame = GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = 0
        self.extra_out += frame.serialize()

    def _reset(self, stream: _Stream, code: int) -> None:
        self.h2.reset_stream(stream.sid, code)
        stream.closed = True
        self._streams.pop(stream.sid, None)

    # -- output -----------------------------------------------------------------

    def _pump(self) -> None:
        for stream in list(self._streams.values()):
            self._pump_stream(stream)

    def _pump_stream(self, stream: _Stream) -> None:
        conn = self.h2
        delay = stream.param("x-delay-ms", 0) / 1000
        while stream.out and not stream.closed:
            kind, value = stream.out[0]
            if kind == "source":
                if stream.wake_at:
                    if time.monotonic() < stream.wake_at:
                        return
                    stream.wake_at = 0.0
                assert stream.source is not None
                chunk = next(stream.source, None)
                if chunk is None:
                    stream.out.popleft()
                    continue
                if not delay:
                    # Fill a whole frame: one DATA frame per tiny message is
                    # slow for both sides and not what this server tests.
                    parts = [chunk]
                    size = len(chunk)
                    while size < 16384:
                        more = next(stream.source, None)
                        if more is None:
                            stream.out.popleft()
                            break
                        parts.append(more)
                        size += len(more)
                    chunk = b"".join(parts)
                stream.out.appendleft(("data", chunk))
                if delay:
                    stream.wake_at = time.monotonic() + delay
                continue
            if kind == "hold":
                if self.server.held < value:
                    return
                stream.out.popleft()
                continue
            if kind == "sleep":
                if not stream.wake_at:
                    stream.wake_at = time.monotonic() + value
                if time.monotonic() < stream.wake_at:
                    return
                stream.wake_at = 0.0
                stream.out.popleft()
                continue
            if kind == "await_request":
                if not stream.request_ended:
                    return
                stream.out.popleft()
                continue
            if kind == "unary":
                stream.out.popleft()
                request = pb.EchoRequest()
                decoder_body = bytes(stream.body)
                request.ParseFromString(decoder_body)
                reply = pb.EchoResponse(payload=request.payload, http_proto="HTTP/2.0")
                conn.send_headers(
                    stream.sid, [(":status", "200"), ("content-type", "application/proto")]
                )
                stream.out.appendleft(("data_end", reply.SerializeToString()))
                continue
            if kind in ("data", "data_end"):
                data: bytes = value
                window = min(
                    conn.local_flow_control_window(stream.sid), conn.max_outbound_frame_size
                )
                if window <= 0 and data:
                    return
                part = data[:window]
                last = len(part) == len(data)
                conn.send_data(stream.sid, part, end_stream=kind == "data_end" and last)
                stream.sent += len(part)
                self.sent_by_stream[stream.sid] = stream.sent
                if last:
                    stream.out.popleft()
                    if kind == "data_end":
                        self._finish(stream)
                else:
                    stream.out[0] = (kind, data[len(part) :])
                continue
            if kind == "trailers":
                stream.out.popleft()
                conn.send_headers(stream.sid, value, end_stream=True)
                self._finish(stream)
                continue
            if kind == "end":
                stream.out.popleft()
                conn.end_stream(stream.sid)
                self._finish(stream)
                continue
            if kind == "reset":
                stream.out.popleft()
                self._reset(stream, value)
                continue
            if kind == "goaway":
                stream.out.popleft()
                conn.close_connection(value, last_stream_id=stream.sid)
                self._streams.clear()
                self._close_when_idle = True
                return
            raise AssertionError(kind)

    def _finish(self, stream: _Stream) -> None:
        stream.closed = True
        self._streams.pop(stream.sid, None)
        if stream.out and stream.out[0][0] == "bye":
            # A moment later, once the client finished reading.
            self._bye = (time.monotonic() + 0.1, stream.sid)
        elif stream.out and stream.out[0][0] == "flood":
            # Once the answer is out (the next turn of the loop).
            self.stalled = True
            self._ping_flood = True
            self._flood_delay = stream.param("x-delay-ms", 0) / 1000


class H2TestServer:
    """The server: ``url`` is ``http://127.0.0.1:<port>`` (h2c, prior knowledge).

    ``max_concurrent_streams`` is advertised (and enforced by ``h2``: a client
    that opens more streams gets a connection error). ``initial_window`` is the
    flow-control window the server grants each stream and the connection;
    ``rcvbuf`` the size of its sockets' receive buffers. The first
    ``silent_connections`` connections never send a byte. ``read_chunk`` and
    ``read_pause`` make every connection read slowly (see the module doc).
    With ``certificate`` (paths of a certificate and its key, see
    :func:`make_certificate`) it serves h2 over TLS (``url`` is https).
    """

    def __init__(
        self,
        *,
        max_concurrent_streams: int | None = None,
        initial_window: int | None = None,
        rcvbuf: int | None = None,
        silent_connections: int = 0,
        read_chunk: int | None = None,
        read_pause: float = 0.0,
        certificate: tuple[str, str] | None = None,
    ) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.read_chunk = read_chunk
        self.read_pause = read_pause
        self.ssl_context: ssl.SSLContext | None = None
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            context.set_alpn_protocols(["h2"])
            self.ssl_context = context
        self.initial_window = initial_window
        self.silent_connections = silent_connections
        self.stopping = False
        #: Streams of the ``hold`` scenario seen so far (on every connection).
        self.held = 0
        self.connections: list[ServerConnection] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:
            # Set before listen(): accepted sockets inherit it (and the TCP
            # window scale is chosen from it).
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        scheme = "http" if certificate is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                readable, _, _ = select.select([self._listener], [], [], 0.05)
                if not readable:
                    continue
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                conn = ServerConnection(self, sock, len(self.connections))
                self.connections.append(conn)
            thread = threading.Thread(target=conn.run, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def connection(self) -> ServerConnection:
        """The only connection (asserts there is exactly one)."""
        with self._lock:
            assert len(self.connections) == 1, f"{len(self.connections)} connections"
            return self.connections[0]

    def stream_id(self, tag: str) -> int:
        """The stream id of the request sent with header ``x-tag: <tag>``."""
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            with conn.lock:
                for sid, headers in conn.requests:
                    if headers.get("x-tag") == tag:
                        return sid
        raise KeyError(tag)

    def resets(self, tag: str) -> list[int]:
        """Error codes of every RST_STREAM the client sent on the tagged stream."""
        return [f.value for f in self.frames("RST_STREAM", self.stream_id(tag))]

    def frames(self, kind: str, stream_id: int | None = None) -> list[Frame]:
        """Frames of ``kind`` from every connection."""
        with self._lock:
            conns = list(self.connections)
        found: list[Frame] = []
        for conn in conns:
            found.extend(conn.frames_of(kind, stream_id))
        return found

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until it holds (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def close(self) -> None:
        self.stopping = True
        try:
            self._listener.close()
        except OSError:
            pass
        for thread in self._threads:
            thread.join(timeout=2)


def _pending(sock: socket.socket) -> bool:
    """Whether a TLS socket holds decrypted input (``select`` does not see it)."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def make_certificate(directory: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (with the ``openssl`` command):
    the paths of the certificate (also the CA to trust) and of its key."""
    cert = os.path.join(directory, "h2server-cert.pem")
    key = os.path.join(directory, "h2server-key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def _close_gracefully(sock: socket.socket) -> None:
    """Close without a TCP reset: stop sending, drain briefly, then close."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable and not sock.recv(1 << 16):
                break
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def end_stream_json(payload: bytes) -> dict[str, Any]:
    """Decode an end-stream message payload (for tests that inspect one)."""
    result: dict[str, Any] = json.loads(payload)
    return result


async def _hypercorn_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo the request body as a Connect unary answer, 20 ms later (so that
    concurrent calls overlap). EchoRequest and EchoResponse share field 1."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.02)
    headers = [(b"content-type", b"application/proto")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HypercornServer:
    """hypercorn (h2c prior knowledge, or HTTP/1.1) on 127.0.0.1, in a thread
    with its own event loop, answering every request with an echo of its body;
    ``max_concurrent_streams`` is advertised and enforced by ``h2``."""

    def __init__(self, *, max_concurrent_streams: int = 100) -> None:
        import hypercorn.config

        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{port}"
        config = hypercorn.config.Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.h2_max_concurrent_streams = max_concurrent_streams
        config.errorlog = None
        config.accesslog = None
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        assert self._started.wait(10), "hypercorn did not start"
        # Until it accepts connections.
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    async def _serve(self) -> None:
        import hypercorn.asyncio

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        await hypercorn.asyncio.serve(
            _hypercorn_echo, self._config, shutdown_trigger=self._stop.wait
        )

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
