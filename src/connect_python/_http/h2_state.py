"""HTTP/2 client connection state, sans-IO: ``h2`` plus per-stream buffers.

The runtime's HTTP/2 connection (``runtime_async/_http2.py``) does the I/O and
the waiting; everything that decides what goes on the wire lives here, once,
for both flavours:

- Received DATA is buffered per stream and credited back to the peer (stream
  and connection WINDOW_UPDATE) only as the application *consumes* it, so a
  slow reader holds at most one stream window in memory.
- A stream this side resets gets exactly one RST_STREAM. Frames the peer had
  already sent on it are ignored (RFC 9113 §5.1), except that their DATA is
  credited to the connection window so the connection never stalls. Data a
  stream had buffered but not consumed is credited the same way.
- A graceful GOAWAY (``NO_ERROR``) lets the streams the server accepted run to
  completion; later streams fail with ``UNAVAILABLE`` (never processed, safe to
  retry).
- RST_STREAM and GOAWAY error codes map to Connect codes as the Connect spec
  says.
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

from collections import deque
from collections.abc import Iterable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hpack.table import HeaderTable
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from .._code import Code
from .._errors import ConnectError
from .._io.errors import h2_closed_before_settings, h2_preface_error, reset_with_hint

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
#: Streams opened before the server's first SETTINGS frame arrived: one, since
#: a server may allow fewer than any other guess (and fail the connection, as
#: ``h2``-based servers do, or refuse the streams, as Go does).
_STREAMS_BEFORE_SETTINGS = 1
#: How many reset stream ids are remembered to drop late frames silently.
_RESET_MEMORY = 4096
#: Frames that each need a reply (PING, SETTINGS) one network read may bring;
#: more is a flood (a server that writes them faster than it reads the
#: replies), and the connection fails before parsing them costs seconds.
_REPLIES_PER_READ = 1000
#: ... and one connection may bring in all: past this many, the connection
#: takes no new streams (a slower flood; ordinary keep-alive PINGs would need
#: a day to get there).
_REPLIES_PER_CONNECTION = 10_000
_HIGHEST_STREAM_ID = 2**31 - 1

# Connect spec (HTTP/2 error code of RST_STREAM / GOAWAY -> Connect code).
_RESET_CODES: dict[int, Code] = {
    h2.errors.ErrorCodes.REFUSED_STREAM: Code.UNAVAILABLE,
    h2.errors.ErrorCodes.CANCEL: Code.CANCELED,
    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM: Code.RESOURCE_EXHAUSTED,
    h2.errors.ErrorCodes.INADEQUATE_SECURITY: Code.PERMISSION_DENIED,
}

_CANCEL = h2.errors.ErrorCodes.CANCEL
_NO_ERROR = h2.errors.ErrorCodes.NO_ERROR

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


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def reset_error(error_code: int, what: str = "stream reset by the server") -> ConnectError:
    """The ``ConnectError`` for an HTTP/2 error code received from the peer."""
    code = _RESET_CODES.get(error_code, Code.INTERNAL)
    return ConnectError(code, f"{what}: {_error_name(error_code)}")


class H2Stream:
    """The client's view of one HTTP/2 stream (sans-IO).

    ``chunks`` holds received DATA not yet consumed (``buffered`` bytes);
    ``error`` is set when the stream failed (peer reset, GOAWAY, connection
    loss). ``waiters`` belong to the runtime: events to set when something
    about the stream changed. ``life_seen`` is the connection's
    ``signs_of_life`` when the stream was opened.
    """

    __slots__ = (
        "buffered",
        "chunks",
        "closed",
        "ended",
        "error",
        "headers",
        "life_seen",
        "refused",
        "reset_sent",
        "send_closed",
        "status",
        "stream_id",
        "trailers",
        "waiters",
    )

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.trailers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.ended = False
        self.send_closed = False
        self.reset_sent = False
        self.closed = False
        self.refused = False
        self.error: ConnectError | None = None
        self.waiters: list[Any] = []
        self.life_seen = 0

    @property
    def done(self) -> bool:
        """Nothing more will arrive: ended, failed or reset."""
        return self.ended or self.error is not None or self.reset_sent

    @property
    def completed(self) -> bool:
        """Both directions finished cleanly (no reset needed)."""
        return self.ended and self.send_closed and self.error is None

    def __repr__(self) -> str:
        return f"<H2Stream {self.stream_id} status={self.status} ended={self.ended}>"


def _hpack_int(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer with an ``prefix_bits``-bit prefix (RFC 7541 §5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_string(data: bytes) -> bytes:
    """An HPACK string literal, without Huffman coding."""
    return _hpack_int(len(data), 7, 0) + data


_STATIC_FIELDS: dict[tuple[bytes, bytes], int] = {}
_STATIC_NAMES: dict[bytes, int] = {}
for _index, _entry in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FIELDS.setdefault(_entry, _index)
    _STATIC_NAMES.setdefault(_entry[0], _index)
#: Whether h2 handles DATA on closed streams inside ``_receive_data_frame``
#: (so it can be called directly, skipping the generic frame handler).
_DIRECT_DATA = hasattr(h2.connection.H2Connection, "_handle_data_on_closed_stream")
_SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie"})
_FIELD_CACHE_SIZE = 2048


class _StatelessEncoder(hpack.Encoder):
    """An HPACK encoder that never uses the dynamic table.

    Every field is a static-table reference or a literal "without indexing"
    ("never indexed" for credentials), so a field's encoding never depends on
    what was sent before and is computed once and cached. Request headers repeat
    from call to call, which makes encoding a header block a few dictionary
    look-ups instead of ``hpack``'s per-field work; the price is a few dozen
    bytes more per request on the wire. Huffman coding is not used.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[bytes, bytes], bytes] = {}
        self._size_update = False

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # The peer changed its limit: announce our (empty) table's size, 0.
        self._size_update = True

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        cache = self._cache
        parts = []
        if self._size_update:
            self._size_update = False
            parts.append(b"\x20")
        for name, value in headers:
            key = (name, value)
            field = cache.get(key)
            if field is None:
                field = self._field(name, value)
                if len(cache) >= _FIELD_CACHE_SIZE:
                    cache.clear()
                cache[key] = field
            parts.append(field)
        return b"".join(parts)

    @staticmethod
    def _field(name: bytes, value: bytes) -> bytes:
        index = _STATIC_FIELDS.get((name, value))
        if index is not None:
            return _hpack_int(index, 7, 0x80)
        flags = 0x10 if name in _SENSITIVE else 0x00
        index = _STATIC_NAMES.get(name)
        if index is not None:
            return _hpack_int(index, 4, flags) + _hpack_string(value)
        return bytes((flags,)) + _hpack_string(name) + _hpack_string(value)


