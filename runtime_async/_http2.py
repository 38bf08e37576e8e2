"""Our HTTP/2 connection: many concurrent full-duplex streams on one socket.

The protocol state lives in :class:`connect_python._http.h2_state.H2State` (sans-IO);
this module does the reading and the waiting, :mod:`._http2_writer` (its base
class) the writing, and :mod:`._http2_exchange` the exchanges (one per
stream). There is no background reader: whichever stream needs input
(response headers, data, or send window) while nobody else is reading
becomes the reader. It reads, hands every frame to the stream it belongs to,
wakes those streams' waiters, and keeps reading until its own stream is
satisfied; then it passes the reader role to a waiting stream. A network
read is parsed a few frames at a time (``H2State.receive_data``), with a turn for
the other tasks between two pieces when one is due (one read can hold
thousands of tiny DATA frames), and a stream's buffered data is handed to
its consumer in one piece.

Every wait ends (DESIGN.md §3). A call's deadline on a connection that showed
no sign of life since the call's stream opened retires the connection (new
calls go to a new one); one that passes while the peer said nothing during
the call's last wait sends a PING, whose ACK the next call waits for briefly
(``_http2_liveness``: that probe, and keepalive PINGs).

An idle connection first takes in whatever arrived while no stream was open
(GOAWAY, EOF, PING) before it carries a new stream; if the replies that
needs cannot be written at once, the connection is given up.

Every exit from a stream that did not complete it resets the stream with
RST_STREAM(CANCEL): closing the exchange early, errors, cancellation,
deadlines, and an exchange garbage-collected without being closed (its
finalizer queues the reset for the next I/O on the connection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_receive import FRAMES_PER_PIECE
from connect_python._http.h2_state import (
    DEFAULT_CONNECTION_WINDOW,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_STREAM_WINDOW,
    H2State,
    H2StreamState,
)
from connect_python._io.async_net import has_buffered_input
from connect_python._io.errors import TRANSPORT_ERRORS, transport_error
from connect_python._io.netutil import socket_is_readable
from connect_python._io.shim_async import (
    CallScope,
    Event,
    StateLock,
    Turns,
    shield,
)

from ._exchange import ReleaseHook
from ._http2_liveness import _AsyncHTTP2Liveness
from ._http2_writer import WRITE_PIECE, deadline_passed

__all__ = ["AsyncHTTP2Connection", "ConnectionBusy"]

#: What a network read asks for: 64 KiB, or 256 KiB after a read that came
#: back full (a large body arriving). A receive allocates what it asks for
#: before it knows what came, and above the C allocator's mmap threshold
#: (128 KiB) each one maps, shrinks and unmaps memory: for a small answer
#: that costs more than the rest of its read.
_READ_SIZE = 64 * 1024
_READ_SIZE_FULL = 256 * 1024
#: The most pieces of a read (``H2State.receive_data`` calls) one _read parses.
_PIECES_PER_CALL = 8
_clock = time.perf_counter
#: The scope of reads that belong to no call (an idle connection's input).
_IDLE_SCOPE = CallScope(None, cancellable=False)


class ConnectionBusy(Exception):
    """The connection cannot take another stream now; use another one."""


class AsyncHTTP2Connection(_AsyncHTTP2Liveness):
    """One HTTP/2 connection over an httpcore network stream.

    ``stream_window`` is each stream's receive window and
    ``connection_window`` the connection's; both are credited as the
    application consumes data. ``keepalive_expiry`` is how long an idle
    connection is kept. ``ping_interval``, ``ping_timeout`` and
    ``ping_while_idle`` configure keepalive PINGs (``_http2_liveness``).
    ``on_release`` (the pool's hook) is awaited whenever
    one of its exchanges ended.
    """

    def __init__(
        self,
        network_stream: Any,
        *,
        keepalive_expiry: float | None = None,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        connection_window: int = DEFAULT_CONNECTION_WINDOW,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        ping_interval: float | None = None,
        ping_timeout: float = 20.0,
        ping_while_idle: bool = False,
    ) -> None:
        self._state = H2State(
            stream_window=stream_window,
            connection_window=connection_window,
            max_frame_size=max_frame_size,
            frames_per_piece=FRAMES_PER_PIECE,
        )
        self._lock = StateLock()
        self._closed = False
        super().__init__(
            network_stream,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            ping_while_idle=ping_while_idle,
        )
        self._reading = False
        self._read_size = _READ_SIZE
        #: When the other tasks get a turn between two pieces of a read.
        self._turns = Turns()
        self._reader: H2StreamState | None = None
        self._waiting: dict[Any, None] = {}
        #: The streams whose exchanges are open: an exchange may still take
        #: its buffered answer (and credit the connection for it) after its
        #: stream ended, so it holds the connection until it is closed.
        self._held: set[H2StreamState] = set()
        self._keepalive_expiry = keepalive_expiry
        # The idle clock is the process's (as HTTP/1.1's): anyio's asks the
        # event loop which library runs it, at every stream's end.
        self._idle_since = time.monotonic()
        interrupt = getattr(network_stream, "interrupt", None)
        self._interrupt_read: Callable[[], None] | None = interrupt
        self.on_release: ReleaseHook | None = None

    # -- pool interface ---------------------------------------------------------

    def is_available(self) -> bool:
        """Whether a new stream can be opened now."""
        return not self._closed and self._state.can_open()

    def is_usable(self) -> bool:
        """Whether new streams may ever be opened here (else: retire it)."""
        return not self._closed and self._state.usable

    def is_closed(self) -> bool:
        """Whether the connection is closed or failed."""
        return self._closed or self._state.error is not None

    @property
    def awaiting_settings(self) -> bool:
        """Whether the server's first SETTINGS (its stream limit) is still due."""
        return not self._state.settings_received and self.is_usable()

    async def wait_settings(self, scope: CallScope) -> None:
        """Wait until the server's first SETTINGS arrived (or the connection failed)."""
        state = self._state
        marker = H2StreamState(0)
        marker.life_seen = state.signs_of_life
        with scope.step():
            await self._wait(marker, lambda: state.settings_received or not self.is_usable(), scope)

    def is_idle(self) -> bool:
        """Whether no exchange holds the connection and no stream is open."""
        return not self._held and not self._state.streams

    def retire(self) -> bool:
        """Open no new streams here (the open ones may finish); whether the
        connection is idle, to be closed now. Decided under the lock that
        opening a stream takes: no stream opens after an idle answer."""
        with self._lock:
            self._state.retired = True
            return self.is_idle()

    def retire_if_idle(self) -> bool:
        """Retire the connection if it is idle (see :meth:`retire`); whether it was."""
        with self._lock:
            if not self.is_idle():
                return False
            self._state.retired = True
            return True

    def has_expired(self) -> bool:
        """Whether an idle connection outlived its keep-alive time."""
        if not self.is_idle():
            return False
        if not self.is_usable():
            return True
        expiry = self._keepalive_expiry
        return expiry is not None and time.monotonic() - self._idle_since > expiry

    async def refresh(self) -> bool:
        """Process input that arrived while no stream was open (GOAWAY, EOF,
        PING); whether there was any."""
        if self._reading or self._state.streams:
            return False
        if (
            not self._state.reader.more
            and not has_buffered_input(self._io)
            and not socket_is_readable(self._sock)
        ):
            return False
        with self._lock:
            # Decided under the lock: another thread may have become the
            # reader meanwhile (a stream opened, or the peer check after a
            # cut-short write); two readers would split the input.
            if self._reading or self._state.streams:
                return False
            self._reading = True
        try:
            await self._read(_IDLE_SCOPE)
            while self._state.reader.more:
                await self._turn()
                await self._read(_IDLE_SCOPE)
        finally:
            with self._lock:
                self._reading = False
                self._handoff()
        return True

    async def aclose(self) -> None:
        """Close the connection; open streams fail with ``UNAVAILABLE``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state.fail(ConnectError(Code.UNAVAILABLE, "connection closed"))
            self._closing.set()
            self._wake(None)
            self._wake_writers()
            interrupt = self._interrupt_read if self._reading else None
        if interrupt is not None:
            # A sync reader on another thread is not woken by the close.
            interrupt()
        # Closing a socket does not block: shielded so that it happens even
        # when the caller is being cancelled.
        with shield():
            try:
                await self._net.aclose()
            except TRANSPORT_ERRORS:
                pass

    # -- streams ------------------------------------------------------------------

    def open_stream(
        self, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> tuple[H2StreamState, memoryview | None]:
        """Queue a request's headers (and as much of ``body``, if given, as
        the send window allows: the rest is returned) on a new stream.
        Raises :class:`ConnectionBusy` when the connection cannot take
        another stream."""
        state = self._state
        with self._lock:
            if self._closed or not state.can_open():
                raise ConnectionBusy
            state.reset_abandoned()
            stream = state.open_stream(headers, end_stream=body is not None and not body)
            self._held.add(stream)
            rest = self._send_now(stream, memoryview(body), True) if body else None
        return stream, rest

    def _send_now(self, stream: H2StreamState, data: memoryview, end: bool) -> memoryview:
        """Queue as much of ``data`` as the send window allows, up to about
        ``WRITE_PIECE`` bytes (a batch written before the next is framed);
        the rest is returned."""
        state = self._state
        size = len(data)
        limit = size if size <= WRITE_PIECE else WRITE_PIECE
        pos = 0
        while pos < limit:
            window = state.send_window(stream)
            if window <= 0:
                break
            stop = pos + window
            last = stop >= size
            state.send_data(stream, data[pos:stop], end and last)
            pos = stop
        return data[pos:]

    def _interrupt(self, stream: H2StreamState) -> None:
        """Wake the call of ``stream`` (another thread cancelled it); it
        notices the cancellation itself.

        A call blocked writing is woken by its own wait (sync flavour: the
        cancel wakes the socket wait; async calls are interrupted by their
        cancel scopes and never get here), and its write says how far it got.
        """
        interrupt = None
        with self._lock:
            for event in stream.waiters:
                event.set()
            stream.waiters.clear()
            if self._reader is stream:
                interrupt = self._interrupt_read
        if interrupt is not None:
            interrupt()

    def _release(self, stream: H2StreamState) -> None:
        """The exchange of ``stream`` was closed. Locked."""
        self._held.discard(stream)
        if self.is_idle():
            self._idle_since = time.monotonic()

    def _abandon(self, stream: H2StreamState) -> None:
        """An exchange was garbage-collected unclosed: reset its stream soon.
        (A finalizer may run where this thread holds the lock: no lock here;
        both operations are atomic.)"""
        self._held.discard(stream)
        self._state.abandoned.append(stream.stream_id)

    # -- waiting and reading ------------------------------------------------------

    def _wake(self, changed: set[H2StreamState] | None) -> None:
        """Wake the waiters of ``changed`` streams (``None``: everyone). Locked."""
        if changed is None:
            for event in self._waiting:
                event.set()
            return
        for stream in changed:
            waiters = stream.waiters
            if waiters:
                for event in waiters:
                    event.set()
                waiters.clear()

    def _handoff(self) -> None:
        """Let a waiting stream take the reader role. Locked."""
        if self._reading:
            return
        for event in self._waiting:
            if not event.is_set():
                event.set()
                return

    async def _wait(
        self, stream: H2StreamState, ready: Callable[[], bool] | None, scope: CallScope
    ) -> None:
        """Return once ``ready()`` (``None``: once ``stream`` has body data or
        nothing more will arrive on it), reading the network if nobody else is."""
        reader = False
        reads = 0
        try:
            while True:
                with self._lock:
                    if (stream.buffered or stream.done) if ready is None else ready():
                        if reader:
                            # The reader role goes on (here, not in the finally
                            # clause: one locked section).
                            self._reading = reader = False
                            self._reader = None
                        if self._waiting:
                            self._handoff()
                        return
                    if reader or not self._reading:
                        self._reading = reader = True
                        self._reader = stream
                        event = None
                    else:
                        event = Event()
                        self._waiting[event] = None
                        stream.waiters.append(event)
                if event is None:
                    if reads:
                        # In sync code nothing interrupts a reader that input
                        # keeps arriving for (for other streams): check here.
                        scope.check()
                        await self._turn()
                    reads += 1
                    await self._read(scope)
                    continue
                try:
                    await event.wait()
                finally:
                    with self._lock:
                        del self._waiting[event]
                        if event in stream.waiters:
                            stream.waiters.remove(event)
                scope.check()
        except BaseException:
            with self._lock:
                if not reader:
                    self._handoff()
                alive = self._state.signs_of_life
                if deadline_passed(scope) and stream.life_seen == alive:
                    # Nothing arrived since the stream opened: the peer
                    # looks dead. New calls go to a new connection.
                    self._state.retired = True
                elif stream.stream_id:
                    # The wait ended (its deadline, or its caller) before
                    # what it waited for came: slow, or gone? Input for
                    # other streams says little (it may predate the
                    # silence). A PING tells the next call.
                    self._probe()
            raise
        finally:
            if reader:
                with self._lock:
                    self._reading = False
                    self._reader = None
                    self._handoff()

    async def _turn(self) -> None:
        """Before the reader parses the next piece of a read (no I/O, so no
        scheduling point): a turn for the other tasks when one is due. A
        reader cancelled here leaves the pieces to the next reader."""
        turns = self._turns
        if self._state.reader.more and _clock() >= turns.check_at and turns.due():
            await turns.take()

    async def _read(self, scope: CallScope) -> None:
        """Network input, dispatched to the streams (the reader's job).

        A network read is parsed a few frames at a time (``receive_data``),
        at most ``_PIECES_PER_CALL`` pieces per call, so the reader's stream
        gets its first messages soon; the network is read again once all
        pieces were parsed. Between two pieces the other tasks get a turn
        when one is due (:meth:`_turn`).

        Replies the frames call for (PING and SETTINGS ACKs, window updates)
        are written by the reader, under its call's deadline; an idle
        connection's replies must go out at once, or the connection is given
        up (its peer is not reading).
        """
        state = self._state
        frames = state.reader
        data: bytes | None = None
        if not frames.more:
            try:
                data = await self._io.read(self._read_size)
            except InterruptedError:
                scope.check()
                return
            except TRANSPORT_ERRORS as exc:
                await self._fail(transport_error(exc))
                return
            if not data:
                await self._fail(state.connection_lost())
                return
            self.read_at = _clock()
            self._read_size = _READ_SIZE_FULL if len(data) >= self._read_size else _READ_SIZE
        parsed = 0
        while True:
            with self._lock:
                # (A connection that failed meanwhile takes nothing: None.)
                self._wake(state.receive_data(data))
                data = None
                parsed += 1
                failed = state.error is not None
                if failed or not frames.more or parsed == _PIECES_PER_CALL:
                    pending = False
                    if failed:
                        frames.drop()
                        if not self._writing and state.has_output():
                            # The GOAWAY of a protocol error (best effort: the
                            # connection is closed next either way).
                            self._write_nowait()
                    else:
                        pending = state.has_output()
                    if pending and scope is _IDLE_SCOPE:
                        # Idle: nobody waits for these replies. They go out now
                        # if the network takes them at once; else (a peer that
                        # stopped reading, or TLS, which cannot write without
                        # waiting) the background writer sends them within its
                        # budget and the connection is retired: new calls go to
                        # a new connection, and a stream another thread opened
                        # meanwhile may finish.
                        pending = False
                        if not self._writing and not self._write_nowait():
                            state.retired = True
                            self._start_leftover_writer()
                    break
            await self._turn()
        if pending:
            await self._flush(self._reader, scope)
        if failed:
            await self.aclose()

    async def _fail(self, error: ConnectError) -> None:
        with self._lock:
            self._state.fail(error)
            self._wake(None)
        await self.aclose()
