"""HTTP/2 client connection state, sans-IO, written for what this client does.

The runtime's HTTP/2 connection (``runtime_async/_http2.py``) does the I/O and
the waiting; everything that decides what goes on the wire lives here, once,
for both flavours. Frames are read and written by :mod:`.frames`, header
blocks by :mod:`.hpack_codec`.

- Received DATA is buffered per stream and credited back to the peer (stream
  and connection WINDOW_UPDATE) only as the application *consumes* it, so a
  slow reader holds at most one stream window in memory. Credit goes out once
  half a window was consumed (or sooner when the window ran dry).
- A stream this side resets gets exactly one RST_STREAM; a completed stream
  gets none. Frames the peer had already sent on a stream this side forgot
  (reset, refused, failed) are ignored (RFC 9113 §5.1), except that their DATA
  is credited to the connection window so the connection never stalls, and
  their header blocks still go through the HPACK decoder (its table is shared).
  Data a stream had buffered but not consumed is credited the same way.
- A graceful GOAWAY (``NO_ERROR``) lets the streams the server accepted run to
  completion; later streams fail with ``UNAVAILABLE`` (never processed, safe to
  retry). RST_STREAM and GOAWAY error codes map to Connect codes as the Connect
  spec says.
- A peer that breaks the protocol (malformed frames, flow-control violations,
  frames on streams that were never opened, undecodable header blocks) gets
  GOAWAY with the error code, and every stream fails with a typed
  ``ConnectError`` (``UNAVAILABLE``). :meth:`H2State.receive_data` never raises.
- Until the server's first SETTINGS arrive (with its stream limit) one stream
  is opened, no more: a server that allows fewer than the client assumed
  would refuse the rest or fail the connection.
- ``signs_of_life`` counts the network reads that brought frames about
  streams, GOAWAY, or replies to this side's frames (SETTINGS and PING ACKs),
  not just the server's own chatter (its SETTINGS and PINGs, connection
  window updates): a stream that saw none through its whole deadline was on
  a dead connection, which is then ``retired`` (no new streams; the open ones
  may finish).
- A flood of frames that need a reply (PING, SETTINGS) is a connection error
  (too many in one read) or retires the connection (too many in all).
- :meth:`H2State.ping` sends a PING and ``pings_acked`` counts the ACKs: the
  runtime's check that a peer still reads what is written to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._code import Code
from .._errors import ConnectError
from .._io.errors import h2_closed_before_settings, h2_preface_error, reset_with_hint
from . import frames as fr
from .frames import ErrorCode, FrameError, FrameReader, Setting
from .h2_stream import H2Stream, RecvWindow
from .hpack_codec import HeaderDecoder, HeaderEncoder, HPACKFailure

__all__ = [
    "DEFAULT_CONNECTION_WINDOW",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_STREAM_WINDOW",
    "H2State",
    "H2Stream",
    "reset_error",
]

#: Receive window of each stream: large enough for full-size frames at speed,
#: small enough to bound what one slow consumer buffers.
DEFAULT_STREAM_WINDOW = 4 * 1024 * 1024
#: Receive window of the connection. It is credited as streams are consumed,
#: so a large value only keeps one stalled stream from blocking the others;
#: memory stays bounded by the stream windows.
DEFAULT_CONNECTION_WINDOW = 1 << 30
#: Largest frame the peer may send: bigger than HTTP/2's 16 KiB default, so
#: large messages arrive in fewer frames (less per-frame work in Python).
DEFAULT_MAX_FRAME_SIZE = 65536
_MAX_HEADER_LIST_SIZE = 65536
#: Streams opened before the server's first SETTINGS frame arrived: one, since
#: a server may allow fewer than any other guess (and fail the connection, as
#: ``h2``-based servers do, or refuse the streams, as Go does).
_STREAMS_BEFORE_SETTINGS = 1
#: Frames that each need a reply (PING, SETTINGS) one network read may bring;
#: more is a flood (a server that writes them faster than it reads the
#: replies), and the connection fails before parsing them costs seconds.
_REPLIES_PER_READ = 1000
#: ... and one connection may bring in all: past this many, the connection
#: takes no new streams (a slower flood; ordinary keep-alive PINGs would need
#: a day to get there).
_REPLIES_PER_CONNECTION = 10_000
_HIGHEST_STREAM_ID = 2**31 - 1
_MAX_WINDOW = 2**31 - 1
_INITIAL_WINDOW = 65535
#: The peer's stream limit until it names one: unlimited (RFC 9113 §6.5.2).
_UNLIMITED = 2**31

# Connect spec (HTTP/2 error code of RST_STREAM / GOAWAY -> Connect code).
_RESET_CODES: dict[int, Code] = {
    ErrorCode.REFUSED_STREAM: Code.UNAVAILABLE,
    ErrorCode.CANCEL: Code.CANCELED,
    ErrorCode.ENHANCE_YOUR_CALM: Code.RESOURCE_EXHAUSTED,
    ErrorCode.INADEQUATE_SECURITY: Code.PERMISSION_DENIED,
}

_CANCEL = ErrorCode.CANCEL
_NO_ERROR = ErrorCode.NO_ERROR

# Headers that are meaningless or forbidden in HTTP/2 requests.
_HOP_BY_HOP = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)


def reset_error(error_code: int, what: str = "stream reset by the server") -> ConnectError:
    """The ``ConnectError`` for an HTTP/2 error code received from the peer."""
    code = _RESET_CODES.get(error_code, Code.INTERNAL)
    return ConnectError(code, f"{what}: {fr.error_name(error_code)}")


class _PeerError(Exception):
    """The peer broke the protocol: a connection error with ``error_code``."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


