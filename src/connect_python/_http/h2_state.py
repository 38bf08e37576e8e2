"""HTTP/2 client connection state, sans-IO, written for what this client does.

The runtime's HTTP/2 connection (``runtime_async/_http2.py``) does the I/O and
the waiting; everything that decides what goes on the wire lives here, once,
for both flavours. Frames are read and written by :mod:`.frames`, header
blocks by :mod:`.hpack_codec`; what arrives is handled by :mod:`.h2_receive`.

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
  :meth:`H2State.probe` sends the liveness probe (one at a time): when a
  call's wait ended without what it waited for, and with every RST_STREAM.
  A stream is reset when its caller left it with the server's answer still
  coming; if the connection dies then, no call is waiting to notice, and the
  probe's missing ACK is what keeps the next call off the dead connection.
  :meth:`H2State.ping_is_welcome` tells whether the peer sent HEADERS or DATA
  since the last PING (or none was sent): only such a PING is free under the
  ping policy gRPC servers enforce.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._errors import ConnectError
from . import frames as fr
from .frames import ErrorCode, FrameReader, Setting
from .h2_receive import H2Receiver
from .h2_stream import H2StreamState, RecvWindow
from .hpack_codec import HeaderDecoder, HeaderEncoder

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
_MAX_HEADER_LIST_SIZE = 65536
#: Streams opened before the server's first SETTINGS frame arrived: one, since
#: a server may allow fewer than any other guess (and fail the connection, as
#: ``h2``-based servers do, or refuse the streams, as Go does).
_STREAMS_BEFORE_SETTINGS = 1
#: A stream may be opened while the highest id used is below this (the next
#: odd id must stay within 2^31-1).
_LAST_OPENER_ID = 2**31 - 3
_INITIAL_WINDOW = 65535
#: The peer's stream limit until it names one: unlimited (RFC 9113 §6.5.2).
_UNLIMITED = 2**31

_CANCEL = ErrorCode.CANCEL

#: The most bytes :meth:`H2State.consume` joins into one chunk: a 64 KiB
#: message and its neighbours' pieces, yet well under glibc's default mmap
#: threshold (128 KiB), above which every such object is freshly mapped
#: memory (page faults) each time.
_JOIN_LIMIT = 96 * 1024

#: How many header lists :meth:`H2State.request_headers` remembers.
_REQUEST_HEADERS_SIZE = 256

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


class H2State(H2Receiver):
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
        frames_per_piece: int | None = None,
    ) -> None:
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
        #: The header lists :meth:`request_headers` made, by what they were
        #: made of: a client sends the same few again and again. Kept by the
        #: connection (credentials among them go with it).
        self._request_headers: dict[tuple[object, ...], list[tuple[bytes, bytes]]] = {}
        #: The liveness probe (see :meth:`probe`): ``pings_acked`` reaches it
        #: with its ACK; 0: none sent.
        self.probe_target = 0
        #: HEADERS and DATA frames received, and their count when the last
        #: PING went out: a PING after the peer sent neither counts against a
        #: gRPC server's ping policy (grpc-go closes the connection with
        #: GOAWAY(ENHANCE_YOUR_CALM) after a few of those within minutes).
        self.stream_frames_heard = 0
        self.stream_frames_at_ping = 0
        #: The highest stream id opened so far (-1: none, so the next is 1;
        #: a client's ids are odd).
        self.highest_stream_id = -1
        #: Frames needing a reply received so far (PING, SETTINGS), and in
        #: the current network read (see :meth:`receive_data`).
        self.replies_total = 0
        self.replies_in_read = 0
        # The peer's settings.
        self.max_concurrent_streams = _UNLIMITED
        #: Streams this client may have open at once: the peer's limit once
        #: its SETTINGS came (set with them), one before.
        self.max_streams = _STREAMS_BEFORE_SETTINGS
        self.max_outbound_frame_size = fr.MIN_MAX_FRAME_SIZE
        self.initial_send_window = _INITIAL_WINDOW
        #: What this side may still send on the connection.
        self.send_window_left = _INITIAL_WINDOW
        #: What the peer may still send on the connection, and credit due.
        self.recv = RecvWindow(max(connection_window, _INITIAL_WINDOW), _INITIAL_WINDOW)
        #: The frame reader: ``reader.more`` tells whether frames of the last
        #: read are left (see :meth:`receive_data`).
        self.reader = FrameReader(max_frame_size, frames_per_piece)
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

    def can_open(self) -> bool:
        """Whether a new stream may be opened now."""
        if self.error is not None or self.goaway or self.retired:
            return False
        return len(self.streams) < self.max_streams and self.highest_stream_id < _LAST_OPENER_ID

    @property
    def usable(self) -> bool:
        """Whether new streams may ever be opened on this connection."""
        return (
            self.error is None
            and not self.goaway
            and not self.retired
            and self.highest_stream_id < _LAST_OPENER_ID
        )

    # -- sending ----------------------------------------------------------------

    def request_headers(
        self,
        method: bytes,
        scheme: bytes,
        authority: bytes,
        target: bytes,
        headers: Iterable[tuple[bytes, bytes]],
    ) -> list[tuple[bytes, bytes]]:
        """The HTTP/2 header list of a request (pseudo-headers first; a new
        list: callers may keep it)."""
        fields = tuple(headers)
        key = (method, scheme, authority, target, fields)
        memo = self._request_headers
        known = memo.get(key)
        if known is not None:
            return list(known)
        out = [
            (b":method", method),
            (b":scheme", scheme),
            (b":authority", authority),
            (b":path", target),
        ]
        for name, value in fields:
            name = name.lower()
            if name in _HOP_BY_HOP:
                continue
            if name == b"te" and value.lower() != b"trailers":
                continue
            out.append((name, value))
        if len(memo) >= _REQUEST_HEADERS_SIZE:
            memo.clear()
        memo[key] = out
        return list(out)

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2StreamState:
        """Send HEADERS for a new stream (call :meth:`can_open` first)."""
        stream_id = self.highest_stream_id + 2
        self.highest_stream_id = stream_id
        block = self._encoder.encode(headers)
        frames = fr.encode_headers(stream_id, block, end_stream, self.max_outbound_frame_size)
        self._out.append(frames)
        self._out_size += len(frames)
        stream = H2StreamState(stream_id, self.initial_send_window, self.stream_window)
        stream.send_closed = end_stream
        stream.life_seen = self.signs_of_life
        self.streams[stream_id] = stream
        return stream

    def send_window(self, stream: H2StreamState) -> int:
        """How many bytes of DATA ``stream`` may send in one frame now."""
        if stream.closed or stream.send_closed:
            return 0
        window = stream.send_window
        connection = self.send_window_left
        if connection < window:
            window = connection
        frame = self.max_outbound_frame_size
        return window if window < frame else frame

    def send_data(self, stream: H2StreamState, data: bytes | memoryview, end_stream: bool) -> None:
        """Send one DATA frame (at most :meth:`send_window` bytes)."""
        size = len(data)
        if type(data) is memoryview and not data.readonly:
            data = bytes(data)  # a caller's mutable buffer: copy it now, as it is
        stream.send_window -= size
        self.send_window_left -= size
        # _emit's work in line: this runs for every request
        out = self._out
        out.append(fr.encode_data_head(stream.stream_id, size, end_stream))
        if size:
            out.append(data)
        self._out_size += 9 + size
        if end_stream:
            stream.send_closed = True
            self._maybe_close(stream)

    def end_stream(self, stream: H2StreamState) -> None:
        """Finish the request body (an empty DATA frame with END_STREAM)."""
        if stream.send_closed or stream.closed:
            return
        self._emit(fr.encode_data_head(stream.stream_id, 0, True))
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
        self._emit(fr.encode_rst_stream(stream.stream_id, error_code))
        self._close(stream)
        self.probe()

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
        self.stream_frames_at_ping = self.stream_frames_heard
        self._emit(fr.encode_ping(self.pings_sent.to_bytes(8, "big")))
        return self.pings_sent

    def probe(self) -> None:
        """Send the liveness probe PING, unless one is on its way, the
        connection failed, or a PING now would be unwelcome (the last one was
        answered and the peer sent nothing on a stream since: under a gRPC
        server's ping policy that is a strike, and a few close the connection)."""
        if self.probe_target > self.pings_acked or self.error is not None:
            return
        if self.ping_is_welcome():
            self.probe_target = self.ping()

    def probe_pending(self) -> bool:
        """Whether the ACK of the probe is still due."""
        return self.probe_target > self.pings_acked

    def ping_is_welcome(self) -> bool:
        """Whether a PING now is free under a gRPC server's ping policy: the
        first one, or the peer sent HEADERS or DATA since the last."""
        return self.pings_sent == 0 or self.stream_frames_heard != self.stream_frames_at_ping

    def data_to_send(self) -> bytes:
        """Bytes to write to the network, in order."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 and type(out[0]) is bytes else b"".join(out)
        out.clear()
        self._out_size = 0
        return data

    def has_output(self) -> bool:
        """Whether anything is waiting to be written (or reset)."""
        return bool(self._out or self.abandoned)

    def output_size(self) -> int:
        """How many bytes :meth:`data_to_send` would return now."""
        return self._out_size

    def unsend(self, data: bytes) -> None:
        """Put back ``data`` (the unwritten end of what :meth:`data_to_send`
        returned) to be sent first."""
        self._out.insert(0, data)
        self._out_size += len(data)

    def consume(self, stream: H2StreamState) -> bytes:
        """Take buffered body of ``stream`` (its first chunk, joined with
        those that follow up to :data:`_JOIN_LIMIT` bytes) and credit it to
        the peer.

        Large chunks come out one by one: a read's worth of them (hundreds
        of KiB) copied into one object per call makes glibc hand the heap's
        top back to the system and fault it in again, read after read.
        """
        chunks = stream.chunks
        if not stream.buffered:
            chunks.clear()
            return b""
        data = chunks.popleft()
        size = len(data)
        if chunks and size + len(chunks[0]) <= _JOIN_LIMIT:
            parts = [data]
            while chunks and size + len(chunks[0]) <= _JOIN_LIMIT:
                part = chunks.popleft()
                parts.append(part)
                size += len(part)
            data = b"".join(parts)
        stream.buffered -= size
        self._credit(stream, size)
        return bytes(data)
