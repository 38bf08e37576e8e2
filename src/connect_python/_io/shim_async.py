"""Concurrency primitives for the async runtime (anyio: asyncio and trio).

This module and ``shim_sync`` are the only hand-written pair: the unasync
transform maps ``shim_async`` to ``shim_sync``, so both must offer the same
names with the same meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore
import sniffio

from .._code import Code
from .._errors import ConnectError
from ..protocol.connect_wire import local_deadline_error

__all__ = [
    "AnyIOBackend",
    "Background",
    "CallScope",
    "Event",
    "Lock",
    "Semaphore",
    "StateLock",
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


#: The network backend (its sync twin, renamed by the unasync transform, is
#: ``shim_sync.SyncBackend``: interruptible sockets and thread-safe TLS).
AnyIOBackend = httpcore.AnyIOBackend
Lock = anyio.Lock
Event = anyio.Event
Semaphore = anyio.Semaphore
sleep = anyio.sleep
current_time = anyio.current_time
get_cancelled_exc_class = anyio.get_cancelled_exc_class


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
        self._scope = anyio.CancelScope()
        self.error: BaseException | None = None
        if sniffio.current_async_library() == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._run, fn, *args)
        else:
            import asyncio

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


class Turns:
    """Fairness for a task that runs long without waiting, such as a call
    handing out messages that were received already (no I/O, so no
    scheduling point): :meth:`due` says when to give the other tasks (and
    cancel scopes) a turn, :meth:`take` gives it.

    Cheap enough to ask per message: callers compare ``_clock()`` with
    :attr:`check_at` first and call :meth:`due` only past it. On asyncio the
    turn is taken once other work is ready or a timer is due (checked every
    50 µs, so a busy task never delays a timer by much more) and at least
    every millisecond; on trio, whose checkpoints cost more, every 0.3 ms.
    """

    __slots__ = ("_last", "_limit", "_probe", "_step", "check_at")

    def __init__(self) -> None:
        self._last = _clock()
        self._probe: Callable[[], bool] | None = None
        self._step = 0.0
        self._limit = 0.0
        #: Before this ``_clock()`` value no turn is due (bound on first use).
        self.check_at = 0.0

    def due(self) -> bool:
        """Whether to take a turn now (call once ``_clock() >= check_at``)."""
        now = _clock()
        if not self._step:
            # Bound on first use, inside the event loop.
            if sniffio.current_async_library() == "asyncio":
                self._probe = _asyncio_probe()
            if self._probe is not None:
                self._step, self._limit = 0.00005, 0.001
            else:
                self._step = self._limit = 0.0003
        probe = self._probe
        if now - self._last >= self._limit or (probe is not None and probe()):
            return True
        self.check_at = now + self._step
        return False

    async def take(self) -> None:
        """Let the other tasks run (a cancelled scope raises here)."""
        await anyio.lowlevel.checkpoint()
        self._last = now = _clock()
        self.check_at = now + self._step


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
    """

    __slots__ = ("_current", "cancellable", "cancelled", "deadline")

    def __init__(self, deadline: float | None, cancellable: bool = True) -> None:
        self.deadline = deadline
        self.cancelled = False
        #: Whether :meth:`cancel` may be called; without it and without a
        #: deadline, steps need no cancel scope at all.
        self.cancellable = cancellable
        self._current: anyio.CancelScope | None = None

    def set_abort(self, abort: object) -> None:
        """Nothing to do here: async steps are interrupted by cancel scopes."""

    def cancel(self) -> None:
        """Cancel the call: the current and every later step raise ``CANCELED``."""
        self.cancelled = True
        if self._current is not None:
            self._current.cancel()

    def check(self) -> None:
        """Raise if the call was cancelled or its deadline passed."""
        if self.cancelled:
            raise ConnectError(Code.CANCELED, "call canceled")
        if self.deadline is not None and anyio.current_time() >= self.deadline:
            raise ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded")

    def remote_error(self, error: ConnectError) -> ConnectError:
        """``error`` as the caller should see it (see ``_protocol.local_deadline_error``)."""
        if self.deadline is None:
            return error
        return local_deadline_error(error, self.deadline, anyio.current_time())

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
        self._cs: anyio.CancelScope | None = None

    def __enter__(self) -> None:
        scope = self._scope
        scope.check()
        cs = anyio.CancelScope(deadline=math.inf if scope.deadline is None else scope.deadline)
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
        return ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded")


def shield() -> anyio.CancelScope:
    """A scope that protects cleanup from cancellation."""
    return anyio.CancelScope(shield=True)


