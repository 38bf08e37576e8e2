"""Our HTTP/2 connection: many concurrent full-duplex streams on one socket.

The protocol state lives in :class:`connect_python._http.h2_state.H2State` (sans-IO);
this module does the I/O and the waiting. There is no background reader:
whichever stream needs input (response headers, data, or send window) while
nobody else is reading becomes the reader. It reads, hands every frame to the
stream it belongs to, wakes those streams' waiters, and keeps reading until
its own stream is satisfied; then it passes the reader role to a waiting
stream. Frames are parsed in bulk, one network read at a time, and a stream's
buffered data is handed to its consumer in one piece.

Sending is serialized by a writer flag: frames are queued in the protocol state
in call order; a writer takes everything queued so far and writes it as one
batch, callers whose frames that batch carried return, and the next batch is
written by the next caller that still has frames pending. A batch larger than
``_WRITE_PIECE`` is handed to the network in pieces, so back-pressure shows
(and a deadline can land) before it all sits in memory.

Every wait ends (DESIGN.md §3). A write runs under the deadline and
cancellation of the call that writes: nothing blocking is shielded. A write
cut short (the writing call's deadline or cancellation, which is routine)
reports how far it got (see ``_io.shim_async._DirectStream`` and ``_io.sync_net``):
the bytes of its batch that did not reach the network go back to the head of
the output, to be sent before any other frame by the next writer (or the
background writer, if nobody writes), and the cancelled call's stream is
then reset as usual (its RST_STREAM queued after them). The connection's
other streams go on untouched. If the write was waiting for the peer to take
more when it was cut short, the peer may have stopped reading: the
connection is retired (new calls go to a new one, open streams may finish),
and a PING follows what was left; without its ACK within ``_LEFTOVER_BUDGET``
the connection is given up (its streams fail with ``UNAVAILABLE``).

Only where the progress of a cut-short write is unknown does the connection
fail at once (its other streams with ``UNAVAILABLE``): on a network stream
that is neither a direct asyncio/trio stream (plain TCP, or TLS through
anyio's ``TLSStream`` over one) nor one of the sync flavour's sockets (an
httpcore stream of another kind, another anyio backend or stream class).

A call's deadline while it waits for another caller's write to make
progress, or on a connection that showed no sign of life since the call's
stream opened, retires the connection too.

An idle connection first takes in whatever arrived while no stream was open
(GOAWAY, EOF, PING) before it carries a new stream; if the replies that
needs cannot be written at once, the connection is given up.

Every exit from a stream that did not complete it resets the stream with
RST_STREAM(CANCEL): closing the handle early, errors, cancellation, deadlines,
and a handle garbage-collected without being closed (its finalizer queues the
reset for the next I/O on the connection). Closing never waits for the
network: the reset is written at once if the socket takes it, else by the
background writer (or with the next batch).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_state import (
    DEFAULT_CONNECTION_WINDOW,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_STREAM_WINDOW,
    H2State,
)
from connect_python._http.h2_state import H2StreamState as H2Stream
from connect_python._io.errors import TRANSPORT_ERRORS, transport_error
from connect_python._io.netutil import socket_is_readable
from connect_python._io.shim_async import (
    Background,
    CallScope,
    Event,
    StateLock,
    current_time,
    direct_stream,
    shield,
    write_nowait,
)

__all__ = ["AsyncHTTP2Connection", "AsyncHTTP2Stream", "ConnectionBusy"]

RawHeaders = list[tuple[bytes, bytes]]
_READ_SIZE = 256 * 1024
#: The scope of reads that belong to no call (an idle connection's input).
_IDLE_SCOPE = CallScope(None, cancellable=False)
#: The largest piece of a batch handed to the network at once.
_WRITE_PIECE = 1024 * 1024
#: The most a write that must not wait (closing a stream, an idle
#: connection's replies) hands to the network; more is not normal traffic.
_NOWAIT_MAX = 64 * 1024
#: How long the background writer (of what closed streams and cut-short
#: writes left behind), and the wait for the ACK of the PING that follows a
#: cut-short write, may take before the connection is given up.
_LEFTOVER_BUDGET = 10.0


def _interrupted_write() -> ConnectError:
    return ConnectError(
        Code.UNAVAILABLE, "HTTP/2 connection unusable: a write to it was interrupted"
    )


def _no_backlog() -> bool:
    return False


class ConnectionBusy(Exception):
    """The connection cannot take another stream now; use another one."""


def _copy_error(error: ConnectError) -> ConnectError:
    """A fresh exception for one raise (errors may be shared by many streams)."""
    copy = ConnectError(error.code, error.message)
    copy.__cause__ = error.__cause__
    return copy


class AsyncHTTP2Connection:
    """One HTTP/2 connection over an httpcore network stream.

    ``stream_window`` is each stream's receive window and
    ``connection_window`` the connection's; both are credited as the
    application consumes data. ``keepalive_expiry`` is how long an idle
    connection is kept.
    """

    def __init__(
        self,
        network_stream: Any,
        *,
        keepalive_expiry: float | None = None,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        connection_window: int = DEFAULT_CONNECTION_WINDOW,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self._net = network_stream
        self._io = direct_stream(network_stream)
        self._sock = network_stream.get_extra_info("socket")
        # A plain TCP socket (not asyncio's transport socket, not under TLS)
        # takes writes that must not wait directly, as much as fits.
        plain = network_stream.get_extra_info("ssl_object") is None
        self._raw = self._sock if plain and isinstance(self._sock, socket.socket) else None
        self._state = H2State(
            stream_window=stream_window,
            connection_window=connection_window,
            max_frame_size=max_frame_size,
        )
        self._lock = StateLock()
        self._reading = False
        self._reader: H2Stream | None = None
        self._waiting: dict[Any, None] = {}
        self._writing = False
        #: The stream of the call that is writing (``None``: no call's).
        self._writer: H2Stream | None = None
        self._write_waiters: list[Any] = []
        # Bytes taken from the protocol state for writing, and written, so far.
        self._taken = 0
        self._written = 0
        #: Batches written so far (progress, for callers waiting for a writer).
        self._batches = 0
        #: After a write was cut short: how many bytes at the end of its
        #: batch did not reach the network (-1: unknown), and whether it was
        #: waiting for the peer then.
        self._unsent = -1
        self._blocked = False
        #: Whether output of earlier writes waits in the network stream (the
        #: ciphertext of a cut-short TLS write, asyncio's transport buffer).
        self._backlog: Callable[[], bool] = getattr(self._io, "backlog", _no_backlog)
        #: The PING whose ACK shows that the peer reads again (see _cut_short),
        #: and whether a task waits for it.
        self._ping_target = 0
        self._checking = False
        #: A background writer is sending what closing streams and cut-short
        #: writes left behind.
        self._leftover_writer = False
        self._closed = False
        self._keepalive_expiry = keepalive_expiry
        self._idle_since = current_time()
        interrupt = getattr(network_stream, "interrupt", None)
        self._interrupt_read: Callable[[], None] | None = interrupt

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
        marker = H2Stream(0)
        marker.life_seen = state.signs_of_life
        with scope.step():
            await self._wait(marker, lambda: state.settings_received or not self.is_usable(), scope)

    def is_idle(self) -> bool:
        """Whether no stream is open."""
        return not self._state.streams

    def has_expired(self) -> bool:
        """Whether an idle connection outlived its keep-alive time."""
        if self._state.streams:
            return False
        if not self.is_usable():
            return True
        expiry = self._keepalive_expiry
        return expiry is not None and current_time() - self._idle_since > expiry

    async def refresh(self) -> None:
        """Process input that arrived while no stream was open (GOAWAY, EOF, PING)."""
        if self._reading or self._state.streams or not socket_is_readable(self._sock):
            return
        with self._lock:
            # Decided under the lock: another thread may have become the
            # reader meanwhile (a stream opened, or the peer check after a
            # cut-short write); two readers would split the input.
            if self._reading or self._state.streams:
                return
            self._reading = True
        try:
            await self._read(_IDLE_SCOPE)
        finally:
            with self._lock:
                self._reading = False
                self._handoff()

    @property
    def num_streams(self) -> int:
        """Streams open on this connection."""
        return len(self._state.streams)

    async def aclose(self) -> None:
        """Close the connection; open streams fail with ``UNAVAILABLE``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state.fail(ConnectError(Code.UNAVAILABLE, "connection closed"))
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

    async def open_stream(
        self,
        method: bytes,
        scheme: bytes,
        authority: bytes,
        target: bytes,
        headers: RawHeaders,
        scope: CallScope,
        body: bytes | None = None,
    ) -> AsyncHTTP2Stream:
        """Send a request's headers and return its stream.

        With ``body`` (bytes) the request is sent whole and finished; without,
        send the body with :meth:`AsyncHTTP2Stream.send` and finish it with
        :meth:`AsyncHTTP2Stream.end_request`. Raises :class:`ConnectionBusy`
        when the connection cannot take another stream.
        """
        state = self._state
        h2_headers = H2State.request_headers(method, scheme, authority, target, headers)
        with self._lock:
            if self._closed or not state.can_open():
                raise ConnectionBusy
            state.reset_abandoned()
            stream = state.open_stream(h2_headers, end_stream=body is not None and not body)
            rest = self._send_now(stream, memoryview(body), True) if body else None
        handle = AsyncHTTP2Stream(self, stream)
        scope.set_abort(lambda: self._interrupt(stream))
        try:
            await self._flush(stream, scope)
            if rest is not None and len(rest):
                await handle._send_rest(rest, True, scope)
        except BaseException:
            await handle.aclose()
            raise
        return handle

    def _send_now(self, stream: H2Stream, data: memoryview, end: bool) -> memoryview:
        """Queue as much of ``data`` as the send window allows, up to about
        ``_WRITE_PIECE`` bytes (a batch written before the next is framed);
        the rest is returned."""
        state = self._state
        size = len(data)
        limit = size if size <= _WRITE_PIECE else _WRITE_PIECE
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

    def _interrupt(self, stream: H2Stream) -> None:
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

    def _abandon(self, stream: H2Stream) -> None:
        """A handle was garbage-collected unclosed: reset its stream soon."""
        self._state.abandoned.append(stream.stream_id)

    # -- waiting and reading ------------------------------------------------------

    def _wake(self, changed: set[H2Stream] | None) -> None:
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

    async def _wait(self, stream: H2Stream, ready: Callable[[], bool], scope: CallScope) -> None:
        """Return once ``ready()``, reading the network if nobody else is."""
        reader = False
        reads = 0
        try:
            while True:
                with self._lock:
                    if ready():
                        if not reader:
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
                if self._deadline_passed(scope) and stream.life_seen == self._state.signs_of_life:
                    # Nothing arrived since the stream opened: the peer
                    # looks dead. New calls go to a new connection.
                    self._state.retired = True
            raise
        finally:
            if reader:
                with self._lock:
                    self._reading = False
                    self._reader = None
                    self._handoff()

    @staticmethod
    def _deadline_passed(scope: CallScope) -> bool:
        deadline = scope.deadline
        return deadline is not None and current_time() >= deadline

    async def _read(self, scope: CallScope) -> None:
        """One network read, dispatched to the streams (the reader's job).

        Replies the frames call for (PING and SETTINGS ACKs, window updates)
        are written by the reader, under its call's deadline; an idle
        connection's replies must go out at once, or the connection is given
        up (its peer is not reading).
        """
        try:
            data = await self._io.read(_READ_SIZE)
        except InterruptedError:
            scope.check()
            return
        except TRANSPORT_ERRORS as exc:
            await self._fail(transport_error(exc))
            return
        state = self._state
        with self._lock:
            if not data:
                state.fail(state.connection_lost())
                self._wake(None)
            else:
                self._wake(state.receive_data(data))
            failed = state.error is not None
            if failed and not self._writing and state.has_output():
                # The GOAWAY of a protocol error (best effort: the
                # connection is closed next either way).
                self._write_nowait()
            pending = not failed and state.has_output()
            if pending and scope is _IDLE_SCOPE:
                # Idle: nobody waits for these replies. They go out now if the
                # network takes them at once; else (a peer that stopped
                # reading, or TLS, which cannot write without waiting) the
                # background writer sends them within its budget and the
                # connection is retired: new calls go to a new connection,
                # and a stream another thread opened meanwhile may finish.
                pending = False
                if not self._writing and not self._write_nowait():
                    state.retired = True
                    self._start_leftover_writer()
        if pending:
            await self._flush(self._reader, scope)
        if failed:
            await self.aclose()

    async def _fail(self, error: ConnectError) -> None:
        with self._lock:
            self._state.fail(error)
            self._wake(None)
        await self.aclose()

    # -- writing ------------------------------------------------------------------

    async def _flush(self, stream: H2Stream | None, scope: CallScope) -> None:
        """Write what is queued in the protocol state, up to this caller's frames.

        One writer at a time writes one batch (everything queued when it
        started). Callers whose frames a batch carried return once it is
        written; the others take the writer role in turn, so no task ends up
        writing for everyone else indefinitely. ``stream`` is the caller's
        (``None``: no call's); waiting and writing end with ``scope``.
        """
        state = self._state
        with self._lock:
            state.reset_abandoned()
            ticket = self._taken + state.output_size()
        while True:
            with self._lock:
                if ticket <= self._written or state.error is not None:
                    return
                if not self._writing:
                    data = state.data_to_send()
                    self._taken += len(data)
                    end = self._taken
                    if not data:
                        return
                    self._writing = True
                    self._writer = stream
                    break
                event = Event()
                self._write_waiters.append(event)
                if stream is not None:
                    stream.waiters.append(event)
                batches = self._batches
            await self._await_writer(event, stream, scope, batches)
        try:
            if len(data) > _WRITE_PIECE or not write_nowait(self._io, data):
                await self._write(data, scope)
        except BaseException as exc:
            failed = isinstance(exc, TRANSPORT_ERRORS)
            unsent = -1 if failed else self._unsent
            with self._lock:
                self._writing = False
                self._writer = None
                if unsent >= 0:
                    # Cut short (deadline, cancel), and how far it got is
                    # known: the framing is intact, the rest goes out first.
                    self._cut_short(data, unsent)
                    error = None
                else:
                    # Failed, or cut short with its progress unknown: so is
                    # the framing of everything after it.
                    error = transport_error(exc) if failed else _interrupted_write()
                    state.fail(error)
                    self._wake(None)
                self._wake_writers()
            if error is None:
                raise
            await self.aclose()
            if failed:
                raise _copy_error(error) from exc
            raise
        with self._lock:
            self._written = end
            self._batches += 1
            self._writing = False
            self._writer = None
            self._wake_writers()

    async def _write(self, data: bytes, scope: CallScope) -> None:
        """Write ``data`` as the network takes it, in pieces, under ``scope``.

        Cut short, it leaves in ``_unsent`` how many bytes at the end of
        ``data`` did not reach the network (-1: the network stream cannot
        tell), and in ``_blocked`` whether it was waiting for the peer to
        take more (back-pressure) when it was cut short.
        """
        io = self._io
        size = len(data)
        done = 0  # bytes before the piece being written
        piece = 0  # size of the piece in io.write (0: none)
        try:
            with scope.step():
                if size <= _WRITE_PIECE:
                    piece = size
                    await io.write(data, self._time_left(scope))
                    return
                for start in range(0, size, _WRITE_PIECE):
                    done = start
                    chunk = data[start : start + _WRITE_PIECE]
                    if not write_nowait(io, chunk):
                        piece = len(chunk)
                        await io.write(chunk, self._time_left(scope))
                        piece = 0
        except BaseException:
            if piece:
                unsent: int = getattr(io, "unsent", -1)
                self._unsent = -1 if unsent < 0 else size - done - piece + unsent
                # Cut short while waiting for the peer to take more?
                self._blocked = unsent > 0 or self._backlog()
            else:
                self._unsent = size - done
                self._blocked = False
            raise

    def _cut_short(self, data: bytes, unsent: int) -> None:
        """A batch was cut short with its last ``unsent`` bytes not handed to
        the network: they go back to the head of the output, to be sent
        before any other frame, at once if the network takes them, else by
        the background writer. Locked; the writer role is free.

        If the write was waiting for the peer to take more when it was cut
        short (or the rest does not go out at once), the peer may have
        stopped reading: the connection is retired (new calls go to a new
        one) and a PING follows the rest; its ACK must come back within
        ``_LEFTOVER_BUDGET``, else the connection is given up.
        """
        state = self._state
        if unsent:
            state.unsend(data[len(data) - unsent :])
            self._taken -= unsent
        if unsent < len(data):
            self._batches += 1  # progress, for callers waiting for a writer
        self._written = self._taken
        if self._closed or state.error is not None:
            return
        if not self._blocked and self._write_nowait(len(data)) and not self._backlog():
            return
        state.retired = True
        self._ping_target = state.ping()
        if not self._checking:
            self._checking = True
            Background(self._check_peer)
        self._start_leftover_writer()

    async def _check_peer(self) -> None:
        """Wait for the ACK of the PING :meth:`_cut_short` sent, within the
        budget; without it, the connection is given up (its peer stopped
        reading)."""
        scope = CallScope(current_time() + _LEFTOVER_BUDGET, cancellable=False)
        state = self._state
        marker = H2Stream(0)
        marker.life_seen = state.signs_of_life

        def ready() -> bool:
            return state.pings_acked >= self._ping_target or self._closed or state.error is not None

        try:
            with scope.step():
                await self._wait(marker, ready, scope)
        except BaseException:
            await self._fail(
                ConnectError(
                    Code.UNAVAILABLE,
                    "HTTP/2 connection given up: its peer does not read what was written to it",
                )
            )
            raise
        finally:
            with self._lock:
                self._checking = False
            scope.close()

    @staticmethod
    def _time_left(scope: CallScope) -> float | None:
        """The time a sync write may block (async writes end with their cancel scope)."""
        deadline = scope.deadline
        return None if deadline is None else max(0.0, deadline - current_time())

    async def _await_writer(
        self, event: Any, stream: H2Stream | None, scope: CallScope, batches: int
    ) -> None:
        """Wait for the writer to finish its batch (then try to take its role)."""
        try:
            with scope.step():
                await event.wait()
                scope.check()
        except BaseException:
            with self._lock:
                if event in self._write_waiters:
                    self._write_waiters.remove(event)
                if stream is not None and event in stream.waiters:
                    stream.waiters.remove(event)
                if self._writing and self._batches == batches and self._deadline_passed(scope):
                    # The writer made no progress through this call's deadline:
                    # the output is stuck. New calls go to a new connection.
                    self._state.retired = True
            raise

    def _wake_writers(self) -> None:
        waiters = self._write_waiters
        if waiters:
            for event in waiters:
                event.set()
            waiters.clear()

    def _write_nowait(self, limit: int = _NOWAIT_MAX) -> bool:
        """Write what is queued without waiting, as far as the network takes it
        at once (if it is ``limit`` bytes at most); whether all of it went.
        Locked; no writer may be active."""
        state = self._state
        state.reset_abandoned()
        data = state.data_to_send()
        if not data:
            return True
        sent = 0
        if len(data) <= limit:
            try:
                if write_nowait(self._io, data):
                    sent = len(data)
                elif self._raw is not None:
                    sent = self._raw.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except TRANSPORT_ERRORS as exc:
                state.fail(transport_error(exc))
                self._wake(None)
                return True
        self._taken += sent
        self._written += sent
        if sent < len(data):
            state.unsend(data[sent:])
            return False
        return True

    def _write_soon(self) -> None:
        """Get what is queued (a reset) on its way without waiting for the
        network: at once if it takes it, else by a background writer. Locked."""
        state = self._state
        if self._closed or state.error is not None or not state.has_output():
            return
        if self._leftover_writer:
            return  # it writes everything queued before it stops
        if not self._writing and self._write_nowait():
            return
        self._start_leftover_writer()

    def _start_leftover_writer(self) -> None:
        """Start the background writer unless it runs. Locked."""
        if not self._leftover_writer:
            self._leftover_writer = True
            Background(self._write_leftovers)

    async def _write_leftovers(self) -> None:
        """The background writer: what closing streams queued and what
        cut-short writes left behind, within a time budget (past it, the
        connection is given up)."""
        scope = CallScope(current_time() + _LEFTOVER_BUDGET, cancellable=False)
        try:
            while True:
                with self._lock:
                    state = self._state
                    if self._closed or state.error is not None or not state.has_output():
                        # Decided under the lock: a reset queued after this
                        # starts a new writer.
                        self._leftover_writer = False
                        return
                await self._flush(None, scope)
        except BaseException:
            # Past its budget, or the network failed (nobody waits for this
            # writer): the connection is given up.
            with self._lock:
                self._leftover_writer = False
            await self._fail(
                ConnectError(
                    Code.UNAVAILABLE,
                    "HTTP/2 connection given up: its peer does not take what was written to it",
                )
            )
            raise
        finally:
            scope.close()

    def _stream_closed(self) -> None:
        if not self._state.streams:
            self._idle_since = current_time()


