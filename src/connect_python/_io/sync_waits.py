"""Waits of the sync runtime that end at the current call's deadline and on its
cancellation: the sync flavour's cancel scopes.

A wait inside a call's step (see ``shim_sync.CallScope``) ends at the call's
deadline and when the call is cancelled from another thread: it raises
:class:`Interrupted`, which the step turns into ``DEADLINE_EXCEEDED`` or
``CANCELED``. The deadline is the wait's own timeout (no timer threads);
cancellation wakes the waiting thread through a wake fd of that thread
(:func:`wait_socket`) or by setting the awaited event (:func:`wait_event`).
The same wake fd ends a socket wait that another thread interrupts
(:class:`InterruptFlag`, a connection's shared reader).
``sync_net`` waits for its sockets (reads, writes, connecting, name
resolution, the TLS handshake) this way.

Waits use ``select.poll`` (``select.select`` where ``poll`` does not exist),
with a poll set kept per thread.
"""

from __future__ import annotations

import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "READABLE",
    "READY",
    "TIMEOUT",
    "WOKEN",
    "WRITABLE",
    "InterruptFlag",
    "Interrupted",
    "ScopedEvent",
    "current_scope",
    "remaining",
    "set_current_scope",
    "thread_state",
    "wait_event",
    "wait_socket",
]

_HAS_POLL = hasattr(select, "poll")
_POLLIN = getattr(select, "POLLIN", 1)
_POLLOUT = getattr(select, "POLLOUT", 4)
#: What a socket wait ended with: ready, timed out, ended by its :class:`InterruptFlag`.
READY, TIMEOUT, WOKEN = 1, 0, -1
#: What a socket wait waits for (``wait_socket``'s ``events``).
READABLE, WRITABLE = _POLLIN, _POLLOUT


class Interrupted(BaseException):
    """A wait ended by its call's deadline or cancellation.

    The sync flavour's cancellation exception: the call's step turns it into
    ``ConnectError(DEADLINE_EXCEEDED)`` or ``ConnectError(CANCELED)``. Like
    async cancellation, it is a ``BaseException`` so that ``except Exception``
    does not swallow it on its way out.
    """

    def __init__(self, scope: Any) -> None:
        super().__init__("call interrupted")
        self.scope = scope


class _Local(threading.local):
    #: The call scope whose step this thread is in (``None``: no deadline, no cancel).
    scope: Any = None
    #: This thread's wake fd (made on its first interruptible socket wait).
    waker: _Waker | None = None


_local = _Local()
#: This thread's state (its current call scope: ``thread_state.scope``), for
#: the steps of ``shim_sync``, which switch it twice per step.
thread_state = _local


def current_scope() -> Any:
    """The call scope of the step this thread is in, or ``None``."""
    return _local.scope


def set_current_scope(scope: Any) -> Any:
    """Make ``scope`` this thread's current call scope; returns the previous one."""
    local = _local
    previous = local.scope
    local.scope = scope
    return previous


