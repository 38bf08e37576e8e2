"""Network streams for the async runtime: the fast paths under httpcore's
anyio streams (asyncio and trio).

The twin of ``sync_net`` (the unasync transform maps ``async_net`` to
``sync_net``): both offer the network backend (``AnyIOBackend`` here,
``SyncBackend`` there), :func:`direct_stream` and :func:`write_nowait`.

Speed, and knowing how far a cut-short write got, need what anyio and
httpcore do not expose, so :class:`_DirectStream` reads private attributes of
the streams under them, each looked up with ``getattr``: httpcore's
``_stream`` (the anyio stream), on asyncio anyio's ``_transport`` and
``_protocol`` (its ``write_event``, ``exception``, ``read_queue``) and the
transport's ``_sock``, on trio ``_trio_socket._sock``, and anyio's TLS
stream's ``_ssl_object``, ``_write_bio`` and ``_broken``. Where one is missing
or not of the expected kind, the stream falls back to anyio's own ``send``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore

from .netutil import recv_nowait

__all__ = ["AnyIOBackend", "direct_stream", "has_buffered_input", "write_nowait"]

#: The network backend (its sync twin, renamed by the unasync transform, is
#: ``sync_net.SyncBackend``: interruptible sockets and thread-safe TLS).
AnyIOBackend = httpcore.AnyIOBackend


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

    On trio a plain TCP stream's socket is read directly too: input that is
    waiting is returned without a turn of the run loop (again with a
    checkpoint once 64 KiB moved without one).

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
        "_drained",
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
        #: Whether the last direct trio read took all the input there was
        #: (it returned less than it asked for) and nothing was written since.
        self._drained = False
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
        if (
            transport is not None
            and usable
            and isinstance(getattr(transport, "max_size", None), int)
        ):
            # asyncio reads into a fresh buffer of max_size (256 KiB) per
            # recv: above the C allocator's mmap threshold, so every read
            # maps, shrinks and unmaps memory (three system calls and a page
            # fault). Smaller reads stay on the heap; a response this client
            # reads in one piece rarely exceeds it.
            transport.max_size = _ASYNCIO_READ_SIZE
        self._out_protocol = protocol if usable else None
        if self._ssl is not None and not usable and self._out_sock is None:
            self._ssl = self._bio = None  # an unknown stream under TLS: anyio's send
        plain = usable and self._ssl is None
        # What write_nowait writes plaintext to (plain asyncio TCP only).
        self._transport = transport if plain else None
        self._protocol = protocol if plain else None
        if plain:
            _keep_unread_input(transport, protocol)
            _bound_read_ahead(transport, protocol)

    async def read(self, max_bytes: int) -> bytes:
        protocol = self._protocol
        if protocol is not None:
            return await self._read_ahead(protocol, max_bytes)
        if self._ssl is None:
            sock = self._out_sock
            if sock is not None:
                return await self._read_trio(sock, max_bytes)
        return await self._receive(max_bytes)

    async def _read_trio(self, sock: socket.socket, max_bytes: int) -> bytes:
        """trio, plain TCP: the non-blocking socket read directly.

        trio's socket ``recv`` takes a scheduling point even when input is
        waiting: a turn of the run loop (with its ``epoll_wait``) per read.
        Here input that is there is taken at once; as for writes, once
        64 KiB moved without a scheduling point the read waits for the
        socket (a turn) first, so a fast stream stays cancellable and fair.

        After a read that took all the input there was (and no write since:
        right after a request, its answer is often there), the next one
        waits for the socket first, as asyncio's reads (through its event
        loop) do: right after the last read, a stream of small messages has
        only dribs waiting (read a few messages at a time, each read with its
        own step of the call), and a receive that finds nothing costs a
        system call and an exception; after a turn, what came meanwhile is
        taken in one read. Such a read asks for at most
        ``_SMALL_READ``: a receive allocates all it asks for and gives back
        what it did not fill, and above the C allocator's mmap threshold
        (128 KiB, unless it moved) that can map, shrink and unmap memory,
        with page faults, per read.
        """
        if self._drained:
            size = min(max_bytes, _SMALL_READ)
        else:
            size = max_bytes
            if self._unyielded < _YIELD_EVERY:
                data = recv_nowait(sock, size)
                if data is not None:
                    self._unyielded += len(data)
                    self._drained = len(data) < size
                    return data
        import trio

        while True:
            # Cancellation lands here only, before anything was read.
            try:
                await trio.lowlevel.wait_readable(sock)
            except (trio.ClosedResourceError, trio.BusyResourceError, OSError) as exc:
                raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
            self._unyielded = 0
            data = recv_nowait(sock, size)
            if data is not None:
                self._unyielded = len(data)
                self._drained = len(data) < size
                return data

    async def _read_ahead(self, protocol: Any, max_bytes: int) -> bytes:
        """asyncio, plain TCP: what the transport read ahead, else wait for it.

        anyio pauses the transport's reading after every receive and resumes
        it for the next: two selector changes (system calls, and handles
        made in Python) per wait, the largest cost of a small call's read.
        Here reading stays on while the reader keeps up (each read waits
        for input), within a bound on what it queues
        (``_bound_read_ahead``); what was queued is taken in one piece. The
        end of the stream and errors are left to anyio's receive.
        """
        queue = protocol.read_queue
        transport: Any = self._transport
        if queue:
            # Behind the transport (a fast stream): its reading is paused so
            # that the kernel gathers what follows into large reads, rather
            # than the event loop handing it over in many small ones.
            transport.pause_reading()
        else:
            if protocol.exception is not None or protocol.is_at_eof or transport.is_closing():
                return await self._receive(max_bytes)
            transport.resume_reading()
            await protocol.read_event.wait()
            if not queue:
                return await self._receive(max_bytes)  # woken by the end or an error
        chunk: bytes = queue.popleft()
        size = len(chunk)
        if size > max_bytes:
            queue.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        elif queue and size + len(queue[0]) <= max_bytes:
            parts = [chunk]
            while queue and size + len(queue[0]) <= max_bytes:
                part = queue.popleft()
                parts.append(part)
                size += len(part)
            chunk = b"".join(parts)
        if not queue:
            protocol.read_event.clear()
        return chunk

    def buffered(self) -> bool:
        """Whether input was read ahead (or the end or an error seen) that
        no read took yet: an idle connection's GOAWAY or EOF may be here
        rather than in the socket."""
        protocol = self._protocol
        return protocol is not None and (
            bool(protocol.read_queue) or protocol.is_at_eof or protocol.exception is not None
        )

    async def _receive(self, max_bytes: int) -> bytes:
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
        self._drained = False
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
#: What a direct trio read after one that drained the socket asks for.
_SMALL_READ = 64 * 1024
#: asyncio's read size on this client's connections (see ``_DirectStream``).
_ASYNCIO_READ_SIZE = 64 * 1024
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


#: How many reads (of asyncio's read size) a transport may queue ahead of
#: the connection's reader before its reading is paused.
_READ_AHEAD_CHUNKS = 4


def _bound_read_ahead(transport: Any, protocol: Any) -> None:
    """Pause the transport's reading once ``_READ_AHEAD_CHUNKS`` reads wait
    in the queue (:meth:`_DirectStream._read_ahead` resumes it when the
    queue is empty): a reader that falls behind holds the rest back in the
    kernel, so TCP flow control reaches the peer."""
    received = protocol.data_received
    queue = protocol.read_queue

    def data_received(data: bytes) -> None:
        received(data)
        if len(queue) >= _READ_AHEAD_CHUNKS:
            transport.pause_reading()

    protocol.data_received = data_received


def has_buffered_input(stream: Any) -> bool:
    """Whether a :func:`direct_stream` holds input read ahead (see
    ``_DirectStream.buffered``)."""
    return isinstance(stream, _DirectStream) and stream.buffered()


def direct_stream(network_stream: Any) -> Any:
    """The fastest way to read and write ``network_stream`` (an httpcore one)."""
    inner = getattr(network_stream, "_stream", None)
    if isinstance(inner, anyio.abc.ByteStream):
        return _DirectStream(inner)
    return network_stream


def write_nowait(stream: Any, data: bytes) -> int:
    """How much of ``data`` a :func:`direct_stream` took at once: all of it
    when that needs no waiting (see ``_DirectStream.write_nowait``), else 0
    (``await write()``)."""
    if isinstance(stream, _DirectStream) and stream.write_nowait(data):
        return len(data)
    return 0