class AsyncHTTP2Stream:
    """One request/response exchange on an HTTP/2 connection.

    It is also the response: ``status`` and ``headers`` are set by
    :meth:`receive_response`, the body is read with :meth:`receive` and
    ``trailers`` are set once it ended. The request body may be sent with
    :meth:`send` while the response is read (full duplex). :meth:`aclose`
    resets the stream unless it completed.
    """

    __slots__ = (
        "_conn",
        "_finished",
        "_release",
        "_stream",
        "headers",
        "status",
        "trailers",
    )

    http_version = "HTTP/2"
    full_duplex = True

    def __init__(self, conn: AsyncHTTP2Connection, stream: H2Stream) -> None:
        self._conn = conn
        self._stream = stream
        self._finished = False
        self._release: Callable[[], Any] | None = None
        self.status = 0
        self.headers: RawHeaders = []
        self.trailers: RawHeaders = []

    def __del__(self) -> None:
        if not self._finished:
            self._finished = True
            self._conn._abandon(self._stream)

    @property
    def stream_id(self) -> int:
        """The HTTP/2 stream id."""
        return self._stream.stream_id

    @property
    def refused(self) -> bool:
        """Whether the server refused the stream unprocessed (safe to retry)."""
        return self._stream.refused

    @property
    def request_open(self) -> bool:
        """Whether request body may still be sent."""
        stream = self._stream
        return not (stream.send_closed or stream.closed or stream.ended)

    def set_release(self, release: Callable[[], Any]) -> None:
        """Call ``release`` once the stream is closed (the pool's hook)."""
        self._release = release

    def _error(self) -> ConnectError:
        error = self._stream.error
        if error is None:
            return ConnectError(Code.CANCELED, "stream was reset")
        return _copy_error(error)

    # -- sending ------------------------------------------------------------------

    async def send(self, data: bytes, scope: CallScope, end: bool = False) -> None:
        """Send request body bytes as the peer's flow control allows.

        Once the server finished the exchange (it answered completely), the
        data is dropped; if the stream failed, its error is raised.
        """
        conn = self._conn
        stream = self._stream
        with conn._lock:
            if stream.error is not None:
                raise self._error()
            if not self.request_open:
                return
            rest = conn._send_now(stream, memoryview(data), end)
            if end and not data:
                conn._state.end_stream(stream)
        await conn._flush(stream, scope)
        if len(rest):
            await self._send_rest(rest, end, scope)

    async def _send_rest(self, rest: memoryview, end: bool, scope: CallScope) -> None:
        conn = self._conn
        state = conn._state
        stream = self._stream

        def ready() -> bool:
            return stream.closed or stream.ended or state.send_window(stream) > 0

        while len(rest):
            with scope.step():
                await conn._wait(stream, ready, scope)
            with conn._lock:
                if stream.error is not None:
                    raise self._error()
                if not self.request_open:
                    return
                rest = conn._send_now(stream, rest, end)
            await conn._flush(stream, scope)

    async def end_request(self, scope: CallScope) -> None:
        """Finish the request body."""
        conn = self._conn
        stream = self._stream
        with conn._lock:
            if stream.error is not None:
                raise self._error()
            if not self.request_open:
                return
            conn._state.end_stream(stream)
        await conn._flush(stream, scope)

    # -- receiving ----------------------------------------------------------------

    async def receive_response(self, scope: CallScope) -> AsyncHTTP2Stream:
        """Wait for the response headers (sets ``status`` and ``headers``)."""
        stream = self._stream
        if stream.headers is None and not stream.done:
            with scope.step():
                await self._conn._wait(
                    stream, lambda: stream.headers is not None or stream.done, scope
                )
        if stream.headers is None:
            raise self._error()
        self.status = stream.status
        self.headers = [(k, v) for k, v in stream.headers if not k.startswith(b":")]
        return self

    async def receive(self, scope: CallScope) -> bytes:
        """The next part of the response body; ``b""`` once it ended."""
        stream = self._stream
        if not stream.buffered and not stream.done:
            with scope.step():
                await self._conn._wait(stream, lambda: bool(stream.buffered) or stream.done, scope)
        conn = self._conn
        if stream.buffered:
            with conn._lock:
                data = conn._state.consume(stream)
                pending = conn._state.has_output()
            if pending:
                await conn._flush(stream, scope)
            return data
        if stream.error is not None or not stream.ended:
            error = self._error()
            await self.aclose()
            raise error
        self.trailers = stream.trailers
        await self.aclose()
        return b""

    # -- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the stream, resetting it unless it completed.

        The reset is sent without waiting for the network (see the module
        docstring): closing never blocks.
        """
        if self._finished:
            return
        self._finished = True
        conn = self._conn
        with conn._lock:
            conn._state.reset(self._stream)
            # Another task (or thread) may be waiting on this stream.
            conn._wake({self._stream})
            conn._write_soon()
        conn._stream_closed()
        release = self._release
        if release is not None:
            # The pool's bookkeeping (and closing a connection) never blocks.
            with shield():
                await release()
