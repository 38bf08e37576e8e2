"""The write path of an HTTP/2 connection (the base of ``_http2``'s
connection class).

Sending is serialized by a writer flag: frames are queued in the protocol state
in call order; a writer takes everything queued so far and writes it as one
batch, callers whose frames that batch carried return, and the next batch is
written by the next caller that still has frames pending. A batch larger than
``WRITE_PIECE`` is handed to the network in pieces, so back-pressure shows
(and a deadline can land) before it all sits in memory.

A write runs under the deadline and cancellation of the call that writes:
nothing blocking is shielded. A write cut short (the writing call's deadline
or cancellation, which is routine) reports how far it got (see
``_io.async_net._DirectStream`` and ``_io.sync_net``): the bytes of its batch
that did not reach the network go back to the head of the output, to be sent
before any other frame by the next writer (or the background writer, if
nobody writes), and the cancelled call's stream is then reset as usual (its
RST_STREAM queued after them). The connection's other streams go on
untouched. If the write was waiting for the peer to take more when it was cut
short, the peer may have stopped reading: the connection is retired (new
calls go to a new one, open streams may finish), and a PING follows what was
left; without its ACK within ``_LEFTOVER_BUDGET`` the connection is given up
(its streams fail with ``UNAVAILABLE``).

Only where the progress of a cut-short write is unknown does the connection
fail at once (its other streams with ``UNAVAILABLE``): on a network stream
that is neither a direct asyncio/trio stream (plain TCP, or TLS through
anyio's ``TLSStream`` over one) nor one of the sync flavour's sockets (an
httpcore stream of another kind, another anyio backend or stream class).

A call's deadline while it waits for another caller's write to make progress
retires the connection too. Closing a stream never waits for the network: its
reset is written at once if the socket takes it, else by the background
writer (or with the next batch).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.h2_state import H2State, H2StreamState
from connect_python._io.async_net import direct_stream, write_nowait
from connect_python._io.errors import TRANSPORT_ERRORS, transport_cause, transport_error
from connect_python._io.shim_async import (
    Background,
    CallScope,
    Event,
    Gathering,
    StateLock,
    current_time,
)

__all__ = ["WRITE_PIECE", "copy_error", "deadline_passed"]

#: The largest piece of a batch handed to the network at once.
WRITE_PIECE = 1024 * 1024
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


def copy_error(error: ConnectError) -> ConnectError:
    """A fresh exception for one raise (errors may be shared by many streams)."""
    copy = ConnectError(error.code, error.message)
    copy.__cause__ = error.__cause__
    return copy


def deadline_passed(scope: CallScope) -> bool:
    """Whether the deadline of ``scope`` has passed."""
    deadline = scope.deadline
    return deadline is not None and current_time() >= deadline


class _AsyncHTTP2Writer:
    """The write path (see the module docstring); ``_http2``'s connection
    class adds the reading, the waiting and the pool interface."""

    # Set by the connection class, shared with the write path.
    _state: H2State
    _lock: StateLock
    _closed: bool

    def __init__(self, network_stream: Any) -> None:
        self._net = network_stream
        self._io = direct_stream(network_stream)
        self._sock = network_stream.get_extra_info("socket")
        # A plain TCP socket (not asyncio's transport socket, not under TLS)
        # takes writes that must not wait directly, as much as fits.
        plain = network_stream.get_extra_info("ssl_object") is None
        self._raw = self._sock if plain and isinstance(self._sock, socket.socket) else None
        self._writing = False
        #: The writer lets other tasks queue their frames before it takes
        #: its batch (see ``Gathering``); callers that queued meanwhile
        #: return at once.
        self._gathering = False
        self._gathering_turns = Gathering()
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

    # -- the connection's (see ``_http2.AsyncHTTP2Connection``) ----------------

    def _wake(self, changed: set[H2StreamState] | None) -> None:
        raise NotImplementedError

    async def _wait(
        self, stream: H2StreamState, ready: Callable[[], bool], scope: CallScope
    ) -> None:
        raise NotImplementedError

    async def _fail(self, error: ConnectError) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    # -- writing ------------------------------------------------------------------

    async def _flush(self, stream: H2StreamState | None, scope: CallScope) -> None:
        """Write what is queued in the protocol state, up to this caller's frames.

        One writer at a time writes one batch (everything queued when it
        started). Callers whose frames a batch carried return once it is
        written; the others take the writer role in turn, so no task ends up
        writing for everyone else indefinitely. ``stream`` is the caller's
        (``None``: no call's); waiting and writing end with ``scope``.
        """
        state = self._state
        ticket = -1
        while True:
            with self._lock:
                if ticket < 0:
                    state.reset_abandoned()
                    ticket = self._taken + state.output_size()
                if ticket <= self._written or state.error is not None:
                    return
                if self._gathering and stream is not None:
                    # The writer has not taken its batch yet: it takes these
                    # frames too. (A caller of no stream, the background
                    # writer, waits for the batch instead of looping.)
                    return
                if not self._writing:
                    if self._gathering_turns.due(len(state.streams) > 1):
                        self._writing = self._gathering = True
                        data = b""
                        break
                    data = state.data_to_send()
                    self._taken += len(data)
                    end = self._taken
                    if not data:
                        return
                    self._writing = True
                    break
                event = Event()
                self._write_waiters.append(event)
                if stream is not None:
                    stream.waiters.append(event)
                batches = self._batches
            await self._await_writer(event, stream, scope, batches)
        if not data:
            taken = await self._gather(scope)
            if taken is None:
                return
            data, end = taken
        try:
            # What the network takes at once needs no step (no wait).
            sent = write_nowait(self._io, data) if len(data) <= WRITE_PIECE else 0
            if sent < len(data):
                if sent:
                    data = data[sent:]  # what a cut-short write counts from
                await self._write(data, scope)
        except BaseException as exc:
            failed = isinstance(exc, TRANSPORT_ERRORS)
            unsent = -1 if failed else self._unsent
            with self._lock:
                self._writing = False
                if unsent >= 0:
                    # Cut short (deadline, cancel), and how far it got is
                    # known: the framing is intact, the rest goes out first.
                    self._cut_short(data, unsent)
                    error = None
                else:
                    # Failed, or cut short with its progress unknown: so is
                    # the framing of everything after it. (Failed because
                    # another thread closed the connection: its error is the
                    # cause, not the closed socket's.)
                    state.fail(transport_error(exc) if failed else _interrupted_write())
                    error = state.error
                    self._wake(None)
                self._wake_writers()
            if error is None:
                raise
            await self.aclose()
            if failed:
                raise copy_error(error) from transport_cause(exc)
            raise
        with self._lock:
            self._written = end
            self._batches += 1
            self._writing = False
            self._wake_writers()

    async def _gather(self, scope: CallScope) -> tuple[bytes, int] | None:
        """As the writer, let the other ready tasks queue their frames, then
        take the batch: its bytes and where it ends (``None``: nothing to
        write, the writer role is given up). Cut short by ``scope``, the
        role is given up and what callers queued meanwhile (they returned,
        counting on this batch) goes out without waiting."""
        try:
            with scope.step():
                await self._gathering_turns.take()
        except BaseException:
            with self._lock:
                self._writing = self._gathering = False
                self._wake_writers()
                self._write_soon()
            raise
        with self._lock:
            self._gathering = False
            state = self._state
            data = state.data_to_send() if state.error is None else b""
            self._taken += len(data)
            if not data:
                self._writing = False
                self._wake_writers()
                return None
            return data, self._taken

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
                if size <= WRITE_PIECE:
                    piece = size
                    await io.write(data, self._time_left(scope))
                    return
                for start in range(0, size, WRITE_PIECE):
                    done = start
                    chunk = data[start : start + WRITE_PIECE]
                    sent = write_nowait(io, chunk)
                    if sent < len(chunk):
                        done += sent
                        chunk = chunk[sent:]
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
        marker = H2StreamState(0)
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
        self, event: Any, stream: H2StreamState | None, scope: CallScope, batches: int
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
                if self._writing and self._batches == batches and deadline_passed(scope):
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
                sent = write_nowait(self._io, data)
                if not sent and self._raw is not None:
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
