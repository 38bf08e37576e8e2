"""Sending a streamed request body (a client stream, a bidi call's request
iterable) over an exchange of either HTTP version: :func:`send_body`.

The task that calls :func:`send_body` steps the request iterator itself, so
the caller's generator only ever runs in its own task context. (Stepping it
anywhere else, or by hand, breaks a generator that waits inside its own
cancel scope: trio's cancel-scope stack is per task.)

The first message is written by that task, as it comes: a request of one
message needs nothing more. From the second message on, writes go through a
sender task (a thread in the sync flavour) fed from a bounded queue. What the
generator produces while a write is in flight accumulates and goes out as one
write (one HTTP/2 DATA frame, one HTTP/1.1 chunk) of about ``BATCH_BYTES``;
a generator that produces faster than that waits for room. A generator that
waits (stdin, a reply to the previous message) lets the sender write what it
has at once, so an interactive stream is not held back.

The sender writes under its own scope with the call's deadline. The call's
cancellation reaches it through the producing task: that task's wait (for
room, for the end) is cut short, and it stops the sender (cancels it and
waits until it ended) before the error goes on, so the call's clean-up (the
stream's reset) follows the sender's last write. An error of the sender
(the stream was reset, the connection failed, the deadline) is raised in the
producing task at its next hand-over, as a direct write would have raised it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._io.shim_async import Background, CallScope, Event, StateLock, shield

from ._exchange import AsyncExchange

__all__ = ["BATCH_BYTES", "send_body"]

#: The size at which a batch of queued messages is written (and the producer
#: waits for room): larger writes gain nothing measurable on loopback, and the
#: queue stays small.
BATCH_BYTES = 64 * 1024


async def send_body(stream: AsyncExchange, body: AsyncIterable[bytes], scope: CallScope) -> None:
    """Send a streamed request body, then finish it (stops early if the
    server already answered). The body iterator is closed in any case.

    ``body`` is stepped by the calling task only; see the module docstring
    for how its messages are batched.
    """
    sender: _AsyncRequestSender | None = None
    first = True
    try:
        async for chunk in body:
            if not stream.request_open:
                break
            if first:
                first = False
                await stream.send(chunk, scope)
                continue
            if sender is None:
                sender = _AsyncRequestSender(stream, scope.deadline)
            queued = sender.put_nowait(chunk)
            if queued is None:
                queued = await sender.wait_room(scope)
            if not queued:
                break
        if sender is None:
            await stream.end_request(scope)
        else:
            await sender.finish(scope)
    except BaseException:
        if sender is not None:
            await sender.stop()
        raise
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            with shield():
                await close()


class _AsyncRequestSender:
    """The sender task of one request stream and the queue that feeds it.

    The producing task calls :meth:`put_nowait` per message (and
    :meth:`wait_room` when it says the queue is full) and :meth:`finish` at
    the end (or :meth:`stop` when it fails); the sender task runs
    :meth:`_run`. Shared state is guarded by ``_lock`` (a real lock in the
    sync flavour, where the sender is a thread).
    """

    __slots__ = (
        "_done",
        "_end",
        "_error",
        "_exchange",
        "_has_room",
        "_has_work",
        "_lock",
        "_queue",
        "_queued",
        "_scope",
        "_stopped",
        "_task",
    )

    def __init__(self, exchange: AsyncExchange, deadline: float | None) -> None:
        self._exchange = exchange
        self._lock = StateLock()
        self._queue: list[bytes] = []
        self._queued = 0
        #: The producer finished the request stream.
        self._end = False
        #: The sender ended (the request is finished, or it failed).
        self._stopped = False
        self._error: BaseException | None = None
        #: Set when work arrives (the sender waits on it), or room (the producer).
        self._has_work: Event | None = None
        self._has_room: Event | None = None
        self._done = Event()
        self._scope = CallScope(deadline)
        self._task = Background(self._run)

    # -- the producing task's ----------------------------------------------------

    def _check(self) -> bool:
        """Raise the sender's error; whether the sender still takes messages."""
        error = self._error
        if error is not None:
            self._error = None
            raise error
        return not self._stopped

    def put_nowait(self, data: bytes) -> bool | None:
        """Queue ``data`` for the sender (a plain call: no coroutine per
        message). ``False``: the request is over (the server answered),
        nothing more is sent; ``None``: queued, and the queue is full
        (:meth:`wait_room` next)."""
        with self._lock:
            if not self._check():
                return False
            self._queue.append(data)
            self._queued += len(data)
            wake = self._has_work
            self._has_work = None
            full = self._queued >= BATCH_BYTES
            if full:
                self._has_room = Event()
        if wake is not None:
            wake.set()
        return None if full else True

    async def wait_room(self, scope: CallScope) -> bool:
        """Wait (under ``scope``) until the sender took the full queue;
        whether it still takes messages."""
        with self._lock:
            # None: the sender took the queue (and set the event) already.
            room = self._has_room
        if room is not None:
            with scope.step():
                await room.wait()
        with self._lock:
            return self._check()

    async def finish(self, scope: CallScope) -> None:
        """Finish the request: the sender writes what is queued with the end
        of the stream; wait (under ``scope``) until it did."""
        with self._lock:
            self._end = True
            wake = self._has_work
            self._has_work = None
        if wake is not None:
            wake.set()
        with scope.step():
            await self._done.wait()
        with self._lock:
            self._check()

    async def stop(self) -> None:
        """Stop the sender and wait until it ended (the producer failed, or
        the call is being cancelled)."""
        self._scope.cancel()
        self._task.cancel()
        with shield():
            # Bounded: every wait of the sender ends with its scope.
            await self._done.wait()

    # -- the sender task's -----------------------------------------------------------

    def _take(self) -> tuple[bytes, bool, Event | None, Event | None]:
        """What to write next and whether it ends the request, or an event to
        wait on for more (then also the producer's room event to set).
        Locked."""
        queue = self._queue
        room = self._has_room
        self._has_room = None
        if not queue and not self._end:
            work = self._has_work = Event()
            return b"", False, work, room
        data = queue[0] if len(queue) == 1 else b"".join(queue)
        queue.clear()
        self._queued = 0
        return data, self._end, None, room

    async def _run(self) -> None:
        exchange = self._exchange
        scope = self._scope
        try:
            with scope.step():
                while True:
                    with self._lock:
                        data, end, work, room = self._take()
                    if room is not None:
                        room.set()
                    if work is not None:
                        await work.wait()
                        continue
                    if not exchange.request_open:
                        return  # the server answered: the rest is dropped
                    if data:
                        await exchange.send(data, scope, end=end)
                    elif end:
                        await exchange.end_request(scope)
                    if end:
                        return
        except BaseException as exc:
            error = exc
            if not isinstance(exc, Exception):
                # Cancelled (only :meth:`stop` does that, and then nobody
                # reads this): never re-raise a cancellation elsewhere.
                error = ConnectError(Code.CANCELED, "request stream stopped")
            with self._lock:
                self._error = error
            raise
        finally:
            with self._lock:
                self._stopped = True
                room = self._has_room
                self._has_room = None
            if room is not None:
                room.set()
            self._done.set()
            scope.close()
