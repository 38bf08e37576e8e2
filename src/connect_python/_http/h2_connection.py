"""``h2``'s connection, adapted for this client: the only module that touches
``h2``'s private members (sans-IO).

``h2`` (pinned in ``pyproject.toml`` to the minor versions tested) has no
public hooks for what the client needs, so :class:`ClientConnection`
overrides or reads these private members of ``h2.connection.H2Connection``;
each is used here only, and why:

- ``_receive_frame`` (overridden): the per-frame dispatcher. Frames on a
  stream this side reset are dropped instead of answered with another
  RST_STREAM (RFC 9113 §5.1 lets a peer's frames in flight arrive); a flood of
  frames that each need a reply (PING, SETTINGS) stops the parsing; DATA
  frames skip h2's generic handler, which logs ``repr(frame)`` (a hex dump of
  the whole payload, made before the logger drops it: the hot path).
- ``_receive_data_frame`` (called): h2's DATA handler, called directly on that
  hot path. Only when ``_handle_data_on_closed_stream`` exists (h2 >= 4.1),
  which means it handles DATA on closed streams itself.
- ``_receive_goaway_frame`` (overridden): h2 closes every stream on any
  GOAWAY; a graceful one (``NO_ERROR``) must let the streams the server
  accepted finish.
- ``_inbound_flow_control_window_manager`` and ``_prepare_for_sending``
  (used): DATA dropped on a reset stream still counts against the connection
  window; it is credited back (a WINDOW_UPDATE queued) or the connection
  would stall.
- ``_data_to_send`` (read and written): how much output waits, without
  taking it (:meth:`ClientConnection.output_size`), and putting back what a
  write cut short did not send (:meth:`ClientConnection.unsend`).
- ``incoming_buffer._data`` (read and cleared): the received bytes not yet
  parsed into frames, quoted in errors about a server that does not speak
  HTTP/2 (:meth:`ClientConnection.unparsed`), and dropped after a flood.

``tests/transport/test_h2_state.py`` covers every one of them against an
``h2`` server in memory.
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from .hpack_encoder import StatelessEncoder

__all__ = ["REPLIES_PER_READ", "ClientConnection"]

#: Frames that each need a reply (PING, SETTINGS) one network read may bring;
#: more is a flood (a server that writes them faster than it reads the
#: replies), and the connection fails before parsing them costs seconds.
REPLIES_PER_READ = 1000
#: How many reset stream ids are remembered to drop late frames silently.
_RESET_MEMORY = 4096
#: Whether h2 handles DATA on closed streams inside ``_receive_data_frame``
#: (so it can be called directly, skipping the generic frame handler).
_DIRECT_DATA = hasattr(h2.connection.H2Connection, "_handle_data_on_closed_stream")
_NO_ERROR = h2.errors.ErrorCodes.NO_ERROR


class ClientConnection(h2.connection.H2Connection):
    """``h2``'s client connection, configured for this client, with three
    behaviours changed (see the module doc): frames on a stream this side
    reset are ignored (their DATA still credits the connection window), a
    GOAWAY with ``NO_ERROR`` does not end the streams the server already
    accepted, and more than :data:`REPLIES_PER_READ` PING or SETTINGS frames in
    one read stop the parsing (:attr:`flooded`: the connection must fail).

    Header blocks are encoded by :class:`StatelessEncoder`; outbound headers
    are neither validated nor normalized (the client builds them), inbound
    ones only parsed for what a client needs.
    """

    def __init__(self, *, stream_window: int, connection_window: int, max_frame_size: int) -> None:
        super().__init__(
            config=h2.config.H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
                validate_inbound_headers=False,
                normalize_inbound_headers=False,
            )
        )
        self.encoder = StatelessEncoder()
        settings = h2.settings.SettingCodes
        self.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                settings.ENABLE_PUSH: 0,
                settings.MAX_CONCURRENT_STREAMS: 100,
                settings.INITIAL_WINDOW_SIZE: stream_window,
                settings.MAX_FRAME_SIZE: max_frame_size,
                settings.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        del self.local_settings[settings.ENABLE_CONNECT_PROTOCOL]
        self.max_inbound_frame_size = max_frame_size
        self.initiate_connection()
        if connection_window > 65535:
            self.increment_flow_control_window(connection_window - 65535)
        #: Streams this side reset, whose late frames are dropped (oldest first).
        self.reset_here: dict[int, None] = {}
        #: Frames needing a reply in the current read (the caller zeroes it per read).
        self.replies_due = 0
        #: ... and since the connection started.
        self.replies_total = 0
        #: Set when a read brought a flood of them.
        self.flooded = False

    # -- output -----------------------------------------------------------------

    def output_size(self) -> int:
        """How many bytes ``data_to_send()`` would return now."""
        return len(self._data_to_send)

    def unsend(self, data: bytes) -> None:
        """Put back ``data`` (the unwritten end of what ``data_to_send()``
        returned) to be sent first."""
        self._data_to_send[0:0] = data

    def unparsed(self, limit: int = 64) -> bytes:
        """The start of what was received and not parsed into frames."""
        return bytes(getattr(self.incoming_buffer, "_data", b"")[:limit])

    # -- streams this side reset --------------------------------------------------

    def reset_stream(self, stream_id: int, error_code: int = 0) -> None:
        super().reset_stream(stream_id, error_code)
        reset_here = self.reset_here
        reset_here[stream_id] = None
        if len(reset_here) > _RESET_MEMORY:
            del reset_here[next(iter(reset_here))]

    def _receive_frame(self, frame: Frame) -> list[h2.events.Event]:
        stream_id = frame.stream_id
        if stream_id and stream_id in self.reset_here:
            return self._receive_on_reset_stream(frame)
        if _DIRECT_DATA and type(frame) is DataFrame:
            # The hot path: h2's generic handler logs ``repr(frame)``.
            frames, events = self._receive_data_frame(frame)
            if frames:
                self._prepare_for_sending(frames)
            return events
        kind = type(frame)
        if (kind is PingFrame or kind is SettingsFrame) and "ACK" not in frame.flags:
            self.replies_due += 1
            self.replies_total += 1
            if self.replies_due > REPLIES_PER_READ:
                # Stop here: drop the rest of the input (the connection
                # fails), keep the events of the frames before it.
                self.flooded = True
                self.incoming_buffer._data.clear()
                return []
        return super()._receive_frame(frame)

    def _receive_on_reset_stream(self, frame: Frame) -> list[h2.events.Event]:
        stream_id = frame.stream_id
        if isinstance(frame, DataFrame):
            # Credit the connection window, nothing else.
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
                self.reset_here.pop(stream_id, None)
            return []
        # Other frames still update shared state (HPACK); drop only the
        # RST_STREAM h2 would send in reply.
        mark = len(self._data_to_send)
        events: list[h2.events.Event] = super()._receive_frame(frame)
        del self._data_to_send[mark:]
        if isinstance(frame, RstStreamFrame) or "END_STREAM" in frame.flags:
            self.reset_here.pop(stream_id, None)
        return [e for e in events if not isinstance(e, h2.events.StreamReset)]

    # -- GOAWAY ---------------------------------------------------------------------

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
