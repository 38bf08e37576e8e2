"""Concurrency primitives for the async runtime (anyio: asyncio and trio).

This module and ``shim_sync`` are a hand-written pair: the unasync transform
maps ``shim_async`` to ``shim_sync``, so both must offer the same names with
the same meaning. (The network streams are the other pair: ``async_net`` and
``sync_net``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import sniffio

from .._code import Code
from .._errors import ConnectError

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


Lock = anyio.Lock
Event = anyio.Event
sleep = anyio.sleep
current_time = anyio.current_time


class _CancelScope(Protocol):
    """What this module uses of a cancel scope (anyio's, or trio's own)."""

    deadline: float

    @property
    def cancel_called(self) -> bool: ...

    @property
    def cancelled_caught(self) -> bool: ...

    def cancel(self) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


def _cancel_scope(deadline: float = math.inf, shield: bool = False) -> _CancelScope:
    """A cancel scope: on trio its own (anyio's is a wrapper around it that
    about doubles the cost of a call's step), elsewhere anyio's."""
    if sniffio.current_async_library() == "trio":
        scope: _CancelScope = sys.modules["trio"].CancelScope(deadline=deadline, shield=shield)
        return scope
    return anyio.CancelScope(deadline=deadline, shield=shield)


class StateLock:
    """Guards state shared with other threads.

    Async code runs on one event loop thread and never awaits while holding
    it, so in this flavour entering it does nothing.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_BACKGROUND: set[object] = set()


class Background:
    """Runs ``await fn(*args)`` detached from the caller (an asyncio task or a
    trio system task), for work that must go on while the caller waits on
    something else, such as sending a request stream during a full-duplex call.

    The function's exception (or cancellation) is kept in :attr:`error`;
    :meth:`cancel` cancels it and :meth:`wait` waits for it to finish.
    """

    __slots__ = ("_done", "_scope", "error")

    def __init__(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        self._done = anyio.Event()
        self._scope = _cancel_scope()
        self.error: BaseException | None = None
        if sniffio.current_async_library() == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._run, fn, *args)
        else:
            task = asyncio.get_running_loop().create_task(self._run(fn, *args))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    async def _run(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        try:
            with self._scope:
                await fn(*args)
        except BaseException as exc:  # detached: nobody else would see it
            self.error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        """Cancel the function (from the event loop thread)."""
        self._scope.cancel()

    @property
    def done(self) -> bool:
        """Whether the function finished."""
        return self._done.is_set()

    async def wait(self) -> None:
        """Wait until the function finished."""
        await self._done.wait()


_clock = time.perf_counter


def _asyncio_probe() -> Callable[[], bool] | None:
    """On asyncio's own event loop: a test of whether another callback is
    ready to run or a timer (a sleep, a cancel scope's deadline) is due.
    ``None`` on another loop implementation."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    scheduled = getattr(loop, "_scheduled", None)
    if not isinstance(ready, deque) or not isinstance(scheduled, list):
        return None
    loop_time = loop.time

    def probe() -> bool:
        return bool(ready) or (bool(scheduled) and scheduled[0].when() <= loop_time())

    return probe


def _trio_probe() -> Callable[[], bool] | None:
    """On trio: a test of whether another task is ready to run or a
    deadline (a sleep, a cancel scope's) is due. ``None`` where trio's run
    loop is not laid out as expected (its runner's ``runq`` and the heap of
    its ``deadlines``; a stale deadline at the top of that heap only costs a
    turn, which clears it)."""
    run = sys.modules.get("trio._core._run")
    runner = getattr(getattr(run, "GLOBAL_RUN_CONTEXT", None), "runner", None)
    runq = getattr(runner, "runq", None)
    deadlines: Any = getattr(runner, "deadlines", None)
    now = getattr(getattr(runner, "clock", None), "current_time", None)
    heap = getattr(deadlines, "_heap", None)
    if not isinstance(runq, deque) or not isinstance(heap, list) or now is None:
        return None

    def probe() -> bool:
        heap = deadlines._heap  # replaced when trio prunes it
        return bool(runq) or (bool(heap) and heap[0][0] <= now())

    return probe


class Turns:
    """Fairness for a task that runs long without waiting, such as a call
    handing out messages that were received already (no I/O, so no
    scheduling point): :meth:`due` says when to give the other tasks (and
    cancel scopes) a turn, :meth:`take` gives it.

    Cheap enough to ask per message: callers compare ``_clock()`` with
    :attr:`check_at` first and call :meth:`due` only past it. The turn is
    taken once another task is ready or a timer is due (checked every
    50 µs, so a busy task never delays a timer by much more) and at least
    every millisecond (for tasks waiting on I/O, which only the turn's poll
    sees); on an event loop whose ready tasks cannot be seen, every 0.3 ms.
    A turn is a pass of the event loop with a poll of its sockets: on trio
    about 1.5 times asyncio's cost.
    """

    __slots__ = ("_again", "_batches", "_last", "_limit", "_probe", "_step", "check_at")

    def __init__(self) -> None:
        self._last = _clock()
        self._probe: Callable[[], bool] | None = None
        self._step = 0.0
        self._limit = 0.0
        #: trio runs the tasks that one pass of its loop woke as a batch, in
        #: either order, and the probe cannot see that batch: after a turn
        #: taken for a ready task or a due timer, this task may come first
        #: and run on for a whole ``_limit`` before that task. Such a turn
        #: is taken twice.
        self._batches = False
        self._again = False
        #: Before this ``_clock()`` value no turn is due (bound on first use).
        self.check_at = 0.0

    def due(self) -> bool:
        """Whether to take a turn now (call once ``_clock() >= check_at``)."""
        now = _clock()
        if not self._step:
            # Bound on first use, inside the event loop.
            library = sniffio.current_async_library()
            if library == "asyncio":
                self._probe = _asyncio_probe()
            elif library == "trio":
                self._probe = _trio_probe()
                self._batches = True
            if self._probe is not None:
                self._step, self._limit = 0.00005, 0.001
            else:
                self._step = self._limit = 0.0003
        probe = self._probe
        if now - self._last >= self._limit:
            return True
        if probe is not None and probe():
            self._again = self._batches
            return True
        self.check_at = now + self._step
        return False

    async def take(self) -> None:
        """Let the other tasks run (a cancelled scope raises here)."""
        await anyio.lowlevel.checkpoint()
        if self._again:
            # Once more: the tasks of this task's batch run first.
            self._again = False
            await anyio.lowlevel.checkpoint()
        self._last = now = _clock()
        self.check_at = now + self._step


class Gathering:
    """Whether a task about to write should first let the other ready tasks
    run, so that what they queue goes out in the same write.

    Many calls on one connection are often woken together (one network read
    answers them all) and each queues a new request at once. Written one by
    one, each pays a system call (on loopback also the peer's receive path);
    the first writer that lets the others run first writes them all in one.
    On asyncio the turn is taken only when other callbacks are ready; on trio
    (whose current batch of tasks cannot be seen) whenever ``others`` (the
    caller's hint: other streams are open) holds.
    """

    __slots__ = ("_probe",)

    def __init__(self) -> None:
        self._probe: Callable[[], int] | None = None

    def due(self, others: bool) -> bool:
        """Whether to take a turn before writing."""
        if not others:
            return False
        probe = self._probe
        if probe is None:
            # Bound on first use, inside the event loop.
            self._probe = probe = _ready_probe()
        return bool(probe())

    @staticmethod
    async def take() -> None:
        """Let the other ready tasks run (a cancelled scope raises here)."""
        await anyio.lowlevel.checkpoint()


def _ready_probe() -> Callable[[], int]:
    """How many callbacks are ready to run (asyncio's own loop); elsewhere
    a constant 1 (others may be)."""
    if sniffio.current_async_library() == "asyncio":
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if isinstance(ready, deque):
            return ready.__len__
    return _one


def _one() -> int:
    return 1


async def _detached(fn: Callable[..., Awaitable[object]], args: tuple[object, ...]) -> None:
    try:
        await fn(*args)
    except Exception:  # detached: nobody would see it
        pass


def _spawn_detached(fn: Callable[..., Awaitable[object]], args: tuple[object, ...]) -> None:
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            trio.lowlevel.spawn_system_task(_detached, fn, args)
            return
    task = asyncio.get_running_loop().create_task(_detached(fn, args))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def run_detached(fn: Callable[..., Awaitable[object]], *args: object) -> bool:
    """Start ``await fn(*args)`` soon on this thread's event loop, detached
    from the caller (its exceptions are dropped).

    Safe from a finalizer (``__del__``): the task is started by a callback of
    the event loop, not here. ``False`` (nothing started) when no event loop
    runs in this thread.
    """
    try:
        trio = sys.modules.get("trio")
        if trio is not None:
            try:
                token = trio.lowlevel.current_trio_token()
            except RuntimeError:
                pass
            else:
                token.run_sync_soon(_spawn_detached, fn, args)
                return True
        asyncio.get_running_loop().call_soon_threadsafe(_spawn_detached, fn, args)
    except Exception:  # no event loop here, or it is shutting down
        return False
    return True


def current_deadline() -> float | None:
    """The deadline of the enclosing cancel scopes, or ``None``."""
    deadline = anyio.current_effective_deadline()
    return None if deadline == math.inf else deadline


class CallScope:
    """Deadline and explicit cancellation of one call.

    Each I/O step of the call runs inside ``with scope.step():``; a step cut short
    by the deadline raises ``DEADLINE_EXCEEDED`` and one cut short by
    :meth:`cancel` raises ``CANCELED``. Cancellation from outside the call (an
    enclosing task group or scope) is not touched and propagates as usual.

    A timer (:meth:`set_timer`: the call's open or idle timeout) ends the steps
    earlier than the call's deadline, with its own error.
    """

    __slots__ = (
        "_current",
        "_timer_error",
        "call_deadline",
        "cancellable",
        "cancelled",
        "deadline",
    )

    def __init__(self, deadline: float | None, cancellable: bool = True) -> None:
        #: When steps end: the call's deadline, or its timer's if earlier.
        self.deadline = deadline
        #: The call's own deadline.
        self.call_deadline = deadline
        self._timer_error: ConnectError | None = None
        self.cancelled = False
        #: Whether :meth:`cancel` may be called; without it and without a
        #: deadline, steps need no cancel scope at all.
        self.cancellable = cancellable
        self._current: _CancelScope | None = None

    def set_abort(self, abort: object) -> None:
        """Nothing to do here: async steps are interrupted by cancel scopes."""

    def cancel(self) -> None:
        """Cancel the call: the current and every later step raise ``CANCELED``."""
        self.cancelled = True
        if self._current is not None:
            self._current.cancel()

    def set_timer(self, when: float | None, error: ConnectError | None = None) -> None:
        """End steps at ``when`` too, raising (a copy of) ``error`` then;
        ``None``: no timer. The call's deadline still applies."""
        own = self.call_deadline
        if when is None or (own is not None and own <= when):
            self.deadline, self._timer_error = own, None
        else:
            self.deadline, self._timer_error = when, error
        current = self._current
        if current is not None:
            current.deadline = math.inf if self.deadline is None else self.deadline

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
        if self.deadline is not None and anyio.current_time() >= self.deadline:
            raise self.deadline_error()

    def step(self) -> _Step | contextlib.nullcontext[None]:
        """A context for one I/O step of the call.

        Steps nest: inside a step (a whole unary call is one), inner steps are
        free. A call with neither a deadline nor a way to cancel it needs no
        cancel scope either.
        """
        if self._current is not None or (self.deadline is None and not self.cancellable):
            return _NULL_STEP
        return _Step(self)

    def close(self) -> None:
        """Release the scope's resources (none for async)."""


_NULL_STEP: contextlib.nullcontext[None] = contextlib.nullcontext()


class _Step:
    __slots__ = ("_cs", "_scope")

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._cs: _CancelScope | None = None

    def __enter__(self) -> None:
        scope = self._scope
        scope.check()
        cs = _cancel_scope(math.inf if scope.deadline is None else scope.deadline)
        cs.__enter__()
        self._cs = cs
        scope._current = cs

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        cs = self._cs
        assert cs is not None
        scope = self._scope
        scope._current = None
        try:
            suppressed = cs.__exit__(exc_type, exc, tb)
        except BaseException as raised:
            if cs.cancelled_caught:
                raise self._error() from raised
            raise
        if cs.cancelled_caught:
            raise self._error() from exc
        if (
            isinstance(exc, Exception)
            and (cs.cancel_called or scope.cancelled)
            and not isinstance(exc, ConnectError)
        ):
            # The step failed while being cancelled (e.g. a transport error
            # raised during cleanup): report the cancellation instead.
            raise self._error() from exc
        return bool(suppressed)

    def _error(self) -> ConnectError:
        if self._scope.cancelled:
            return ConnectError(Code.CANCELED, "call canceled")
        return self._scope.deadline_error()


def shield() -> _CancelScope:
    """A scope that protects cleanup from cancellation."""
    return _cancel_scope(shield=True)
