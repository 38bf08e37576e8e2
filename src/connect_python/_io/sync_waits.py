"""Waits of the sync runtime that end at the current call's deadline and on its
cancellation: the sync flavour's cancel scopes.

A wait inside a call's step (see ``shim_sync.CallScope``) ends at the call's
deadline and when the call is cancelled from another thread: it raises
:class:`Interrupted`, which the step turns into ``DEADLINE_EXCEEDED`` or
``CANCELED``. The deadline is the wait's own timeout (no timer threads);
cancellation wakes the waiting thread through a wake fd of that thread
(:func:`wait_socket`) or by setting the awaited event (:func:`wait_event`).
``sync_net`` waits for its sockets (reads, writes, connecting, name
resolution, the TLS handshake) this way.

Waits use ``select.poll`` (``select.select`` where ``poll`` does not exist).
"""

from __future__ import annotations

import math
import os
import select
import socket
import threading
import time
from typing import Any

__all__ = [
    "READY",
    "TIMEOUT",
    "WOKEN",
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
    """A thread's wake fd: a call scope's cancel calls it (it writes to the fd),
    the thread's socket wait polls the fd. Closed when the thread ends (its
    locals go): nothing refers back to it, so no garbage collection is needed.
    A cancel that still holds it keeps the fd open until it is done."""

    __slots__ = ("_r", "_socks", "_w", "fd")

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


def _thread_waker() -> _Waker:
    waker = _local.waker
    if waker is None:
        waker = _local.waker = _Waker()
    return waker


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


#: What a socket wait ended with: ready, timed out, woken through the
#: caller's wake socket (``-2``: through the thread's wake fd, internal).
READY, TIMEOUT, WOKEN, _SCOPE = 1, 0, -1, -2


def _wait(
    sock: socket.socket,
    wake: socket.socket | None,
    write: bool,
    timeout: float | None,
    scope_fd: int = -1,
) -> int:
    """Wait until ``sock`` is ready: 1 ready, 0 timed out, -1 woken through
    ``wake``, -2 woken through ``scope_fd``."""
    if _HAS_POLL:
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        if scope_fd >= 0:
            poller.register(scope_fd, select.POLLIN)
        # Round up to whole milliseconds, but keep a zero timeout a pure check.
        events = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
        if not events:
            return TIMEOUT
        woken = READY
        for fd, _ in events:
            if fd == scope_fd:
                return _SCOPE
            if wake is not None and fd == wake.fileno():
                woken = WOKEN
        return woken
    rlist: list[Any] = [] if write else [sock]
    if wake is not None:
        rlist.append(wake)
    if scope_fd >= 0:
        rlist.append(scope_fd)
    readable, writable, _ = select.select(rlist, [sock] if write else [], [], timeout)
    if scope_fd >= 0 and scope_fd in readable:
        return _SCOPE
    if wake is not None and wake in readable:
        return WOKEN
    return READY if readable or writable else TIMEOUT


def wait_socket(
    sock: socket.socket,
    write: bool,
    deadline: float | None,
    wake: socket.socket | None = None,
) -> int:
    """Wait until ``sock`` is readable (or writable): 1 ready, 0 ``deadline``
    passed, -1 woken through ``wake`` (a connection's interrupt fd).

    Inside a call's step the call's deadline and cancellation end the wait
    too: it raises :class:`Interrupted`.
    """
    scope = _local.scope
    if scope is None:
        return _wait(sock, wake, write, remaining(deadline))
    waker = _thread_waker()
    waits = scope._waits
    waits.add(waker)
    try:
        # Registered first, then checked: a cancel either sees the waker or
        # happened before the check.
        scope_deadline = scope.deadline
        while True:
            if scope.cancelled:
                raise Interrupted(scope)
            limit, own = deadline, True
            if scope_deadline is not None and (limit is None or scope_deadline <= limit):
                limit, own = scope_deadline, False
            timeout = None
            if limit is not None:
                timeout = limit - time.monotonic()
                if timeout <= 0:
                    if own:
                        return TIMEOUT
                    raise Interrupted(scope)
            ready = _wait(sock, wake, write, timeout, waker.fd)
            if ready == _SCOPE:
                waker.drain()
            elif ready != TIMEOUT:
                return ready
    finally:
        waits.discard(waker)


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
