"""Network streams for the sync runtime (an httpcore network backend).

The twin of ``async_net`` (the unasync transform maps ``async_net`` to
``sync_net``): both offer the network backend (``SyncBackend`` here,
``AnyIOBackend`` there), :func:`direct_stream` and :func:`write_nowait`.
What httpcore's own sync backend cannot do, and the sync runtime needs:

- **Every wait ends.** Socket reads and writes, connecting (name resolution
  included) and the TLS handshake wait with ``sync_waits``: inside a call's
  step they end at the call's deadline and on its cancellation from another
  thread.
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

Sockets are non-blocking.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore

from .netutil import recv_nowait, socket_is_readable
from .sync_waits import (
    READABLE,
    READY,
    TIMEOUT,
    WRITABLE,
    InterruptFlag,
    ScopedEvent,
    remaining,
    wait_socket,
)

__all__ = [
    "SocketStream",
    "SyncBackend",
    "TLSStream",
    "direct_stream",
    "has_buffered_input",
    "write_nowait",
]

#: What a TLS stream reads at once, ciphertext and plaintext. A read
#: allocates all it asks for, then gives back what it did not fill: above
#: the C allocator's mmap threshold (128 KiB, unless it moved) each read maps
#: fresh memory and takes page faults filling it. A TLS record holds 16 KiB.
_TLS_READ = 64 * 1024
_IN_PROGRESS = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY}
_IN_PROGRESS.add(getattr(errno, "WSAEWOULDBLOCK", errno.EWOULDBLOCK))


class SocketStream(httpcore.NetworkStream):
    """A TCP stream whose waits honour the current call's deadline and
    cancellation, and whose blocked reads another thread can interrupt."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._interrupt = InterruptFlag()
        self._closed = False
        #: Whether the last read took all the input the socket had (it
        #: returned less than asked for).
        self._drained = False
        #: After a write raised: the bytes at the end of its data not sent.
        self.unsent = -1

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes``; ``b""`` at end of stream.

        Raises :class:`InterruptedError` when :meth:`interrupt` was called.
        """
        sock = self._sock
        deadline = None if timeout is None else time.monotonic() + timeout
        # After a read that took all the input there was, wait before the
        # next receive: what the peer sends next (a response, the second
        # write of a response sent in two, a stream's next event) has often
        # not arrived yet, and a receive that finds nothing costs a system
        # call and an exception; when it has, the wait returns at once.
        drained = self._drained
        while True:
            if not drained:
                data = recv_nowait(sock, max_bytes)
                if data is not None:
                    self._drained = len(data) < max_bytes
                    return data
            drained = False
            try:
                ready = wait_socket(sock, READABLE, deadline, self._interrupt)
            except (OSError, ValueError) as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
            if ready != READY:
                if ready == TIMEOUT:
                    raise httpcore.ReadTimeout("read timed out")
                raise InterruptedError("read interrupted")

    def interrupt(self) -> None:
        """Make a read in progress (or the next one that waits) raise ``InterruptedError``."""
        self._interrupt.set()

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
                        ready = wait_socket(sock, WRITABLE, deadline)
                    except (OSError, ValueError) as exc:
                        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                    if ready == TIMEOUT:
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
        # The waker of the thread that read last: its fd goes with that thread.
        self._interrupt.waker = None
        try:
            self._sock.close()
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
            return socket_is_readable(self._sock)
        return None


class TLSStream(httpcore.NetworkStream):
    """TLS over a :class:`SocketStream` (or over another TLS stream: a
    server's TLS inside a proxy's) on memory BIOs, safe for one reading and
    one writing thread at a time."""

    def __init__(
        self,
        raw: SocketStream | TLSStream,
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
            data = self._raw.read(_TLS_READ, remaining(deadline))
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
            raw.write(data, remaining(deadline))
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
                    data = self._ssl.read(min(max_bytes, _TLS_READ))
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
            raw = self._raw.read(_TLS_READ, remaining(deadline))
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
        """TLS inside this TLS (to a server through an ``https://`` proxy)."""
        try:
            return TLSStream(self, ssl_context, server_hostname, timeout)
        except BaseException:
            self.close()
            raise

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

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _connect(sock, path, deadline, None, socket_options)
        except OSError as exc:
            sock.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            sock.close()
            raise
        return SocketStream(sock)

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
        if wait_socket(sock, WRITABLE, deadline) == TIMEOUT:
            raise httpcore.ConnectTimeout("connect timed out") from TimeoutError()
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))
    if sock.family != socket.AF_UNIX:
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
    if not done.wait(remaining(deadline)) or not result:
        raise httpcore.ConnectTimeout("name resolution timed out") from TimeoutError()
    answer = result[0]
    if isinstance(answer, BaseException):
        if isinstance(answer, OSError):
            raise httpcore.ConnectError(str(answer) or type(answer).__name__) from answer
        raise answer
    addresses: list[_Address] = answer
    return addresses


def direct_stream(network_stream: Any) -> Any:
    """The sync network streams are already direct: ``network_stream`` itself."""
    return network_stream


def has_buffered_input(stream: Any) -> bool:
    """Sync sockets are read only when asked: nothing is read ahead."""
    return False


def write_nowait(stream: Any, data: bytes) -> int:
    """How much of ``data`` a plain TCP stream took at once (the rest, if any,
    goes with ``write()``, which may wait); 0 for a TLS stream."""
    if type(stream) is not SocketStream:
        return 0
    try:
        return stream._sock.send(data)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError as exc:
        raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
