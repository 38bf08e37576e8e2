"""The receiving side of the HTTP/2 client connection state (sans-IO).

:class:`H2Receiver` turns the server's frames into stream state: response
headers, trailers, buffered DATA, resets, GOAWAY, settings, PING replies,
and protocol errors (GOAWAY with the error code, a typed ``ConnectError`` for
every stream). :class:`connect_python._http.h2_state.H2State` adds the
sending side and is what the runtime uses; see its module for the rules.
"""

from __future__ import annotations

from .._code import Code
from .._errors import ConnectError
from . import frames as fr
from .frames import ErrorCode, FrameError, FrameReader, Setting
from .h2_errors import h2_closed_before_settings, h2_preface_error, reset_error, reset_with_hint
from .h2_stream import H2StreamState, RecvWindow
from .hpack_codec import HeaderDecoder, HeaderEncoder, HPACKFailure

__all__ = ["FRAMES_PER_PIECE", "REPLIES_PER_READ", "H2Receiver"]

#: The most frames one :meth:`H2Receiver.receive_data` call handles (about
#: ten microseconds of work). Handling a frame takes a microsecond or two,
#: and one network read can hold thousands of small DATA frames (a fast
#: stream of small messages): handled at once, it would keep an event loop
#: from its other tasks for 5-10 ms, and the messages of its first frames
#: from their consumer meanwhile. The runtime hands a read over once and
#: takes the rest of it piece by piece (``receive_data(None)``), with a
#: chance for the other tasks to run between two pieces.
FRAMES_PER_PIECE = 8

#: Frames that each need a reply (PING, SETTINGS) one network read may bring;
#: more is a flood (a server that writes them faster than it reads the
#: replies), and the connection fails before parsing them costs seconds.
REPLIES_PER_READ = 1000
#: ... and one connection may bring in all: past this many, the connection
#: takes no new streams (a slower flood; ordinary keep-alive PINGs would need
#: a day to get there).
_REPLIES_PER_CONNECTION = 10_000
_MAX_WINDOW = 2**31 - 1

_NO_ERROR = ErrorCode.NO_ERROR
_DATA = fr.DATA
_END_STREAM = fr.END_STREAM