class _Waker:
    """A thread's wake fd, and the poll set its socket waits use.

    Whatever ends a wait from another thread (a call scope's cancel, a
    connection's :class:`InterruptFlag`) calls it: it writes to the fd, which
    every socket wait of the thread polls besides its socket. Closed when the
    thread ends (its locals go) and the scopes it waited under and the stream
    it read last (until closed) let go of it: no reference cycle, so no
    garbage collection is needed.
    """

    __slots__ = ("_r", "_socks", "_w", "fd", "polls")

    def __init__(self) -> None:
        self._socks: tuple[socket.socket, socket.socket] | None = None
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._r = self._w = fd
        elif os.name == "nt":  # pragma: no cover - select() on Windows takes sockets only
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            self._socks = (a, b)
            self._r, self._w = a.fileno(), b.fileno()
        else:  # pragma: no cover - no eventfd (macOS, BSD)
            self._r, self._w = os.pipe()
            os.set_blocking(self._r, False)
            os.set_blocking(self._w, False)
        self.fd = self._r
        #: The thread's poll set.
        self.polls = _PollSet(self.fd)

    def __call__(self) -> None:
        try:
            if self._socks is not None:  # pragma: no cover
                self._socks[1].send(b"\0")
            elif self._r == self._w:
                os.eventfd_write(self._w, 1)
            else:  # pragma: no cover
                os.write(self._w, b"\0")
        except OSError:  # full (already woken) or closed
            pass

    def drain(self) -> None:
        try:
            if self._socks is not None:  # pragma: no cover
                while self._socks[0].recv(64):
                    pass
            elif self._r == self._w:
                os.eventfd_read(self._r)
            else:  # pragma: no cover
                while os.read(self._r, 64):
                    pass
        except OSError:
            pass

    # ``os.close`` bound here: at interpreter exit the main thread's waker may
    # be collected after this module's globals were cleared.
    def __del__(self, _close: Any = os.close) -> None:
        if self._socks is not None:  # pragma: no cover
            for sock in self._socks:
                sock.close()
            return
        for fd in {self._r, self._w}:
            try:
                _close(fd)
            except OSError:
                pass


class _PollSet:
    """The fds a thread's socket waits poll: its wake fd, and a socket.

    Kept from one wait to the next, so that a thread that waits for the same
    socket again (a stream's next message) changes nothing before it polls;
    only another socket or direction changes the set (:meth:`watch`). A
    closed socket's fd number may come back as another socket's: a
    registration by number then still asks the right question.
    """

    __slots__ = ("_poller", "_wake", "events", "fd", "poll", "woken")

    def __init__(self, wake_fd: int) -> None:
        self._wake = wake_fd
        #: What ``poll`` reports when the wake fd is readable.
        self.woken = (wake_fd, _POLLIN)
        #: The socket polled besides the wake fd, and for what.
        self.fd = -1
        self.events = 0
        #: ``poll(timeout_ms or None)``: the ``(fd, events)`` pairs that are ready.
        self.poll: Callable[[int | None], list[tuple[int, int]]]
        if _HAS_POLL:
            self._poller = select.poll()
            self._poller.register(wake_fd, _POLLIN)
            self.poll = self._poller.poll
        else:  # pragma: no cover - Windows
            self.poll = self._select

    def watch(self, fd: int, events: int) -> None:
        """Poll ``fd`` for ``events`` from now on, instead of the last socket."""
        if fd < 0:
            raise ValueError("the socket is closed")
        if _HAS_POLL:
            if self.fd >= 0 and self.fd != fd:
                self._poller.unregister(self.fd)
            self._poller.register(fd, events)
        self.fd, self.events = fd, events

    def _select(self, timeout_ms: int | None) -> list[tuple[int, int]]:  # pragma: no cover
        fd, wake = self.fd, self._wake
        write = self.events == _POLLOUT
        readable, writable, _ = select.select(
            [wake] if write else [fd, wake],
            [fd] if write else [],
            [],
            None if timeout_ms is None else timeout_ms / 1000,
        )
        return [(r, _POLLIN) for r in readable] + [(w, _POLLOUT) for w in writable]


def _forget_waker() -> None:
    # A forked child must not share its parent's wake fd.
    _local.waker = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_waker)