class _DirectStream:
    """Reads and writes straight on the anyio byte stream under an httpcore
    network stream, without httpcore's per-operation timeout scope and
    exception-mapping context managers (deadlines are the call scope's job).
    Errors become httpcore's, as the rest of the transport expects.

    On asyncio a plain TCP stream's writes go to the transport directly while
    it is not applying back-pressure: anyio would yield to the event loop after
    every write, which doubles the loop iterations of a small call. A
    checkpoint is still taken after every 64 KiB written, so a long burst of
    writes stays cancellable and fair to other tasks.

    A write cut short (cancelled) says how far it got: :attr:`unsent` is then
    the number of bytes at the end of its data that did not reach the network
    (``-1``: unknown). On asyncio all the bytes go to the transport at once,
    and only the wait for it to drain can be cancelled (``unsent`` is 0). On
    trio the non-blocking socket is written directly, and cancellation can
    land only in the wait for it to become writable, between sends. Over TLS
    (anyio's ``TLSStream`` on either) the data is encrypted at once and the
    ciphertext is sent the same way; what a cut-short write did not send is
    kept and goes out before anything else (``unsent`` is 0 and
    :meth:`backlog` is true until then). On any other stream the progress of
    a cancelled write is unknown.
    """

    __slots__ = (
        "_bio",
        "_out_protocol",
        "_out_sock",
        "_out_transport",
        "_pending",
        "_protocol",
        "_ssl",
        "_stream",
        "_transport",
        "_unyielded",
        "unsent",
    )

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._unyielded = 0
        #: Ciphertext a cut-short TLS write did not send (goes out first).
        self._pending = b""
        self.unsent = -1
        # TLS through anyio: encrypted here, sent on the stream under it.
        self._ssl: ssl.SSLObject | None = None
        self._bio: ssl.MemoryBIO | None = None
        inner: Any = stream
        ssl_object = getattr(stream, "_ssl_object", None)
        if ssl_object is not None:
            bio = getattr(stream, "_write_bio", None)
            if isinstance(ssl_object, ssl.SSLObject) and isinstance(bio, ssl.MemoryBIO):
                self._ssl, self._bio = ssl_object, bio
                inner = getattr(stream, "transport_stream", None)
            else:
                inner = None
        # trio: the non-blocking socket under a plain TCP stream, written
        # directly (anyio's send would make every write a scheduling point,
        # and its progress unknown when cancelled).
        raw = getattr(getattr(inner, "_trio_socket", None), "_sock", None)
        self._out_sock = raw if isinstance(raw, socket.socket) else None
        transport = getattr(inner, "_transport", None)
        protocol = getattr(inner, "_protocol", None)
        usable = (
            transport is not None
            and hasattr(transport, "write")
            and hasattr(transport, "is_closing")
            and isinstance(getattr(protocol, "write_event", None), asyncio.Event)
            and hasattr(protocol, "exception")
        )
        self._out_transport = transport if usable else None
        self._out_protocol = protocol if usable else None
        if self._ssl is not None and not usable and self._out_sock is None:
            self._ssl = self._bio = None  # an unknown stream under TLS: anyio's send
        plain = usable and self._ssl is None
        # What write_nowait writes plaintext to (plain asyncio TCP only).
        self._transport = transport if plain else None
        self._protocol = protocol if plain else None
        if plain:
            _keep_unread_input(transport, protocol)

    async def read(self, max_bytes: int) -> bytes:
        try:
            return await self._stream.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    def write_nowait(self, data: bytes) -> bool:
        """Write ``data`` at once if the transport takes it without waiting.

        ``False`` (nothing written) when the caller must ``await write()``:
        not an asyncio TCP stream, back-pressure, or a checkpoint is due.
        """
        transport = self._transport
        protocol = self._protocol
        if (
            transport is None
            or protocol is None
            or not protocol.write_event.is_set()
            or protocol.exception is not None
            or transport.is_closing()
            or self._unyielded >= _YIELD_EVERY
        ):
            return False
        try:
            transport.write(data)
        except RuntimeError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
        self._unyielded += len(data)
        return True

    def backlog(self) -> bool:
        """Whether output of earlier writes still waits for the network: the
        kept ciphertext of a cut-short TLS write, or bytes in asyncio's
        transport buffer (``write(b"")`` waits until they are out)."""
        if self._pending:
            return True
        protocol = self._out_protocol
        return protocol is not None and not protocol.write_event.is_set()

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        # ``timeout`` is for the sync twin's sake: async writes end with the
        # caller's cancel scope.
        if self.write_nowait(data):
            return
        sock = self._out_sock
        if sock is not None and self._ssl is None:
            # trio, plain TCP: the kernel usually takes it all at once.
            sent = 0
            if self._unyielded < _YIELD_EVERY:
                try:
                    sent = sock.send(data)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as exc:
                    self.unsent = len(data)
                    raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                if sent == len(data):
                    self._unyielded += sent
                    return
            await self._send(data, sent)
        elif self._ssl is not None:
            await self._write_tls(data)
        elif self._out_transport is not None:
            await self._send(data)
        else:
            # Another kind of stream: anyio waits as needed.
            try:
                await self._stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self.unsent = -1
                raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
            except BaseException:
                self.unsent = -1
                raise

    async def _write_tls(self, data: bytes) -> None:
        ssl_object = self._ssl
        bio = self._bio
        assert ssl_object is not None and bio is not None
        if getattr(self._stream, "_broken", False):
            self.unsent = len(data)
            raise httpcore.WriteError("TLS stream broken")
        out = b""
        if data:
            view = memoryview(data)
            try:
                while view:
                    view = view[ssl_object.write(view) :]
            except ssl.SSLError as exc:
                self.unsent = len(data)
                raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
            out = bio.read()
        pending = self._pending
        if pending:
            out = pending + out
            self._pending = b""
        try:
            await self._send(out)
        except BaseException:
            left = self.unsent
            if left > 0:
                self._pending = out[len(out) - left :]
            # The plaintext is all in the TLS stream now.
            self.unsent = 0
            raise

    async def _send(self, data: bytes, pos: int = 0) -> None:
        """Send ``data`` (from ``pos`` on: trio) on the asyncio transport or
        trio socket, knowing how far it got if cancelled (:attr:`unsent`)."""
        transport = self._out_transport
        if transport is not None:
            protocol: Any = self._out_protocol
            written = False
            try:
                if not protocol.write_event.is_set():
                    await protocol.write_event.wait()
                if protocol.exception is not None or transport.is_closing():
                    raise httpcore.WriteError(str(protocol.exception or "connection closed"))
                if data:
                    try:
                        transport.write(data)
                    except RuntimeError as exc:
                        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                written = True
                event = protocol.write_event
                if not event.is_set():
                    await event.wait()
                    self._unyielded = 0
                    if protocol.exception is not None:
                        raise httpcore.WriteError(str(protocol.exception))
                else:
                    self._unyielded += len(data)
                    if self._unyielded >= _YIELD_EVERY:
                        self._unyielded = 0
                        await anyio.lowlevel.checkpoint()
            except BaseException:
                self.unsent = 0 if written else len(data)
                raise
            return
        sock = self._out_sock
        assert sock is not None
        size = len(data)
        try:
            if pos < size:
                view = memoryview(data)
                while True:
                    try:
                        pos += sock.send(view[pos:])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as exc:
                        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                    if pos >= size:
                        break
                    # Cancellation lands here only: between sends.
                    try:
                        await anyio.wait_writable(sock)
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
                        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                    self._unyielded = 0
            self._unyielded += size
            if self._unyielded >= _YIELD_EVERY:
                self._unyielded = 0
                await anyio.lowlevel.checkpoint()
        except BaseException:
            self.unsent = size - pos
            raise


