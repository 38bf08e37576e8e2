"""Network streams for the sync runtime (an httpcore network backend).

Two things httpcore's own sync backend cannot do, and an HTTP/2 connection
shared by threads needs:

- **Interruption.** A thread blocked reading the socket on behalf of every
  stream of a connection can be woken by another thread (:meth:`interrupt`),
  which makes the read raise :class:`InterruptedError`; cancelling one call
  then leaves the connection alone.
- **TLS in full duplex.** One thread reads while another writes. OpenSSL
  objects must not be used by two threads at once, so TLS runs on memory BIOs:
  the socket I/O happens outside any lock and only the (non-blocking) TLS
  state is locked.

Sockets are non-blocking; waits use ``select.poll`` (``select.select`` where
``poll`` does not exist).
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["SocketStream", "SyncBackend", "TLSStream"]

_TLS_READ = 256 * 1024
_HAS_POLL = hasattr(select, "poll")


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def _wait(
    sock: socket.socket, wake: socket.socket | None, write: bool, timeout: float | None
) -> int:
    """Wait until ``sock`` is ready: 1 ready, 0 timed out, -1 woken."""
    if _HAS_POLL:
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        # Round up to whole milliseconds, but keep a zero timeout a pure check.
        events = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
        if not events:
            return 0
        if wake is not None and any(fd == wake.fileno() for fd, _ in events):
            return -1
        return 1
    rlist: list[socket.socket] = [] if write else [sock]
    if wake is not None:
        rlist.append(wake)
    readable, writable, _ = select.select(rlist, [sock] if write else [], [], timeout)
    if wake is not None and wake in readable:
        return -1
    return 1 if readable or writable else 0


class SocketStream(httpcore.NetworkStream):
    """A TCP stream whose blocked reads another thread can interrupt."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._closed = False

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
                ready = _wait(sock, self._wake_r, False, _remaining(deadline))
            except (OSError, ValueError) as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
            if ready == 0:
                raise httpcore.ReadTimeout("read timed out")
            if ready < 0:
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
        """Send all of ``buffer``."""
        sock = self._sock
        view = memoryview(buffer)
        deadline = None if timeout is None else time.monotonic() + timeout
        while view:
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                try:
                    ready = _wait(sock, None, True, _remaining(deadline))
                except (OSError, ValueError) as exc:
                    raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                if ready == 0:
                    raise httpcore.WriteTimeout("write timed out") from None
                continue
            except OSError as exc:
                raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
            view = view[sent:]

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
                return _wait(self._sock, None, False, 0) == 1
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
            if data:
                self._raw.write(data, _remaining(deadline))

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
        """Encrypt and send all of ``buffer``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(buffer)
        with self._send_lock:
            with self._ssl_lock:
                try:
                    while view:
                        view = view[self._ssl.write(view) :]
                except ssl.SSLError as exc:
                    raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc
                data = self._outgoing.read()
            self._raw.write(data, _remaining(deadline))

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
    """httpcore's network backend for the sync runtime, with interruptible
    streams and thread-safe TLS."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        source = None if local_address is None else (local_address, 0)
        try:
            sock = socket.create_connection((host, port), timeout, source_address=source)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return SocketStream(sock)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