class _ClientConnection(h2.connection.H2Connection):
    """``h2``'s connection with three behaviours changed.

    Frames that arrive on a stream this side reset are ignored instead of
    answered with another RST_STREAM (their DATA still credits the connection
    window), a GOAWAY with ``NO_ERROR`` does not end the streams the server
    already accepted, and a flood of PING or SETTINGS frames (more than
    ``_REPLIES_PER_READ`` in one read) stops the parsing (the connection
    fails).
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.encoder = _StatelessEncoder()
        self.reset_here: dict[int, None] = {}
        #: Frames needing a reply in the current read (reset per read).
        self.replies_due = 0
        #: ... and since the connection started.
        self.replies_total = 0
        #: Set when a read brought a flood of them.
        self.flooded = False

    def forget_reset(self, stream_id: int) -> None:
        self.reset_here.pop(stream_id, None)

    def reset_stream(self, stream_id: int, error_code: int = 0) -> None:
        super().reset_stream(stream_id, error_code)
        reset_here = self.reset_here
        reset_here[stream_id] = None
        if len(reset_here) > _RESET_MEMORY:
            del reset_here[next(iter(reset_here))]

    def _receive_frame(self, frame: Frame) -> list[h2.events.Event]:
        stream_id = frame.stream_id
        if stream_id and stream_id in self.reset_here:
            if isinstance(frame, DataFrame):
                self.state_machine.process_input(h2.connection.ConnectionInputs.RECV_DATA)
                size = frame.flow_controlled_length
                manager = self._inbound_flow_control_window_manager
                manager.window_consumed(size)
                increment = manager.process_bytes(size)
                if increment:
                    update = WindowUpdateFrame(0)
                    update.window_increment = increment
                    self._prepare_for_sending([update])
                if "END_STREAM" in frame.flags:
                    self.forget_reset(stream_id)
                return []
            # Other frames still update shared state (HPACK); drop only the
            # RST_STREAM h2 would send in reply.
            mark = len(self._data_to_send)
            events: list[h2.events.Event] = super()._receive_frame(frame)
            del self._data_to_send[mark:]
            if isinstance(frame, RstStreamFrame) or "END_STREAM" in frame.flags:
                self.forget_reset(stream_id)
            return [e for e in events if not isinstance(e, h2.events.StreamReset)]
        if _DIRECT_DATA and type(frame) is DataFrame:
            # The hot path. h2's generic handler logs ``repr(frame)``, which
            # hex-dumps the whole payload before the logger ignores it.
            frames, events = self._receive_data_frame(frame)
            if frames:
                self._prepare_for_sending(frames)
            return events
        kind = type(frame)
        if (kind is PingFrame or kind is SettingsFrame) and "ACK" not in frame.flags:
            self.replies_due += 1
            self.replies_total += 1
            if self.replies_due > _REPLIES_PER_READ:
                # Stop here: drop the rest of the input (the connection
                # fails), keep the events of the frames before it.
                self.flooded = True
                self.incoming_buffer._data.clear()
                return []
        return super()._receive_frame(frame)

    def _receive_goaway_frame(
        self, frame: GoAwayFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        if frame.error_code != _NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = _NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


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
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            # Response headers are only parsed for what a client needs.
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = _ClientConnection(config)
        settings = h2.settings.SettingCodes
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                settings.ENABLE_PUSH: 0,
                settings.MAX_CONCURRENT_STREAMS: 100,
                settings.INITIAL_WINDOW_SIZE: stream_window,
                settings.MAX_FRAME_SIZE: max_frame_size,
                settings.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        del conn.local_settings[settings.ENABLE_CONNECT_PROTOCOL]
        conn.max_inbound_frame_size = max_frame_size
        conn.initiate_connection()
        if connection_window > 65535:
            conn.increment_flow_control_window(connection_window - 65535)
        self.h2 = conn
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

    # -- capacity -------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """Streams this client may have open at once (peer's limit)."""
        limit: int = self.h2.remote_settings.max_concurrent_streams
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
            and self.h2.highest_outbound_stream_id < _HIGHEST_STREAM_ID - 2
        )

    @property
    def usable(self) -> bool:
        """Whether new streams may ever be opened on this connection."""
        return (
            self.error is None
            and not self.goaway
            and not self.retired
            and self.h2.highest_outbound_stream_id < _HIGHEST_STREAM_ID - 2
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

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2Stream:
        """Send HEADERS for a new stream (call :meth:`can_open` first)."""
        conn = self.h2
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, headers, end_stream=end_stream)
        stream = H2Stream(stream_id)
        stream.send_closed = end_stream
        stream.life_seen = self.signs_of_life
        self.streams[stream_id] = stream
        return stream

    def send_window(self, stream: H2Stream) -> int:
        """How many bytes of DATA ``stream`` may send in one frame now."""
        if stream.closed or stream.send_closed:
            return 0
        conn = self.h2
        window: int = conn.local_flow_control_window(stream.stream_id)
        frame: int = conn.max_outbound_frame_size
        return window if window < frame else frame

    def send_data(self, stream: H2Stream, data: bytes | memoryview, end_stream: bool) -> None:
        """Send one DATA frame (at most :meth:`send_window` bytes)."""
        self.h2.send_data(stream.stream_id, data, end_stream=end_stream)
        if end_stream:
            stream.send_closed = True
            self._maybe_close(stream)

    def end_stream(self, stream: H2Stream) -> None:
        """Finish the request body (an empty DATA frame with END_STREAM)."""
        if stream.send_closed or stream.closed:
            return
        self.h2.end_stream(stream.stream_id)
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
        self.h2.reset_stream(stream.stream_id, error_code)
        self._close(stream)

    def _discard_buffered(self, stream: H2Stream) -> None:
        size = stream.buffered
        stream.chunks.clear()
        stream.buffered = 0
        self.h2.acknowledge_received_data(size, stream.stream_id)

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
        self.h2.ping(self.pings_sent.to_bytes(8, "big"))
        return self.pings_sent

    def data_to_send(self) -> bytes:
        """Bytes to write to the network, in order."""
        data: bytes = self.h2.data_to_send()
        return data

    def has_output(self) -> bool:
        """Whether anything is waiting to be written (or reset)."""
        return bool(self.h2._data_to_send) or bool(self.abandoned)

    def output_size(self) -> int:
        """How many bytes :meth:`data_to_send` would return now."""
        return len(self.h2._data_to_send)

    def unsend(self, data: bytes) -> None:
        """Put back ``data`` (the unwritten end of what :meth:`data_to_send`
        returned) to be sent first."""
        self.h2._data_to_send[0:0] = data

    # -- receiving --------------------------------------------------------------

    def consume(self, stream: H2Stream) -> bytes:
        """Take the buffered body of ``stream`` and credit it to the peer."""
        chunks = stream.chunks
        size = stream.buffered
        if not size:
            chunks.clear()
            return b""
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        stream.buffered = 0
        self.h2.acknowledge_received_data(size, stream.stream_id)
        return data

    def receive_data(self, data: bytes) -> set[H2Stream] | None:
        """Process bytes from the network.

        Returns the streams that changed, or ``None`` when every waiter should
        be woken (connection-level change: window, settings, failure).
        """
        if not self.settings_received:
            # The server's first frame must be SETTINGS: anything else (an
            # HTTP/1.1 answer to the preface) fails the connection now.
            error = h2_preface_error(self._unparsed() + bytes(data[:64]))
            if error is not None:
                self.fail(error)
                return None
        self.h2.replies_due = 0
        events: list[Any] = self.h2.receive_data(data)
        changed: set[H2Stream] | None = set()
        streams = self.streams
        alive = False
        for event in events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                alive = True
                stream = streams.get(event.stream_id)
                size = event.flow_controlled_length
                payload = event.data
                if stream is None or stream.reset_sent:
                    self.h2.acknowledge_received_data(size, event.stream_id)
                    continue
                if payload:
                    stream.chunks.append(payload)
                    stream.buffered += len(payload)
                padding = size - len(payload)
                if padding:
                    self.h2.acknowledge_received_data(padding, event.stream_id)
                if changed is not None:
                    changed.add(stream)
            elif kind is h2.events.ResponseReceived:
                alive = True
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.headers = event.headers
                    stream.status = _status(event.headers)
                    if changed is not None:
                        changed.add(stream)
            elif kind is h2.events.TrailersReceived:
                alive = True
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.trailers = event.headers
                    if changed is not None:
                        changed.add(stream)
            elif kind is h2.events.StreamEnded:
                alive = True
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.ended = True
                    if stream.headers is None and stream.error is None:
                        stream.error = ConnectError(
                            Code.INTERNAL, "protocol error: stream ended without response headers"
                        )
                    self._maybe_close(stream)
                    if changed is not None:
                        changed.add(stream)
            elif kind is h2.events.StreamReset:
                alive = True
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._peer_reset(stream, event.error_code)
                    if changed is not None:
                        changed.add(stream)
            elif kind is h2.events.WindowUpdated:
                if event.stream_id == 0:
                    changed = None
                else:
                    alive = True
                    stream = streams.get(event.stream_id)
                    if stream is not None and changed is not None:
                        changed.add(stream)
            elif kind is h2.events.RemoteSettingsChanged:
                self.settings_received = True
                changed = None
            elif kind is h2.events.ConnectionTerminated:
                alive = True
                self._goaway(event.error_code, event.last_stream_id)
                changed = None
            elif kind is h2.events.PingAckReceived:
                alive = True
                self.pings_acked += 1
                changed = None
            elif (
                kind is h2.events.SettingsAcknowledged
                or kind is h2.events.InformationalResponseReceived
            ):
                # Replies to what this side sent. (The server's own PINGs and
                # SETTINGS show that it runs, not that it serves.)
                alive = True
        if alive:
            self.signs_of_life += 1
        if self.h2.replies_total > _REPLIES_PER_CONNECTION:
            self.retired = True
        if self.h2.flooded:
            # After the events: streams that completed in this read keep
            # their results.
            self.fail(
                ConnectError(
                    Code.UNAVAILABLE,
                    f"HTTP/2 connection failed: the server sent more than {_REPLIES_PER_READ}"
                    " PING/SETTINGS frames at once (a flood)",
                )
            )
            return None
        return changed

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
            stream.refused = error_code == h2.errors.ErrorCodes.REFUSED_STREAM
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
            return h2_closed_before_settings(self._unparsed())
        return ConnectError(Code.UNAVAILABLE, "the server closed the connection")

    def _unparsed(self) -> bytes:
        """The start of what was received and not parsed into frames (error messages)."""
        return bytes(getattr(self.h2.incoming_buffer, "_data", b"")[:64])

    def _maybe_close(self, stream: H2Stream) -> None:
        if stream.ended and stream.send_closed:
            self._close(stream)

    def _close(self, stream: H2Stream) -> None:
        stream.closed = True
        self.streams.pop(stream.stream_id, None)


def _status(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b":status":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