def remaining(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (never negative), or ``None``."""
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


class InterruptFlag:
    """Ends the socket wait in progress (or the next one) with ``WOKEN``,
    from any thread: the interrupt of a connection's shared reader.

    The flag is set first, then the wake fd of the thread that waited last is
    written; a wait sets itself as that thread first, then checks the flag.
    Either the wait sees the flag or the setter sees its thread.
    """

    __slots__ = ("is_set", "waker")

    def __init__(self) -> None:
        self.is_set = False
        #: The waker of the thread that waited last (``None``: none, or closed).
        self.waker: _Waker | None = None

    def set(self) -> None:
        """Interrupt the wait in progress, or the next one."""
        self.is_set = True
        waker = self.waker
        if waker is not None:
            waker()


def wait_socket(
    sock: socket.socket,
    events: int,
    deadline: float | None,
    interrupt: InterruptFlag | None = None,
) -> int:
    """Wait until ``sock`` is ``READABLE`` or ``WRITABLE`` (``events``): 1
    ready, 0 ``deadline`` passed, -1 ended by ``interrupt`` (which is cleared).

    Inside a call's step the call's deadline and cancellation end the wait
    too: it raises :class:`Interrupted`.
    """
    local = _local
    waker = local.waker
    if waker is None:
        waker = local.waker = _Waker()
    scope = local.scope
    limit = deadline
    # The waker is registered first, then the flags are checked: a cancel or
    # an interrupt either sees the waker or happened before the check. The
    # scope lets go of it when the wait ends: a scope can outlive its call
    # (in a kept error's traceback) and must not keep the thread's fd open.
    if scope is not None:
        scope._waits.add(waker)
        # Set between the waits of the call's thread, never during one
        # (``CallScope.set_timer``).
        scope_deadline = scope.deadline
        if scope_deadline is not None and (limit is None or scope_deadline <= limit):
            limit = scope_deadline
    if interrupt is not None:
        interrupt.waker = waker
    try:
        polls = waker.polls
        fd = sock.fileno()
        while True:
            if interrupt is not None and interrupt.is_set:
                interrupt.is_set = False
                return WOKEN
            if scope is not None and scope.cancelled:
                raise Interrupted(scope)
            if fd != polls.fd or events != polls.events:
                polls.watch(fd, events)
            timeout_ms = None
            if limit is not None:
                timeout = limit - time.monotonic()
                if timeout <= 0:
                    if scope is None or limit is not scope.deadline:
                        return TIMEOUT
                    raise Interrupted(scope)
                # Whole milliseconds, rounded up: a poll that ended early would
                # only be repeated.
                timeout_ms = math.ceil(timeout * 1000)
            try:
                ready = polls.poll(timeout_ms)
            except RuntimeError:
                # A wait inside a wait (a signal handler's, while this thread's
                # poll set polls): a set of its own. The outer wait's poll goes on
                # over the fds it started with, and sets its socket again if it
                # polls once more.
                polls = _PollSet(waker.fd)
                continue
            if ready:
                # The wake fd only ever reports POLLIN: one look, in any order.
                if polls.woken not in ready:
                    return READY
                waker.drain()
    finally:
        if scope is not None:
            scope._waits.discard(waker)


def wait_event(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)`` that, inside a call's step, also ends at the
    call's deadline or cancellation (raising :class:`Interrupted`)."""
    scope = _local.scope
    if scope is None:
        return threading.Event.wait(event, timeout)
    waits = scope._waits
    wake = event.set
    waits.add(wake)
    try:
        if scope.cancelled:
            raise Interrupted(scope)
        scope_deadline = scope.deadline
        limit = None if timeout is None else time.monotonic() + timeout
        own = True
        if scope_deadline is not None and (limit is None or scope_deadline <= limit):
            limit, own = scope_deadline, False
        if limit is None:
            ok = threading.Event.wait(event)
        else:
            ok = threading.Event.wait(event, max(0.0, limit - time.monotonic()))
        if scope.cancelled:
            raise Interrupted(scope)
        if not ok and not own:
            raise Interrupted(scope)
        return ok
    finally:
        waits.discard(wake)


class ScopedEvent(threading.Event):
    """A ``threading.Event`` whose :meth:`wait` ends at the current call's
    deadline or cancellation (see :func:`wait_event`).

    Cancellation wakes the wait by setting the event: use one event per waiter.
    """

    def wait(self, timeout: float | None = None) -> bool:
        return wait_event(self, timeout)
