"""The scripted behaviours of :class:`transport.h2server.H2TestServer`: what
each request stream gets, and how its answer is written within flow control.

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
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import h2.connection
import h2.errors
import h2.exceptions
from _support.methods import pb
from hyperframe.frame import GoAwayFrame

from connect_python.protocol.envelope import FLAG_END_STREAM, EnvelopeDecoder, encode_envelope
from transport.h2frames import CANCEL

if TYPE_CHECKING:
    from transport.h2server import H2TestServer

__all__ = ["Scenarios", "ScriptedStream"]


def _envelope_message(message: Any) -> bytes:
    return encode_envelope(0, message.SerializeToString())


_END_OK = encode_envelope(FLAG_END_STREAM, b"{}")


@dataclass
class ScriptedStream:
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


class Scenarios:
    """The per-stream scripts of one server connection; the connection's loop
    (:class:`transport.h2server.ServerConnection`) feeds them the request
    events and calls :meth:`_pump` to write what is due."""

    server: H2TestServer
    index: int
    lock: threading.Lock
    h2: h2.connection.H2Connection
    sent_by_stream: dict[int, int]
    extra_out: bytearray
    stalled: bool
    _streams: dict[int, ScriptedStream]
    _close_when_idle: bool
    _bye: tuple[float, int] | None
    _ping_flood: bool
    _flood_burst: int
    _flood_delay: float

    def _respond(
        self, stream: ScriptedStream, content_type: str = "application/connect+proto"
    ) -> None:
        headers = [(":status", "200"), ("content-type", content_type)]
        try:
            self.h2.send_headers(stream.sid, headers)
        except (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError):
            # The client's RST_STREAM came in the same read as the request data
            # this answers: h2 closed the stream (and may have forgotten it, when
            # a later stream opened) before the events are handled here.
            stream.closed = True

    def _start(self, stream: ScriptedStream) -> None:
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

    def _messages(self, stream: ScriptedStream) -> Iterator[bytes]:
        count = stream.param("x-count", 3)
        size = stream.param("x-size", 16)
        payload = b"x" * size
        index = 0
        while count < 0 or index < count:
            yield _envelope_message(pb.StreamResponse(index=index, payload=payload))
            index += 1

    def _raw_bytes(self, stream: ScriptedStream) -> Iterator[bytes]:
        left = stream.param("x-total", 1 << 20)
        chunk = b"b" * stream.param("x-size", 16384)
        while left > 0:
            part = chunk if left >= len(chunk) else chunk[:left]
            left -= len(part)
            yield part

    def _on_body(self, stream: ScriptedStream, data: bytes) -> None:
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

    def _on_request_end(self, stream: ScriptedStream) -> None:
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

    def _reset(self, stream: ScriptedStream, code: int) -> None:
        self.h2.reset_stream(stream.sid, code)
        stream.closed = True
        self._streams.pop(stream.sid, None)

    # -- output -----------------------------------------------------------------

    def _pump(self) -> None:
        for stream in list(self._streams.values()):
            self._pump_stream(stream)

    def _pump_stream(self, stream: ScriptedStream) -> None:
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

    def _finish(self, stream: ScriptedStream) -> None:
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