_YIELD_EVERY = 64 * 1024
#: The most unread input kept when asyncio drops a connection on an error.
_KEEP_MAX = 1024 * 1024


def _keep_unread_input(transport: Any, protocol: Any) -> None:
    """Keep what the peer sent when asyncio drops the connection on an error.

    anyio pauses reading between receives, so input may wait in the kernel's
    buffer. When a write fails (the peer answered and reset the connection: a
    server refusing an upload), asyncio closes the socket right after telling
    the protocol, and that input, often the server's answer, would be lost.
    Here it is read into anyio's queue first, so later receives return it.
    """
    sock = getattr(transport, "_sock", None)
    if not isinstance(sock, socket.socket):
        return
    lost = protocol.connection_lost

    def connection_lost(exc: Exception | None) -> None:
        if exc is not None:
            kept = 0
            try:
                while kept < _KEEP_MAX:
                    data = sock.recv(65536)
                    if not data:
                        break
                    protocol.read_queue.append(data)
                    kept += len(data)
            except OSError:
                pass
        lost(exc)

    protocol.connection_lost = connection_lost


def direct_stream(network_stream: Any) -> Any:
    """The fastest way to read and write ``network_stream`` (an httpcore one)."""
    inner = getattr(network_stream, "_stream", None)
    if isinstance(inner, anyio.abc.ByteStream):
        return _DirectStream(inner)
    return network_stream


def write_nowait(stream: Any, data: bytes) -> bool:
    """Write ``data`` on a :func:`direct_stream` at once if that needs no waiting
    (see ``_DirectStream.write_nowait``); ``False`` means ``await write()``."""
    if isinstance(stream, _DirectStream):
        return stream.write_nowait(data)
    return False
