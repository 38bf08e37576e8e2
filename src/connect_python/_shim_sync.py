"""Concurrency primitives for the sync runtime (threads and ``time``).

The twin of ``_shim_async``: same names, same meaning, no event loop. A sync
call is interrupted (deadline or :meth:`CallScope.cancel` from another thread)
by the transport's abort hook, which shuts the call's socket down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._code import Code
from ._errors import ConnectError
from ._protocol import local_deadline_error
from ._sync_net import SyncBackend

__all__ = [
    "Background",
    "CallScope",
    "Event",
    "Lock",
    "Semaphore",
    "StateLock",
    "SyncBackend",
    "Turns",
    "current_deadline",
    "current_time",
    "direct_stream",
    "get_cancelled_exc_class",
    "run_detached",
    "shield",
    "sleep",
    "write_nowait",
]


Lock = threading.Lock
Event = threading.Event
Semaphore = threading.Semaphore
sleep = time.sleep
current_time = time.monotonic
StateLock = threading.Lock


class Background:
    """Runs ``fn(*args)`` in a daemon thread, for work that must go on while
    the caller waits on something else, such as sending a request stream
    during a full-duplex call.

    The function's exception is kept in :attr:`error`. :meth:`cancel` only
    marks it cancelled (a thread cannot be interrupted): the function stops at
    its next check of what it works on. :meth:`wait` waits for it to finish.
    """

    __slots__ = ("_done", "cancelled", "error")

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None
        self.cancelled = False
        thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        thread.start()

    def _run(self, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # detached: nobody else would see it
            self.error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        """Mark the function cancelled (it cannot be interrupted)."""
        self.cancelled = True

    @property
    def done(self) -> bool:
        """Whether the function finished."""
        return self._done.is_set()

    def wait(self) -> None:
        """Wait until the function finished."""
        self._done.wait()


class _NeverRaised(BaseException):
    """Sync code has no cancellation exception; this one is never raised."""


def get_cancelled_exc_class() -> type[BaseException]:
    """The class of the cancellation exception (none exists in sync code)."""
    return _NeverRaised


class Turns:
    """The twin of the async ``Turns`` (fairness between the tasks of an
    event loop): a thread has no event loop to share, so no turn is ever due."""

    __slots__ = ("check_at",)

    def __init__(self) -> None:
        self.check_at = float("inf")

    def due(self) -> bool:
        """Never."""
        return False

    def take(self) -> None:
        """Nothing to do."""


def run_detached(fn: Callable[..., object], *args: object) -> bool:
    """Run ``fn(*args)`` in a daemon thread, detached from the caller (its
    exceptions are dropped). Safe from a finalizer: the finalizer never waits
    for a lock the interrupted code may hold. Always ``True``."""

    def run() -> None:
        try:
            fn(*args)
        except Exception:  # detached: nobody would see it
            pass

    threading.Thread(target=run, daemon=True).start()
    return True


def current_deadline() -> float | None:
    """Sync code has no enclosing cancel scopes."""
    return None


class CallScope:
    """Deadline and explicit cancellation of one sync call.

    :meth:`cancel` may be called from any thread. A timer thread is armed only
    when the call has a deadline; both paths call the abort hook the transport
    registered, which unblocks a read or write in progress.
    """

    __slots__ = ("_abort", "_lock", "_timer", "cancellable", "cancelled", "deadline", "expired")

    def __init__(self, deadline: float | None, cancellable: bool = True) -> None:
        self.deadline = deadline
        self.cancellable = cancellable
        self.cancelled = False
        self.expired = False
        self._abort: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if deadline is not None:
            delay = deadline - time.monotonic()
            if delay <= 0:
                self.expired = True
            else:
                timer = threading.Timer(delay, self._on_deadline)
                timer.daemon = True
                timer.start()
                self._timer = timer

    def set_abort(self, abort: Callable[[], None] | None) -> None:
        """Register the hook that interrupts the call's I/O (or clear it)."""
        with self._lock:
            self._abort = abort
            fire = abort is not None and (self.cancelled or self.expired)
        if fire and abort is not None:
            abort()

    def _fire(self) -> None:
        with self._lock:
            abort = self._abort
        if abort is not None:
            abort()

    def _on_deadline(self) -> None:
        self.expired = True
        self._fire()

    def cancel(self) -> None:
        """Cancel the call from any thread."""
        self.cancelled = True
        self._fire()

    def check(self) -> None:
        """Raise if the call was cancelled or its deadline passed."""
        if self.cancelled:
            raise ConnectError(Code.CANCELED, "call canceled")
        if self.expired or (self.deadline is not None and time.monotonic() >= self.deadline):
            self.expired = True
            raise ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded")

    def remote_error(self, error: ConnectError) -> ConnectError:
        """``error`` as the caller should see it (see ``_protocol.local_deadline_error``)."""
        if self.deadline is None:
            return error
        return local_deadline_error(error, self.deadline, time.monotonic())

    def step(self) -> _Step | contextlib.nullcontext[None]:
        """A context for one I/O step of the call."""
        return _Step(self)

    def close(self) -> None:
        """Stop the deadline timer and forget the abort hook: a timer already
        firing must not abort a connection the pool handed to another call."""
        with self._lock:
            self._abort = None
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()


class _Step:
    __slots__ = ("_scope",)

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope

    def __enter__(self) -> None:
        self._scope.check()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scope = self._scope
        if not isinstance(exc, Exception) or (isinstance(exc, ConnectError) and exc.remote):
            return
        # A local failure while the call was being cancelled or timing out: the
        # abort hook caused it, so report the cancellation or the deadline.
        if scope.cancelled:
            raise ConnectError(Code.CANCELED, "call canceled") from exc
        if scope.expired or (scope.deadline is not None and time.monotonic() >= scope.deadline):
            scope.expired = True
            raise ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded") from exc


def shield() -> contextlib.nullcontext[None]:
    """Sync cleanup cannot be cancelled: a no-op context."""
    return contextlib.nullcontext()


def direct_stream(network_stream: Any) -> Any:
    """The sync network streams are already direct: ``network_stream`` itself."""
    return network_stream


def write_nowait(stream: Any, data: bytes) -> bool:
    """Sync writes simply block: always ``False`` (use ``write()``)."""
    return False
