"""An ``h2`` server in memory, wired to our sans-IO client state, for frame-level tests.

``h2`` is the independent peer: it parses every frame the client writes (and
fails on what breaks the protocol), and its answers go back into
:class:`H2State`. :meth:`Peer.inject` hands the client raw bytes the server
never wrote (for frames ``h2`` would refuse to send). Every frame the client
wrote is logged by the same tap as the socket server's.
"""

from __future__ import annotations

import struct
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings

from connect_python import Code, ConnectError
from connect_python._http.h2_state import H2State, H2StreamState
from transport.h2frames import Frame, FrameTap

__all__ = [
    "CANCEL",
    "COMPRESSION_ERROR",
    "FLOW_CONTROL_ERROR",
    "FRAME_SIZE_ERROR",
    "HEADERS",
    "OK_HEADERS",
    "PROTOCOL_ERROR",
    "STREAM_CLOSED",
    "Peer",
    "assert_protocol_failure",
    "completed",
    "raw_frame",
]

HEADERS = H2State().request_headers(
    b"POST",
    b"http",
    b"example:80",
    b"/svc/Method",
    [(b"content-type", b"application/proto")],
)


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame, written by hand (RFC 9113 §4.1)."""
    length = len(payload)
    return struct.pack(">BHBBL", length >> 16, length & 0xFFFF, kind, flags, stream_id) + payload


class Peer:
    """The client state and an ``h2`` server, connected in memory."""

    def __init__(
        self, client: H2State | None = None, settings: dict[Any, int] | None = None
    ) -> None:
        self.client = client if client is not None else H2State()
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.server = h2.connection.H2Connection(config=config)
        if settings is not None:
            self.server.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.server.initiate_connection()
        self.tap = FrameTap()
        self.frames: list[Frame] = []
        self.events: list[h2.events.Event] = []
        #: What each ``receive_data`` call returned.
        self.changes: list[set[H2StreamState] | None] = []
        self.pump()

    def pump(self) -> list[h2.events.Event]:
        """Exchange bytes until both sides are quiet; the server's new events."""
        events: list[h2.events.Event] = []
        for _ in range(16):
            out = self.client.data_to_send()
            if out:
                self.frames += self.tap.feed(out)
                events += self.server.receive_data(out)
            back = self.server.data_to_send()
            if back:
                self.changes.append(self.client.receive_data(back))
            if not out and not back:
                break
        self.events += events
        return events

    def inject(self, data: bytes) -> set[H2StreamState] | None:
        """Bytes from the server that ``h2`` did not write; then pump."""
        changed = self.client.receive_data(data)
        out = self.client.data_to_send()
        if out:
            self.frames += self.tap.feed(out)
        return changed

    def sent(self, kind: str, stream_id: int | None = None) -> list[Frame]:
        """Frames of ``kind`` the client wrote."""
        return [
            f
            for f in self.frames
            if f.type == kind and (stream_id is None or f.stream_id == stream_id)
        ]

    def open(self, end_stream: bool = True, headers: Any = None) -> H2StreamState:
        """A new stream (request headers sent and received by the server)."""
        stream = self.client.open_stream(headers or HEADERS, end_stream=end_stream)
        self.pump()
        return stream

    def respond(self, stream: H2StreamState, *, end: bool = False, **kwargs: Any) -> None:
        """Response headers (``:status: 200``) from the server."""
        self.server.send_headers(
            stream.stream_id,
            [(b":status", b"200"), (b"content-type", b"application/proto")],
            end_stream=end,
            **kwargs,
        )
        self.pump()


# -- what the client-state tests share ---------------------------------------------

PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
OK_HEADERS = [(b":status", b"200"), (b"content-type", b"application/proto")]


def completed(stream: H2StreamState) -> bool:
    """Both directions of ``stream`` finished cleanly (no reset needed)."""
    return stream.ended and stream.send_closed and stream.error is None


def assert_protocol_failure(peer: Peer, code: int) -> ConnectError:
    """The connection failed with a typed error and sent GOAWAY(``code``)."""
    error = peer.client.error
    assert isinstance(error, ConnectError)
    assert error.code is Code.UNAVAILABLE
    assert "protocol error" in error.message
    goaways = peer.sent("GOAWAY")
    assert [f.value for f in goaways] == [code]
    assert not peer.client.usable
    return error
