"""Network streams and waits for the sync runtime (an httpcore network backend).

What httpcore's own sync backend cannot do, and the sync runtime needs:

- **Every wait ends.** A wait inside a call's step (see ``shim_sync.CallScope``)
  ends at the call's deadline and when the call is cancelled from another
  thread: it raises :class:`Interrupted`, which the step turns into
  ``DEADLINE_EXCEEDED`` or ``CANCELED``. The deadline is the wait's own timeout
  (no timer threads); cancellation wakes the waiting thread through a wake fd
  of that thread (socket waits) or by setting the awaited event. Socket reads
  and writes, connecting (name resolution included) and the TLS handshake all
  wait this way.
- **Interruption of a shared reader.** A thread blocked reading the socket on
  behalf of every stream of an HTTP/2 connection can be woken by another thread
  (:meth:`SocketStream.interrupt`), which makes the read raise
  :class:`InterruptedError`; cancelling one call then leaves the connection
  alone.
- **Writes say how far they got.** A write cut short by its call's deadline
  or cancellation leaves in ``unsent`` how many bytes of its data were not
  sent (the TLS stream keeps unsent ciphertext and sends it first), so an
  HTTP/2 connection keeps its framing and its other streams.
- **TLS in full duplex.** One thread reads while another writes. OpenSSL
  objects must not be used by two threads at once, so TLS runs on memory BIOs:
  the socket I/O happens outside any lock and only the (non-blocking) TLS
  state is locked.

Sockets are non-blocking; waits use ``select.poll`` (``select.select`` where
``poll`` does not exist).
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

__all__ = [
    "Interrupted",
    "ScopedEvent",
    "SocketStream",
    "SyncBackend",
    "TLSStream",
    "current_scope",
    "set_current_scope",
    "wait_event",
    "wait_socket",
]

_TLS_READ = 256 * 1024
_HAS_POLL = hasattr(select, "poll")
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY}
_IN_PROGRESS.add(getattr(errno, "WSAEWOULDBLOCK", errno.EWOULDBLOCK))


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
    """A thread's wake fd: a call scope's cancel writes to it, the thread's
    socket wait polls it. Closed when the thread ends (its locals go)."""

    __slots__ = ("__weakref__", "_r", "_socks", "_w", "fd", "wake")

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
        self.wake: Callable[[], None] = self._wake

    def _wake(self) -> None:
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

    def __del__(self) -> None:
        if self._socks is not None:  # pragma: no cover
            for sock in self._socks:
                sock.close()
            return
        for fd in {self._r, self._w}:
            try:
                os.close(fd)
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


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


_READY, _TIMEOUT, _WOKEN, _SCOPE = 1, 0, -1, -2


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
            return _TIMEOUT
        woken = _READY
        for fd, _ in events:
            if fd == scope_fd:
                return _SCOPE
            if wake is not None and fd == wake.fileno():
                woken = _WOKEN
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
        return _WOKEN
    return _READY if readable or writable else _TIMEOUT


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
        return _wait(sock, wake, write, _remaining(deadline))
    waker = _thread_waker()
    waits = scope._waits
    waits.add(waker.wake)
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
                        return _TIMEOUT
                    raise Interrupted(scope)
            ready = _wait(sock, wake, write, timeout, waker.fd)
            if ready == _SCOPE:
                waker.drain()
            elif ready != _TIMEOUT:
                return ready
    finally:
        waits.discard(waker.wake)


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


class SocketStream(httpcore.NetworkStream):
    """A TCP stream whose waits honour the current call's deadline and
    cancellation, and whose blocked reads another thread can interrupt."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._closed = False
        #: After a write raised: the bytes at the end of its data not sent.
        self.unsent = -1

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; ``b""`` at end of stream.

        Raises :class:`InterruptedError` when :meth:`interrupt` was called.
        """
        sock = self._sock
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return sock.recv(max_bytes)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
            try:
                ready = wait_socket(sock, False, deadline, self._wake_r)
            except (OSError, ValueError) as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
            if ready == _TIMEOUT:
                raise httpcore.ReadTimeout("read timed out")
            if ready == _WOKEN:
                self._drain_wake()
                raise InterruptedError("read interrupted")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except OSError:
            pass

    def interrupt(self) -> None:
        """Make a read in progress (or the next one) raise ``InterruptedError``."""
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of ``buffer``.

        A wait for the peer to take more ends at ``timeout`` and, in a call's
        step, at the call's deadline or cancellation (:class:`Interrupted`).
        A write that raised leaves in :attr:`unsent` how many bytes at the
        end of ``buffer`` were not sent (the rest went out whole).
        """
        sock = self._sock
        view = memoryview(buffer)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while view:
                try:
                    sent = sock.send(view)
                except (BlockingIOError, InterruptedError):
                    try:
                        ready = wait_socket(sock, True, deadline)
                    except (OSError, ValueError) as exc:
                        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                    if ready == _TIMEOUT:
                        raise httpcore.WriteTimeout("write timed out") from None
                    continue
                except OSError as exc:
                    raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                view = view[sent:]
        except BaseException:
            self.unsent = len(view)
            raise

    def backlog(self) -> bool:
        """Whether output of earlier writes waits here: never (a write that
        was cut short reports what it did not send, see :meth:`write`)."""
        return False

    def close(self) -> None:
        """Close the socket."""
        if self._closed:
            return
        self._closed = True
        for sock in (self._sock, self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Run the TLS handshake; returns the TLS stream over this one."""
        try:
            return TLSStream(self, ssl_context, server_hostname, timeout)
        except BaseException:
            self.close()
            raise

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self._sock
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "is_readable":
            try:
                return _wait(self._sock, None, False, 0) == _READY
            except (OSError, ValueError):
                return True
        return None


class TLSStream(httpcore.NetworkStream):
    """TLS over a :class:`SocketStream` on memory BIOs, safe for one reading
    and one writing thread at a time."""

    def __init__(
        self,
        raw: SocketStream,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        self._raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        self._ssl_lock = threading.Lock()
        self._send_lock = threading.Lock()
        #: Ciphertext a cut-short write did not send (goes out first).
        self._pending = b""
        #: After a write raised: the bytes at the end of its data not sent
        #: (0: all of it was encrypted; what was not sent is kept).
        self.unsent = -1
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._handshake(deadline)
        except httpcore.ReadTimeout as exc:
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except (httpcore.ReadError, httpcore.WriteError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc

    def _handshake(self, deadline: float | None) -> None:
        while True:
            try:
                with self._ssl_lock:
                    self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                pass
            else:
                self._flush_outgoing(deadline)
                return
            self._flush_outgoing(deadline)
            data = self._raw.read(_TLS_READ, _remaining(deadline))
            if not data:
                raise httpcore.ConnectError("connection closed during the TLS handshake")
            with self._ssl_lock:
                self._incoming.write(data)

    def _flush_outgoing(self, deadline: float | None = None) -> None:
        with self._send_lock:
            with self._ssl_lock:
                data = self._outgoing.read()
            if data or self._pending:
                self._send(data, deadline)

    def _send(self, data: bytes, deadline: float | None) -> None:
        """Send ciphertext, after what an earlier cut-short write kept
        (``_send_lock`` held); what this one does not send is kept in turn."""
        pending = self._pending
        if pending:
            data = pending + data
            self._pending = b""
        raw = self._raw
        try:
            raw.write(data, _remaining(deadline))
        except BaseException:
            left = raw.unsent
            if left > 0:
                self._pending = data[len(data) - left :]
            self.unsent = 0
            raise

    def backlog(self) -> bool:
        """Whether ciphertext of a cut-short write still waits to be sent
        (``write(b"")`` sends it)."""
        return bool(self._pending)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` at end of stream.

        Raises :class:`InterruptedError` when :meth:`interrupt` was called.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._ssl_lock:
                try:
                    data = self._ssl.read(max_bytes)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                except ssl.SSLError as exc:
                    raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
                pending = self._outgoing.pending
            if pending:
                self._flush_outgoing(deadline)
            if data is not None:
                return data
            raw = self._raw.read(_TLS_READ, _remaining(deadline))
            with self._ssl_lock:
                if raw:
                    self._incoming.write(raw)
                else:
                    self._incoming.write_eof()

    def interrupt(self) -> None:
        """Make a read in progress (or the next one) raise ``InterruptedError``."""
        self._raw.interrupt()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Encrypt and send all of ``buffer`` (what a cut-short write did not
        send goes out first: ``write(b"")`` only sends that)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(buffer)
        with self._send_lock:
            with self._ssl_lock:
                try:
                    while view:
                        view = view[self._ssl.write(view) :]
                except ssl.SSLError as exc:
                    self.unsent = len(buffer)
                    raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                data = self._outgoing.read()
            self._send(data, deadline)

    def close(self) -> None:
        """Close the connection (without a TLS close_notify)."""
        self._raw.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        raise NotImplementedError("TLS over TLS is not supported")

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._ssl
        if info == "is_readable":
            with self._ssl_lock:
                if self._ssl.pending():
                    return True
        return self._raw.get_extra_info(info)


class SyncBackend(httpcore.NetworkBackend):
    """httpcore's network backend for the sync runtime: interruptible streams,
    thread-safe TLS, and a connect that honours ``timeout`` and the current
    call's deadline and cancellation (name resolution included)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = _resolve(host, port, deadline)
        errors: list[OSError] = []
        for family, kind, proto, _, address in addresses:
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:
                errors.append(exc)
                continue
            try:
                _connect(sock, address, deadline, local_address, socket_options)
            except OSError as exc:
                sock.close()
                errors.append(exc)
                continue
            except BaseException:
                sock.close()
                raise
            return SocketStream(sock)
        if not errors:
            raise httpcore.ConnectError(f"no address found for {host!r}")
        first = errors[0]
        raise httpcore.ConnectError(str(first) or type(first).__name__) from first

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _connect(
    sock: socket.socket,
    address: Any,
    deadline: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> None:
    """Connect ``sock`` without blocking beyond ``deadline`` (or the call's)."""
    sock.setblocking(False)
    for option in socket_options or ():
        sock.setsockopt(*option)
    if local_address is not None:
        sock.bind((local_address, 0))
    err = sock.connect_ex(address)
    if err in _IN_PROGRESS:
        if wait_socket(sock, True, deadline) == _TIMEOUT:
            raise httpcore.ConnectTimeout("connect timed out") from TimeoutError()
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_Address = tuple[Any, Any, int, str, Any]


def _resolve(host: str, port: int, deadline: float | None) -> list[_Address]:
    """The addresses of ``host``: IP literals at once, names in a helper
    thread, so that the wait for the resolver ends at ``deadline`` and at the
    call's deadline or cancellation (the thread finishes on its own)."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        pass
    done = ScopedEvent()
    result: list[Any] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the waiting thread
            result.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="connect-python resolver", daemon=True).start()
    if not done.wait(_remaining(deadline)) or not result:
        raise httpcore.ConnectTimeout("name resolution timed out") from TimeoutError()
    answer = result[0]
    if isinstance(answer, BaseException):
        if isinstance(answer, OSError):
            raise httpcore.ConnectError(str(answer) or type(answer).__name__) from answer
        raise answer
    addresses: list[_Address] = answer
    return addresses
