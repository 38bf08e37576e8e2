"""Concurrency primitives for the sync runtime (threads and ``time``).

The twin of ``shim_async``: same names, same meaning, no event loop. A sync
call's deadline and its cancellation (:meth:`CallScope.cancel`, from any
thread) end the waits of its steps, as a cancel scope ends the awaits of an
async call: the deadline is each wait's timeout and a cancel wakes the waiting
thread (``sync_waits``). No thread or timer is started per call.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._code import Code
from .._errors import ConnectError
from .sync_waits import Interrupted, ScopedEvent, set_current_scope, thread_state

__all__ = [
    "Background",
    "CallScope",
    "Event",
    "Gathering",
    "Lock",
    "StateLock",
    "Turns",
    "current_deadline",
    "current_time",
    "run_detached",
    "shield",
    "sleep",
]


Lock = threading.Lock
#: Its ``wait()`` ends at the current call's deadline or cancellation.
Event = ScopedEvent
current_time = time.monotonic
StateLock = threading.Lock


def sleep(seconds: float) -> None:
    """``time.sleep`` that, inside a call's step, also ends at the call's
    deadline or cancellation (the step then raises), as the async flavour's
    sleep ends with its cancel scope."""
    ScopedEvent().wait(seconds)


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


class Gathering:
    """The twin of the async ``Gathering``: threads write as they come (a
    thread that waited for others to queue would only add latency)."""

    __slots__ = ()

    def due(self, others: bool) -> bool:
        """Never."""
        return False

    @staticmethod
    def take() -> None:
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

    Each I/O step of the call runs inside ``with scope.step():``. While a thread
    is in a step, every wait it makes (socket reads and writes, connecting,
    events; see ``sync_waits``) ends at the deadline (it is the wait's timeout:
    no timer thread) and when :meth:`cancel` is called from any thread (which
    wakes the wait). A step cut short by the deadline raises
    ``DEADLINE_EXCEEDED``, one cut short by :meth:`cancel` raises ``CANCELED``.

    A timer (:meth:`set_timer`: the call's open or idle timeout) ends the steps
    earlier than the call's deadline, with its own error.
    """

    __slots__ = (
        "_abort",
        "_lock",
        "_timer_error",
        "_waits",
        "call_deadline",
        "cancellable",
        "cancelled",
        "deadline",
        "expired",
    )

    def __init__(self, deadline: float | None, cancellable: bool = True) -> None:
        #: When waits end: the call's deadline, or its timer's if earlier.
        self.deadline = deadline
        #: The call's own deadline.
        self.call_deadline = deadline
        self._timer_error: ConnectError | None = None
        #: Whether :meth:`cancel` may be called; without it and without a
        #: deadline, steps need no scope at all.
        self.cancellable = cancellable
        self.cancelled = False
        self.expired = False
        self._abort: Callable[[], None] | None = None
        self._lock = threading.Lock()
        #: Wake functions of the waits in progress under this scope (socket
        #: waits: their thread's waker; event waits: the event's set).
        self._waits: set[Callable[[], None]] = set()

    def set_abort(self, abort: Callable[[], None] | None) -> None:
        """Register a hook :meth:`cancel` also calls (or clear it)."""
        with self._lock:
            self._abort = abort
            fire = abort is not None and self.cancelled
        if fire and abort is not None:
            abort()

    def cancel(self) -> None:
        """Cancel the call from any thread: the waits in progress end, and
        the current and every later step raise ``CANCELED``."""
        # The flag first: a wait registers itself, then checks the flag.
        self.cancelled = True
        for wake in list(self._waits):
            wake()
        with self._lock:
            abort = self._abort
        if abort is not None:
            abort()

    def set_timer(self, when: float | None, error: ConnectError | None = None) -> None:
        """End waits at ``when`` too, raising (a copy of) ``error`` then;
        ``None``: no timer. The call's deadline still applies. Set between
        the waits of the call's thread (a wait in progress keeps its end)."""
        own = self.call_deadline
        if when is None or (own is not None and own <= when):
            self.deadline, self._timer_error = own, None
        else:
            self.deadline, self._timer_error = when, error
        self.expired = False

    def deadline_error(self) -> ConnectError:
        """The error of the deadline that passed: the timer's, or the call's."""
        timer = self._timer_error
        if timer is not None:
            return ConnectError(timer.code, timer.message)
        return ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded")

    def check(self) -> None:
        """Raise if the call was cancelled or its deadline passed."""
        if self.cancelled:
            raise ConnectError(Code.CANCELED, "call canceled")
        if self.expired or (self.deadline is not None and time.monotonic() >= self.deadline):
            self.expired = True
            raise self.deadline_error()

    def step(self) -> CallScope | _Step | contextlib.nullcontext[None]:
        """A context for one I/O step of the call: ``with scope.step():``.

        Steps nest: inside a step of this scope (a whole unary call is one),
        inner steps are free. A call with neither a deadline nor a way to
        cancel it needs no scope either.

        The step starts here, not in ``__enter__`` (``with`` enters it at
        once); a step outside any other is the scope itself, so a stream's
        step per message makes no object.
        """
        state = thread_state
        previous = state.scope
        if previous is self or (not self.cancellable and self.deadline is None):
            return _NULL_STEP
        if self.cancelled or self.expired or self.deadline is not None:
            self.check()
        state.scope = self
        if previous is None:
            return self
        return _Step(self, previous)

    def __enter__(self) -> None:
        """Nothing to do: :meth:`step` started the step."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        thread_state.scope = None
        if exc is not None:
            self._step_failed(exc)

    def _step_failed(self, exc: BaseException) -> None:
        """A step ended with ``exc``: raise the cancellation or the deadline's
        error in its place when that is why it ended."""
        if isinstance(exc, Interrupted):
            if exc.scope is not self:
                return  # an outer scope's: it goes on to that scope's step
        elif not isinstance(exc, Exception) or (isinstance(exc, ConnectError) and exc.remote):
            return
        # The step was interrupted, or failed locally while the call was being
        # cancelled or timing out: report the cancellation or the deadline.
        if self.cancelled:
            raise ConnectError(Code.CANCELED, "call canceled") from exc
        if (
            isinstance(exc, Interrupted)
            or self.expired
            or (self.deadline is not None and time.monotonic() >= self.deadline)
        ):
            self.expired = True
            raise self.deadline_error() from exc

    def close(self) -> None:
        """Forget the abort hook: a late cancel must not touch a connection the
        pool handed to another call."""
        with self._lock:
            self._abort = None


_NULL_STEP: contextlib.nullcontext[None] = contextlib.nullcontext()


class _Step:
    """A step of a scope inside a step of another (the outer scope comes back after)."""

    __slots__ = ("_previous", "_scope")

    def __init__(self, scope: CallScope, previous: Any) -> None:
        self._scope = scope
        self._previous = previous

    def __enter__(self) -> None:
        """Nothing to do: ``CallScope.step`` started the step."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        thread_state.scope = self._previous
        if exc is not None:
            self._scope._step_failed(exc)


class _Shield:
    """Waits inside are not interrupted by the current call's deadline or cancel."""

    __slots__ = ("_previous",)

    def __init__(self) -> None:
        self._previous: Any = None

    def __enter__(self) -> None:
        self._previous = set_current_scope(None)

    def __exit__(self, *exc_info: object) -> None:
        set_current_scope(self._previous)


def shield() -> _Shield:
    """A context that protects cleanup from the call's deadline and cancellation."""
    return _Shield()
