"""One HTTP/2 stream as the client sees it, and a receive window (sans-IO)."""

from __future__ import annotations

from collections import deque
from typing import Any

from .._errors import ConnectError

__all__ = ["H2StreamState", "RecvWindow"]


class RecvWindow:
    """A receive window credited by consumption.

    ``window`` is what the peer may still send; ``pending`` what was
    processed (consumed, discarded, padding) and not credited yet. Credit goes
    out once half the window is pending, or sooner (past a quarter, at most
    1 KiB) when the window ran dry, so the peer sends full frames without a
    WINDOW_UPDATE per frame.
    """

    __slots__ = ("_dry", "_half", "maximum", "pending", "window")

    def __init__(self, maximum: int, window: int) -> None:
        self.maximum = maximum
        self.window = window
        self.pending = 0
        # The credit thresholds (asked for every consumed chunk).
        self._half = maximum >> 1
        self._dry = min(1024, maximum >> 2)

    def processed(self, size: int) -> int:
        """``size`` more bytes were processed: the increment to send now (0: none)."""
        pending = self.pending + size
        if pending < self._half and (self.window or pending <= self._dry):
            self.pending = pending
            return 0
        increment = self.maximum - self.window
        if increment > pending:
            increment = pending
        self.window += increment
        self.pending = 0
        return increment

    def __repr__(self) -> str:
        return f"<RecvWindow {self.window}/{self.maximum} pending={self.pending}>"


class H2StreamState:
    """The client's view of one HTTP/2 stream (sans-IO).

    ``chunks`` holds received DATA not yet consumed (``buffered`` bytes);
    ``error`` is set when the stream failed (peer reset, GOAWAY, connection
    loss). ``waiters`` belong to the runtime: events to set when something
    about the stream changed. ``life_seen`` is the connection's
    ``signs_of_life`` when the stream was opened. ``send_window`` is what this
    side may still send on it, ``recv`` its receive window.
    """

    __slots__ = (
        "buffered",
        "chunks",
        "closed",
        "done",
        "ended",
        "error",
        "headers",
        "life_seen",
        "recv",
        "refused",
        "reset_sent",
        "send_closed",
        "send_window",
        "status",
        "stream_id",
        "trailers",
        "waiters",
    )

    def __init__(self, stream_id: int, send_window: int = 65535, recv_window: int = 65535) -> None:
        self.stream_id = stream_id
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.trailers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes | memoryview] = deque()
        self.buffered = 0
        self.ended = False
        self.send_closed = False
        self.reset_sent = False
        self.closed = False
        #: Nothing more will arrive: ended, failed or reset (set with
        #: END_STREAM and when the stream closes, which every failure and
        #: reset does; read per wait, so a plain attribute).
        self.done = False
        self.refused = False
        self.error: ConnectError | None = None
        self.waiters: list[Any] = []
        self.life_seen = 0
        self.send_window = send_window
        self.recv = RecvWindow(recv_window, recv_window)

    def __repr__(self) -> str:
        return f"<H2StreamState {self.stream_id} status={self.status} ended={self.ended}>"