class H2State:
    """One HTTP/2 client connection's protocol state (no I/O).

    The runtime feeds received bytes to :meth:`receive_data`, sends what
    :meth:`data_to_send` returns, and wakes the waiters of the streams that
    :meth:`receive_data` reports as changed. Not thread-safe: the sync runtime
    holds a lock around every call.
    """

    def __init__(
        self,
        *,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        connection_window: int = DEFAULT_CONNECTION_WINDOW,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self.streams: dict[int, H2Stream] = {}
        self.settings_received = False
        #: Set once the server sent GOAWAY: no new streams.
        self.goaway = False
        #: Set once the connection failed: every stream fails with it.
        self.error: ConnectError | None = None
        #: Stream ids whose owners were garbage-collected unclosed; reset soon.
        #: Appended to without a lock (list.append is atomic).
        self.abandoned: list[int] = []
        self.stream_window = stream_window
        #: Reads that brought more than handshake frames (see the module doc).
        self.signs_of_life = 0
        #: Set when the connection must carry no new streams (it seems dead,
        #: or its output is stuck); the open ones may finish.
        self.retired = False
        #: PINGs sent by :meth:`ping`, and PING ACKs received.
        self.pings_sent = 0
        self.pings_acked = 0
        #: The highest stream id opened so far.
        self.highest_stream_id = 0
        #: Frames needing a reply received so far (PING, SETTINGS).
        self.replies_total = 0
        # The peer's settings.
        self.max_concurrent_streams = _UNLIMITED
        self.max_outbound_frame_size = fr.MIN_MAX_FRAME_SIZE
        self.initial_send_window = _INITIAL_WINDOW
        #: What this side may still send on the connection.
        self.send_window_left = _INITIAL_WINDOW
        #: What the peer may still send on the connection, and credit due.
        self.recv = RecvWindow(max(connection_window, _INITIAL_WINDOW), _INITIAL_WINDOW)
        self._reader = FrameReader(max_frame_size)
        self._encoder = HeaderEncoder()
        self._decoder = HeaderDecoder(_MAX_HEADER_LIST_SIZE)
        self._out: list[bytes | memoryview] = [
            fr.PREFACE,
            fr.encode_settings(
                [
                    (Setting.ENABLE_PUSH, 0),
                    (Setting.MAX_CONCURRENT_STREAMS, 100),
                    (Setting.INITIAL_WINDOW_SIZE, stream_window),
                    (Setting.MAX_FRAME_SIZE, max_frame_size),
                    (Setting.MAX_HEADER_LIST_SIZE, _MAX_HEADER_LIST_SIZE),
                ]
            ),
        ]
        self._out_size = len(self._out[0]) + len(self._out[1])
        if connection_window > _INITIAL_WINDOW:
            increment = connection_window - _INITIAL_WINDOW
            self.recv.window += increment
            self._emit(fr.encode_window_update(0, increment))

    # -- capacity -------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """Streams this client may have open at once (peer's limit)."""
        limit = self.max_concurrent_streams
        if not self.settings_received:
            return min(limit, _STREAMS_BEFORE_SETTINGS)
        return limit

    def can_open(self) -> bool:
        """Whether a new stream may be opened now."""
        return (
            self.error is None
            and not self.goaway
            and not self.retired
            and len(self.streams) < self.max_streams
            and self.highest_stream_id < _HIGHEST_STREAM_ID - 2
        )

    @property
    def usable(self) -> bool:
        """Whether new streams may ever be opened on this connection."""
        return (
            self.error is None
            and not self.goaway
            and not self.retired
            and self.highest_stream_id < _HIGHEST_STREAM_ID - 2
        )

    # -- sending ----------------------------------------------------------------

    @staticmethod
    def request_headers(
        method: bytes,
        scheme: bytes,
        authority: bytes,
        target: bytes,
        headers: Iterable[tuple[bytes, bytes]],
    ) -> list[tuple[bytes, bytes]]:
        """The HTTP/2 header list of a request (pseudo-headers first)."""
        out = [
            (b":method", method),
            (b":scheme", scheme),
            (b":authority", authority),
            (b":path", target),
        ]
        for name, value in headers:
            name = name.lower()
            if name in _HOP_BY_HOP:
                continue
            if name == b"te" and value.lower() != b"trailers":
                continue
            out.append((name, value))
        return out

    def _emit(self, data: bytes | memoryview) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2Stream:
        """Send HEADERS for a new stream (call :meth:`can_open` first)."""
        stream_id = self.highest_stream_id + 1 if self.highest_stream_id else 1
        if not stream_id & 1:
            stream_id += 1
        self.highest_stream_id = stream_id
        block = self._encoder.encode(headers)
        self._emit(fr.encode_headers(stream_id, block, end_stream, self.max_outbound_frame_size))
        stream = H2Stream(stream_id, self.initial_send_window, self.stream_window)
        stream.send_closed = end_stream
        stream.life_seen = self.signs_of_life
        self.streams[stream_id] = stream
        return stream

    def send_window(self, stream: H2Stream) -> int:
        """How many bytes of DATA ``stream`` may send in one frame now."""
        if stream.closed or stream.send_closed:
            return 0
        window = stream.send_window
        connection = self.send_window_left
        if connection < window:
            window = connection
        frame = self.max_outbound_frame_size
        return window if window < frame else frame

    def send_data(self, stream: H2Stream, data: bytes | memoryview, end_stream: bool) -> None:
        """Send one DATA frame (at most :meth:`send_window` bytes)."""
        size = len(data)
        stream.send_window -= size
        self.send_window_left -= size
        self._emit(fr.encode_data_head(stream.stream_id, size, end_stream))
        if size:
            self._emit(data)
        if end_stream:
            stream.send_closed = True
            self._maybe_close(stream)

    def end_stream(self, stream: H2Stream) -> None:
        """Finish the request body (an empty DATA frame with END_STREAM)."""
        if stream.send_closed or stream.closed:
            return
        self._emit(fr.encode_data_head(stream.stream_id, 0, True))
        stream.send_closed = True
        self._maybe_close(stream)

    def reset(self, stream: H2Stream, error_code: int = _CANCEL) -> None:
        """Abandon ``stream``: one RST_STREAM unless it already completed.

        A stream whose response ended but whose request is still open is
        finished with END_STREAM instead: nothing was abandoned.
        """
        if stream.buffered:
            self._discard_buffered(stream)
        if stream.closed:
            return
        if stream.ended and stream.error is None:
            self.end_stream(stream)
            return
        stream.reset_sent = True
        self._emit(fr.encode_rst_stream(stream.stream_id, error_code))
        self._close(stream)

    def _discard_buffered(self, stream: H2Stream) -> None:
        """Drop what ``stream`` buffered, crediting it to the connection (the
        stream itself will receive no more)."""
        size = stream.buffered
        stream.chunks.clear()
        stream.buffered = 0
        self._credit_connection(size)

    def reset_abandoned(self) -> None:
        """Reset the streams queued by finalizers."""
        abandoned = self.abandoned
        while abandoned:
            stream = self.streams.get(abandoned.pop())
            if stream is not None:
                self.reset(stream)

    def ping(self) -> int:
        """Send a PING; its number (``pings_acked`` reaches it with its ACK)."""
        self.pings_sent += 1
        self._emit(fr.encode_ping(self.pings_sent.to_bytes(8, "big")))
        return self.pings_sent

    def data_to_send(self) -> bytes:
        """Bytes to write to the network, in order."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 and type(out[0]) is bytes else b"".join(out)
        out.clear()
        self._out_size = 0
        return data  # type: ignore[return-value]

    def has_output(self) -> bool:
        """Whether anything is waiting to be written (or reset)."""
        return bool(self._out) or bool(self.abandoned)

    def output_size(self) -> int:
        """How many bytes :meth:`data_to_send` would return now."""
        return self._out_size

    def unsend(self, data: bytes) -> None:
        """Put back ``data`` (the unwritten end of what :meth:`data_to_send`
        returned) to be sent first."""
        self._out.insert(0, data)
        self._out_size += len(data)

    # -- flow control of what arrives -----------------------------------------

    def _credit_connection(self, size: int) -> None:
        increment = self.recv.processed(size)
        if increment:
            self._emit(fr.encode_window_update(0, increment))

    def _credit(self, stream: H2Stream, size: int) -> None:
        """``size`` bytes of ``stream`` were processed: credit stream and connection."""
        if not stream.ended and not stream.closed:
            increment = stream.recv.processed(size)
            if increment:
                self._emit(fr.encode_window_update(stream.stream_id, increment))
        self._credit_connection(size)

    def consume(self, stream: H2Stream) -> bytes:
        """Take the buffered body of ``stream`` and credit it to the peer."""
        chunks = stream.chunks
        size = stream.buffered
        if not size:
            chunks.clear()
            return b""
        if len(chunks) == 1:
            data = bytes(chunks[0])
        else:
            data = b"".join(chunks)
        chunks.clear()
        stream.buffered = 0
        self._credit(stream, size)
        return data

    # -- receiving --------------------------------------------------------------

    def receive_data(self, data: bytes) -> set[H2Stream] | None:
        """Process bytes from the network.

        Returns the streams that changed, or ``None`` when every waiter should
        be woken (connection-level change: window, settings, failure). Never
        raises: a peer's protocol error fails the connection (:attr:`error`).
        """
        if self.error is not None:
            return None
        if not self.settings_received:
            # The server's first frame must be SETTINGS: anything else (an
            # HTTP/1.1 answer to the preface) fails the connection now.
            error = h2_preface_error(self._reader.unparsed + bytes(data[:64]))
            if error is not None:
                self.fail(error)
                return None
        fault: FrameError | None = None
        try:
            frames = self._reader.feed(data)
        except FrameError as exc:
            frames = exc.frames
            fault = exc
        try:
            changed = self._dispatch(frames)
            if fault is not None:
                raise _PeerError(fault.error_code, str(fault))
        except _PeerError as exc:
            self._protocol_error(exc.error_code, str(exc))
            return None
        if self.replies_total > _REPLIES_PER_CONNECTION:
            self.retired = True
        return changed

    def _protocol_error(self, error_code: int, message: str) -> None:
        """The peer broke the protocol: GOAWAY(``error_code``) and fail."""
        self._emit(fr.encode_goaway(0, error_code, message.encode()[:256]))
        self.fail(
            ConnectError(
                Code.UNAVAILABLE,
                f"HTTP/2 protocol error from the server ({fr.error_name(error_code)}): {message}",
            )
        )

    def _dispatch(self, frames: list[fr.Frame]) -> set[H2Stream] | None:
        changed: set[H2Stream] | None = set()
        streams = self.streams
        alive = False
        replies = 0
        for kind, flags, sid, payload, length in frames:
            if kind == fr.DATA:
                stream = streams.get(sid)
                if stream is None:
                    self._data_on_forgotten_stream(sid, length)
                    continue
                alive = True
                self._receive_body(stream, flags, payload, length)
                if changed is not None:
                    changed.add(stream)
            elif kind == fr.HEADERS:
                self._check_opened(sid, "HEADERS")
                try:
                    headers = self._decoder.decode(bytes(payload))
                except HPACKFailure as exc:
                    raise _PeerError(ErrorCode.COMPRESSION_ERROR, str(exc)) from exc
                alive = True
                stream = streams.get(sid)
                if stream is not None:
                    self._receive_headers(stream, flags, headers)
                    if changed is not None:
                        changed.add(stream)
            elif kind == fr.WINDOW_UPDATE:
                increment = fr.parse_u32(payload) & 0x7FFFFFFF
                if not sid:
                    if not increment:
                        raise _PeerError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                    self.send_window_left += increment
                    if self.send_window_left > _MAX_WINDOW:
                        raise _PeerError(
                            ErrorCode.FLOW_CONTROL_ERROR, "connection send window above 2^31-1"
                        )
                    changed = None
                    continue
                self._check_opened(sid, "WINDOW_UPDATE")
                alive = True
                stream = streams.get(sid)
                if stream is None:
                    continue
                if not increment:
                    self._stream_error(stream, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                else:
                    stream.send_window += increment
                    if stream.send_window > _MAX_WINDOW:
                        self._stream_error(
                            stream, ErrorCode.FLOW_CONTROL_ERROR, "stream send window above 2^31-1"
                        )
                if changed is not None:
                    changed.add(stream)
            elif kind == fr.PING:
                if flags & fr.ACK:
                    alive = True
                    self.pings_acked += 1
                    changed = None
                else:
                    replies += 1
                    if replies > _REPLIES_PER_READ:
                        self._flooded(alive)
                        return None
                    self._emit(fr.encode_ping(bytes(payload), ack=True))
            elif kind == fr.SETTINGS:
                if flags & fr.ACK:
                    alive = True
                    continue
                replies += 1
                if replies > _REPLIES_PER_READ:
                    self._flooded(alive)
                    return None
                self._apply_settings(fr.parse_settings(bytes(payload)))
                self._emit(fr.encode_settings(ack=True))
                self.settings_received = True
                changed = None
            elif kind == fr.RST_STREAM:
                self._check_opened(sid, "RST_STREAM")
                alive = True
                stream = streams.get(sid)
                if stream is not None:
                    self._peer_reset(stream, fr.parse_u32(payload))
                    if changed is not None:
                        changed.add(stream)
            elif kind == fr.GOAWAY:
                alive = True
                last, code, _ = fr.parse_goaway(payload)
                self._goaway(code, last)
                changed = None
            elif kind == fr.PUSH_PROMISE:
                raise _PeerError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE, but push is disabled")
            # PRIORITY (and anything else the reader let through) is ignored.
        if replies:
            self.replies_total += replies
        if alive:
            self.signs_of_life += 1
        return changed

    def _flooded(self, alive: bool) -> None:
        """Too many frames needing a reply in one read: the connection fails
        (streams that completed in this read keep their results)."""
        self.replies_total += _REPLIES_PER_READ + 1
        if alive:
            self.signs_of_life += 1
        self.fail(
            ConnectError(
                Code.UNAVAILABLE,
                f"HTTP/2 connection failed: the server sent more than {_REPLIES_PER_READ}"
                " PING/SETTINGS frames at once (a flood)",
            )
        )

    def _check_opened(self, sid: int, what: str) -> None:
        """Frames about streams this client never opened are a protocol error
        (push is disabled: the server opens none)."""
        if sid > self.highest_stream_id or not sid & 1:
            raise _PeerError(ErrorCode.PROTOCOL_ERROR, f"{what} on idle stream {sid}")

    def _data_on_forgotten_stream(self, sid: int, length: int) -> None:
        self._check_opened(sid, "DATA")
        self._check_connection_window(length)
        self._credit_connection(length)

    def _check_connection_window(self, length: int) -> None:
        recv = self.recv
        if length > recv.window:
            raise _PeerError(
                ErrorCode.FLOW_CONTROL_ERROR,
                f"DATA of {length} bytes beyond the connection window ({recv.window})",
            )
        recv.window -= length

    def _receive_body(
        self, stream: H2Stream, flags: int, payload: bytes | memoryview, length: int
    ) -> None:
        self._check_connection_window(length)
        recv = stream.recv
        if stream.ended:
            # After END_STREAM: only the connection window counts it.
            self._credit_connection(length)
            self._stream_error(stream, ErrorCode.STREAM_CLOSED, "DATA after END_STREAM")
            return
        if length > recv.window:
            raise _PeerError(
                ErrorCode.FLOW_CONTROL_ERROR,
                f"DATA of {length} bytes beyond stream {stream.stream_id}'s window ({recv.window})",
            )
        recv.window -= length
        if stream.headers is None:
            raise _PeerError(
                ErrorCode.PROTOCOL_ERROR, f"DATA before response headers on stream {stream.stream_id}"
            )
        size = len(payload)
        if size:
            stream.chunks.append(payload)
            stream.buffered += size
        if length > size:
            self._credit(stream, length - size)  # padding
        if flags & fr.END_STREAM:
            self._end(stream)

    def _receive_headers(
        self, stream: H2Stream, flags: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        end = flags & fr.END_STREAM
        if stream.ended:
            self._stream_error(stream, ErrorCode.STREAM_CLOSED, "HEADERS after END_STREAM")
            return
        if stream.headers is None:
            status = _status(headers)
            if 100 <= status < 200:
                if end:
                    raise _PeerError(
                        ErrorCode.PROTOCOL_ERROR, "informational response with END_STREAM"
                    )
                return  # informational: the final response follows
            stream.headers = headers
            stream.status = status
        else:
            if not end:
                raise _PeerError(
                    ErrorCode.PROTOCOL_ERROR,
                    f"trailers without END_STREAM on stream {stream.stream_id}",
                )
            stream.trailers = headers
        if end:
            self._end(stream)

    def _end(self, stream: H2Stream) -> None:
        stream.ended = True
        if stream.headers is None and stream.error is None:
            stream.error = ConnectError(
                Code.INTERNAL, "protocol error: stream ended without response headers"
            )
        self._maybe_close(stream)

    def _stream_error(self, stream: H2Stream, error_code: int, message: str) -> None:
        """The peer broke the protocol on one stream: RST_STREAM and fail it."""
        if stream.error is None and not (stream.ended and stream.headers is not None):
            stream.error = ConnectError(
                Code.UNAVAILABLE,
                f"HTTP/2 protocol error from the server on the stream"
                f" ({fr.error_name(error_code)}): {message}",
            )
        if stream.buffered and stream.error is not None:
            self._discard_buffered(stream)
        stream.reset_sent = True
        self._emit(fr.encode_rst_stream(stream.stream_id, error_code))
        self._close(stream)

    def _apply_settings(self, settings: list[tuple[int, int]]) -> None:
        for ident, value in settings:
            if ident == Setting.INITIAL_WINDOW_SIZE:
                if value > _MAX_WINDOW:
                    raise _PeerError(
                        ErrorCode.FLOW_CONTROL_ERROR, f"SETTINGS_INITIAL_WINDOW_SIZE {value}"
                    )
                delta = value - self.initial_send_window
                self.initial_send_window = value
                if delta:
                    for stream in self.streams.values():
                        stream.send_window += delta
                        if stream.send_window > _MAX_WINDOW:
                            raise _PeerError(
                                ErrorCode.FLOW_CONTROL_ERROR,
                                "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
                            )
            elif ident == Setting.MAX_FRAME_SIZE:
                if not fr.MIN_MAX_FRAME_SIZE <= value <= fr.MAX_MAX_FRAME_SIZE:
                    raise _PeerError(ErrorCode.PROTOCOL_ERROR, f"SETTINGS_MAX_FRAME_SIZE {value}")
                self.max_outbound_frame_size = value
            elif ident == Setting.MAX_CONCURRENT_STREAMS:
                self.max_concurrent_streams = value
            elif ident == Setting.HEADER_TABLE_SIZE:
                self._encoder.table_size_changed()
            elif ident == Setting.ENABLE_PUSH:
                if value > 1:
                    raise _PeerError(ErrorCode.PROTOCOL_ERROR, f"SETTINGS_ENABLE_PUSH {value}")
            # SETTINGS_MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.

    def _peer_reset(self, stream: H2Stream, error_code: int) -> None:
        if error_code == _NO_ERROR and stream.ended:
            # The response is complete; the server only wants no more request
            # body (RFC 9113 §8.1).
            stream.send_closed = True
        elif stream.error is None:
            # Data that arrived before the reset is still delivered first.
            stream.error = reset_with_hint(
                reset_error(error_code), error_code, answered=stream.headers is not None
            )
            stream.refused = error_code == ErrorCode.REFUSED_STREAM
        self._close(stream)

    def _goaway(self, error_code: int, last_stream_id: int) -> None:
        self.goaway = True
        for stream in list(self.streams.values()):
            if stream.stream_id > last_stream_id:
                stream.error = ConnectError(
                    Code.UNAVAILABLE,
                    "the server closed the connection before processing the stream (GOAWAY)",
                )
                stream.refused = True
                self._discard_buffered(stream)
                self._close(stream)
        if error_code != _NO_ERROR:
            self.fail(reset_error(error_code, "connection closed by the server"))

    def fail(self, error: ConnectError) -> None:
        """The connection is gone: every open stream fails with ``error``."""
        if self.error is None:
            self.error = error
        for stream in list(self.streams.values()):
            if stream.error is None and not stream.ended:
                stream.error = error
            self._close(stream)

    def connection_lost(self) -> ConnectError:
        """The error for streams still open when the server closed the connection."""
        if not self.settings_received:
            return h2_closed_before_settings(self._reader.unparsed)
        return ConnectError(Code.UNAVAILABLE, "the server closed the connection")

    def _maybe_close(self, stream: H2Stream) -> None:
        if stream.ended and stream.send_closed:
            self._close(stream)

    def _close(self, stream: H2Stream) -> None:
        stream.closed = True
        self.streams.pop(stream.stream_id, None)


def _status(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b":status":
            if len(value) == 3 and value.isdigit():
                return int(value)
            return 0
    return 0