class _PeerError(Exception):
    """The peer broke the protocol: a connection error with ``error_code``."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


class H2Receiver:
    """What arrives, and what it changes (the base of ``H2State``)."""

    streams: dict[int, H2StreamState]
    settings_received: bool
    goaway: bool
    error: ConnectError | None
    signs_of_life: int
    retired: bool
    pings_acked: int
    stream_frames_heard: int
    highest_stream_id: int
    replies_total: int
    replies_in_read: int
    max_concurrent_streams: int
    max_streams: int
    max_outbound_frame_size: int
    initial_send_window: int
    send_window_left: int
    recv: RecvWindow
    reader: FrameReader
    _encoder: HeaderEncoder
    _decoder: HeaderDecoder
    _out: list[bytes | memoryview]
    _out_size: int

    def _emit(self, data: bytes | memoryview) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def _discard_buffered(self, stream: H2StreamState) -> None:
        """Drop what ``stream`` buffered, crediting it to the connection (the
        stream itself will receive no more)."""
        size = stream.buffered
        stream.chunks.clear()
        stream.buffered = 0
        self._credit_connection(size)

    # -- flow control of what arrives -----------------------------------------

    def _credit_connection(self, size: int) -> None:
        increment = self.recv.processed(size)
        if increment:
            self._emit(fr.encode_window_update(0, increment))

    def _credit(self, stream: H2StreamState, size: int) -> None:
        """``size`` bytes of ``stream`` were processed: credit stream and connection."""
        if not stream.ended and not stream.closed:
            increment = stream.recv.processed(size)
            if increment:
                self._emit(fr.encode_window_update(stream.stream_id, increment))
        self._credit_connection(size)

    # -- receiving --------------------------------------------------------------

    def receive_data(self, data: bytes | memoryview | None) -> set[H2StreamState] | None:
        """Process a network read, up to ``frames_per_piece`` frames of it
        (the runtime's: :data:`FRAMES_PER_PIECE`); ``None``: the next frames
        of the last read, while ``reader.more`` (the PING/SETTINGS flood limit
        is per read).

        Returns the streams that changed, or ``None`` when every waiter should
        be woken (connection-level change: window, settings, failure). Never
        raises: a peer's protocol error fails the connection (:attr:`error`).
        """
        if self.error is not None:
            return None
        reader = self.reader
        fault: FrameError | None = None
        try:
            if data is None:
                frames = reader.resume()
            else:
                self.replies_in_read = 0
                if not self.settings_received:
                    # The server's first frame must be SETTINGS: anything else
                    # (an HTTP/1.1 answer to the preface) fails the connection now.
                    error = h2_preface_error(reader.unparsed + bytes(data[:64]))
                    if error is not None:
                        self.fail(error)
                        return None
                frames = reader.feed(data)
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

    def _dispatch(self, frames: list[fr.Frame]) -> set[H2StreamState] | None:
        changed: set[H2StreamState] | None = set()
        streams = self.streams
        connection = self.recv
        alive = False
        heard = 0
        replies = read_replies = self.replies_in_read
        for kind, flags, sid, payload, length in frames:
            if kind == _DATA:
                heard += 1
                stream = streams.get(sid)
                if stream is None:
                    self._check_opened(sid, "DATA")
                if length > connection.window:
                    raise _PeerError(
                        ErrorCode.FLOW_CONTROL_ERROR,
                        f"DATA of {length} bytes beyond the connection window"
                        f" ({connection.window})",
                    )
                connection.window -= length
                if stream is None:
                    # A stream this side forgot: only the connection counts it.
                    self._credit_connection(length)
                    continue
                alive = True
                if stream.ended:
                    # After END_STREAM: only the connection window counts it.
                    self._credit_connection(length)
                    self._stream_error(stream, ErrorCode.STREAM_CLOSED, "DATA after END_STREAM")
                else:
                    window = stream.recv
                    if length > window.window:
                        raise _PeerError(
                            ErrorCode.FLOW_CONTROL_ERROR,
                            f"DATA of {length} bytes beyond stream {sid}'s window"
                            f" ({window.window})",
                        )
                    window.window -= length
                    if stream.headers is None:
                        raise _PeerError(
                            ErrorCode.PROTOCOL_ERROR,
                            f"DATA before response headers on stream {sid}",
                        )
                    size = len(payload)
                    if size:
                        stream.chunks.append(payload)
                        stream.buffered += size
                    if length > size:
                        self._credit(stream, length - size)  # padding
                    if flags & _END_STREAM:
                        self._end(stream)
                if changed is not None:
                    changed.add(stream)
            elif kind == fr.HEADERS:
                heard += 1
                self._check_opened(sid, "HEADERS")
                try:
                    headers, pseudo = self._decoder.decode(bytes(payload))
                except HPACKFailure as exc:
                    raise _PeerError(ErrorCode.COMPRESSION_ERROR, str(exc)) from exc
                alive = True
                stream = streams.get(sid)
                if stream is not None:
                    self._receive_headers(stream, flags, headers, pseudo)
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
                    if replies > REPLIES_PER_READ:
                        self._flooded(alive)
                        return None
                    self._emit(fr.encode_ping(bytes(payload), ack=True))
            elif kind == fr.SETTINGS:
                if flags & fr.ACK:
                    alive = True
                    continue
                replies += 1
                if replies > REPLIES_PER_READ:
                    self._flooded(alive)
                    return None
                self._apply_settings(fr.parse_settings(bytes(payload)))
                self._emit(fr.encode_settings(ack=True))
                self.settings_received = True
                self.max_streams = self.max_concurrent_streams
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
        self.stream_frames_heard += heard
        if replies != read_replies:
            self.replies_total += replies - read_replies
            self.replies_in_read = replies
            if self.replies_total > _REPLIES_PER_CONNECTION:
                self.retired = True
        if alive:
            self.signs_of_life += 1
        return changed

    def _flooded(self, alive: bool) -> None:
        """Too many frames needing a reply in one read: the connection fails
        (streams that completed in this read keep their results)."""
        self.replies_total += REPLIES_PER_READ + 1
        if alive:
            self.signs_of_life += 1
        self.fail(
            ConnectError(
                Code.UNAVAILABLE,
                f"HTTP/2 connection failed: the server sent more than {REPLIES_PER_READ}"
                " PING/SETTINGS frames at once (a flood)",
            )
        )

    def _check_opened(self, sid: int, what: str) -> None:
        """Frames about streams this client never opened are a protocol error
        (push is disabled: the server opens none)."""
        if sid > self.highest_stream_id or not sid & 1:
            raise _PeerError(ErrorCode.PROTOCOL_ERROR, f"{what} on idle stream {sid}")

    def _receive_headers(
        self, stream: H2StreamState, flags: int, headers: list[tuple[bytes, bytes]], pseudo: int
    ) -> None:
        """A header block on ``stream``, led by ``pseudo`` pseudo-header
        fields (-1: one among the regular fields)."""
        end = flags & fr.END_STREAM
        if stream.ended:
            self._stream_error(stream, ErrorCode.STREAM_CLOSED, "HEADERS after END_STREAM")
            return
        if stream.headers is None:
            # A response's only pseudo-header field is :status, first (RFC
            # 9113 §8.3.2): so the runtime takes the other fields as a slice.
            status = _status(headers) if pseudo == 1 else 0
            if not status:
                self._stream_error(
                    stream,
                    ErrorCode.PROTOCOL_ERROR,
                    "malformed response headers (one valid :status field must lead them)",
                )
                return
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
            if pseudo:
                self._stream_error(
                    stream, ErrorCode.PROTOCOL_ERROR, "pseudo-header field in trailers"
                )
                return
            stream.trailers = headers
        if end:
            self._end(stream)

    def _end(self, stream: H2StreamState) -> None:
        stream.ended = stream.done = True
        if stream.headers is None and stream.error is None:
            stream.error = ConnectError(
                Code.INTERNAL, "protocol error: stream ended without response headers"
            )
        self._maybe_close(stream)

    def _stream_error(self, stream: H2StreamState, error_code: int, message: str) -> None:
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
            elif ident == Setting.ENABLE_PUSH and value > 1:
                raise _PeerError(ErrorCode.PROTOCOL_ERROR, f"SETTINGS_ENABLE_PUSH {value}")
            # SETTINGS_MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored.

    def _peer_reset(self, stream: H2StreamState, error_code: int) -> None:
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
            return h2_closed_before_settings()
        return ConnectError(Code.UNAVAILABLE, "the server closed the connection")

    def _maybe_close(self, stream: H2StreamState) -> None:
        if stream.ended and stream.send_closed:
            self._close(stream)

    def _close(self, stream: H2StreamState) -> None:
        # Every failure and reset of a stream closes it.
        stream.closed = stream.done = True
        self.streams.pop(stream.stream_id, None)


def _status(headers: list[tuple[bytes, bytes]]) -> int:
    """The status of a response's header fields led by their one pseudo-header
    field (0: not a valid :status)."""
    name, value = headers[0]
    if name == b":status" and len(value) == 3 and value.isdigit():
        return int(value)
    return 0
