"""HTTP/2 client connection state, sans-IO: ``h2`` plus per-stream buffers.

The runtime's HTTP/2 connection (``runtime_async/_http2.py``) does the I/O and
the waiting; everything that decides what goes on the wire lives here, once,
for both flavours (``h2`` itself, as adapted in :mod:`.h2_connection`, frames
and parses):

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

import h2.errors
import h2.events

from .._code import Code
from .._errors import ConnectError
from .h2_connection import REPLIES_PER_READ, ClientConnection
from .h2_errors import h2_closed_before_settings, h2_preface_error, reset_error, reset_with_hint

__all__ = [
    "DEFAULT_CONNECTION_WINDOW",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_STREAM_WINDOW",
    "H2State",
    "H2StreamState",
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
#: Frames that each need a reply (PING, SETTINGS) one connection may bring
#: (``REPLIES_PER_READ`` in one read fail it): past this many, the connection
#: takes no new streams (a slower flood; ordinary keep-alive PINGs would need
#: a day to get there).
_REPLIES_PER_CONNECTION = 10_000
_HIGHEST_STREAM_ID = 2**31 - 1

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


class H2StreamState:
    """The state of one HTTP/2 stream, as the client sees it (sans-IO).

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

    def __repr__(self) -> str:
        return f"<H2StreamState {self.stream_id} status={self.status} ended={self.ended}>"


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
        self.h2 = ClientConnection(
            stream_window=stream_window,
            connection_window=connection_window,
            max_frame_size=max_frame_size,
        )
        self.streams: dict[int, H2StreamState] = {}
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

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2StreamState:
        """Send HEADERS for a new stream (call :meth:`can_open` first)."""
        conn = self.h2
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, headers, end_stream=end_stream)
        stream = H2StreamState(stream_id)
        stream.send_closed = end_stream
        stream.life_seen = self.signs_of_life
        self.streams[stream_id] = stream
        return stream

    def send_window(self, stream: H2StreamState) -> int:
        """How many bytes of DATA ``stream`` may send in one frame now."""
        if stream.closed or stream.send_closed:
            return 0
        conn = self.h2
        window: int = conn.local_flow_control_window(stream.stream_id)
        frame: int = conn.max_outbound_frame_size
        return window if window < frame else frame

    def send_data(self, stream: H2StreamState, data: bytes | memoryview, end_stream: bool) -> None:
        """Send one DATA frame (at most :meth:`send_window` bytes)."""
        self.h2.send_data(stream.stream_id, data, end_stream=end_stream)
        if end_stream:
            stream.send_closed = True
            self._maybe_close(stream)

    def end_stream(self, stream: H2StreamState) -> None:
        """Finish the request body (an empty DATA frame with END_STREAM)."""
        if stream.send_closed or stream.closed:
            return
        self.h2.end_stream(stream.stream_id)
        stream.send_closed = True
        self._maybe_close(stream)

    def reset(self, stream: H2StreamState, error_code: int = _CANCEL) -> None:
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

    def _discard_buffered(self, stream: H2StreamState) -> None:
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
        return bool(self.h2.output_size()) or bool(self.abandoned)

    def output_size(self) -> int:
        """How many bytes :meth:`data_to_send` would return now."""
        return self.h2.output_size()

    def unsend(self, data: bytes) -> None:
        """Put back ``data`` (the unwritten end of what :meth:`data_to_send`
        returned) to be sent first."""
        self.h2.unsend(data)

    # -- receiving --------------------------------------------------------------

    def consume(self, stream: H2StreamState) -> bytes:
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

    def receive_data(
        self, data: bytes | memoryview, new_read: bool = True
    ) -> set[H2StreamState] | None:
        """Process bytes from the network.

        Returns the streams that changed, or ``None`` when every waiter should
        be woken (connection-level change: window, settings, failure).
        ``new_read=False``: ``data`` goes on with the same network read (a
        read parsed in pieces; the PING/SETTINGS flood limit is per read).
        """
        if not self.settings_received:
            # The server's first frame must be SETTINGS: anything else (an
            # HTTP/1.1 answer to the preface) fails the connection now.
            error = h2_preface_error(self.h2.unparsed() + bytes(data[:64]))
            if error is not None:
                self.fail(error)
                return None
        if new_read:
            self.h2.replies_due = 0
        events: list[Any] = self.h2.receive_data(data)
        changed: set[H2StreamState] | None = set()
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
                    f"HTTP/2 connection failed: the server sent more than {REPLIES_PER_READ}"
                    " PING/SETTINGS frames at once (a flood)",
                )
            )
            return None
        return changed

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
            return h2_closed_before_settings()
        return ConnectError(Code.UNAVAILABLE, "the server closed the connection")

    def _maybe_close(self, stream: H2StreamState) -> None:
        if stream.ended and stream.send_closed:
            self._close(stream)

    def _close(self, stream: H2StreamState) -> None:
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
