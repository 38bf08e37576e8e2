"""A fault-injecting TCP proxy for the reliability suite (loopback only).

:class:`FaultProxy` listens on ``127.0.0.1`` and forwards every connection to
one upstream address. It runs its own asyncio event loop on a daemon thread,
so clients of every flavour (asyncio, trio, threads) can go through it, and it
is steered from any thread with plain method calls.

Faults are small objects. Those given to :meth:`FaultProxy.set_faults` apply to
every connection accepted afterwards; :meth:`FaultProxy.inject` adds a fault to
the connections open now (counting bytes from that moment); :meth:`heal`
removes every fault from the open connections (stalled data flows again).

- :class:`Latency`: each chunk is held ``delay`` seconds, plus up to
  ``jitter`` (order kept).
- :class:`Bandwidth`: at most ``bytes_per_second`` forwarded.
- :class:`Stall`: after ``after_bytes``, stop forwarding one direction (the
  proxy stops reading too, so the sender's TCP window closes), for
  ``duration`` seconds or until healed.
- :class:`HalfOpen`: after ``after_bytes`` from the server, the server side
  is closed and the client's connection left open and silent: nothing is
  read from it or written to it (a peer that vanished without FIN or RST).
- :class:`HalfClose`: after ``after_bytes`` in one direction, a FIN is sent
  that way; the other direction goes on.
- :class:`Reset`: after exactly ``after_bytes`` in one direction, both
  sockets are reset (RST to the client and to the server).
- :class:`Blackhole`: the connection is accepted and never answered; the
  server is not dialled.
- :class:`Refuse`: the connection is reset as soon as it is accepted.
- :class:`IdleDrop`: a middlebox that forgets a flow idle (nothing forwarded
  either way) for ``idle`` seconds: the connection then goes half-open.

Directions are :data:`UP` (client to server) and :data:`DOWN` (server to
client). :attr:`FaultProxy.stats` counts connections and bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "DOWN",
    "UP",
    "Bandwidth",
    "Blackhole",
    "Direction",
    "Fault",
    "FaultProxy",
    "HalfClose",
    "HalfOpen",
    "IdleDrop",
    "Latency",
    "ProxyStats",
    "Refuse",
    "Reset",
    "Stall",
]

Direction = Literal["up", "down"]
UP: Direction = "up"
DOWN: Direction = "down"

_CHUNK = 65536
#: Chunks a direction holds between reading and forwarding (beyond that the
#: proxy stops reading: backpressure reaches the sender).
_QUEUE = 16


# -- faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Base of the faults; each is a frozen description, copied per connection."""

    def describe(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True)
class Latency(Fault):
    delay: float
    jitter: float = 0.0
    direction: Direction | None = None  # None: both


@dataclass(frozen=True)
class Bandwidth(Fault):
    bytes_per_second: float
    direction: Direction | None = None


@dataclass(frozen=True)
class Stall(Fault):
    direction: Direction
    after_bytes: int = 0
    duration: float | None = None  # None: until healed or closed


@dataclass(frozen=True)
class HalfOpen(Fault):
    after_bytes: int = 0


@dataclass(frozen=True)
class HalfClose(Fault):
    direction: Direction
    after_bytes: int = 0


@dataclass(frozen=True)
class Reset(Fault):
    direction: Direction
    after_bytes: int = 0


@dataclass(frozen=True)
class Blackhole(Fault):
    pass


@dataclass(frozen=True)
class Refuse(Fault):
    pass


@dataclass(frozen=True)
class IdleDrop(Fault):
    idle: float


# -- statistics ------------------------------------------------------------------------


@dataclass
class ProxyStats:
    accepted: int = 0
    dialled: int = 0
    open: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    #: How often each kind of fault took effect (a Reset that reset, a Stall that stalled...).
    triggered: dict[str, int] = field(default_factory=dict)

    def copy(self) -> ProxyStats:
        return replace(self, triggered=dict(self.triggered))


# -- the proxy -------------------------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Direction:
    """One direction of one connection: reads ``src``, forwards to ``dst``."""

    def __init__(self, conn: _Connection, name: Direction) -> None:
        self.conn = conn
        self.name = name
        self.forwarded = 0
        self.queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue(_QUEUE)
        self.resume = asyncio.Event()
        self.resume.set()
        self.last_release = 0.0

    @property
    def src(self) -> socket.socket:
        return self.conn.client if self.name == UP else self.conn.upstream  # type: ignore[return-value]

    @property
    def dst(self) -> socket.socket:
        return self.conn.upstream if self.name == UP else self.conn.client  # type: ignore[return-value]

    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(self.src, _CHUNK)
            except OSError:
                data = b""
            await self.queue.put((data, time.monotonic()))
            if not data:
                return

    async def write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        proxy = self.conn.proxy
        while True:
            data, read_at = await self.queue.get()
            if not data:
                with contextlib.suppress(OSError):
                    self.dst.shutdown(socket.SHUT_WR)
                return
            while data:
                await self.resume.wait()
                piece, action = self.conn.plan(self, data)
                if piece:
                    await self._delay(piece, read_at)
                    try:
                        await loop.sock_sendall(self.dst, piece)
                    except OSError:
                        self.conn.abort()
                        return
                    self.forwarded += len(piece)
                    self.conn.active_at = time.monotonic()
                    proxy.count(self.name, len(piece))
                    data = data[len(piece) :]
                if action is not None and await action():
                    return

    async def _delay(self, piece: bytes, read_at: float) -> None:
        now = time.monotonic()
        release = read_at
        for fault in self.conn.active(self.name):
            if isinstance(fault, Latency):
                release += fault.delay + (
                    self.conn.rng.uniform(0, fault.jitter) if fault.jitter else 0.0
                )
            elif isinstance(fault, Bandwidth):
                release += len(piece) / fault.bytes_per_second
        release = max(release, self.last_release)
        self.last_release = release
        if release > now:
            await asyncio.sleep(release - now)


class _Connection:
    def __init__(
        self, proxy: FaultProxy, client: socket.socket, faults: Sequence[Fault], seed: int
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.rng = random.Random(seed)
        #: (fault, bytes forwarded in its direction when it was attached)
        self.faults: list[tuple[Fault, dict[Direction, int]]] = []
        self.dirs: dict[Direction, _Direction] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False
        self.half_opened = False
        #: When something was last forwarded (either way).
        self.active_at = time.monotonic()
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        base: dict[Direction, int] = {d: x.forwarded for d, x in self.dirs.items()}
        self.faults.append((fault, base))

    def heal(self) -> None:
        self.faults.clear()
        for d in self.dirs.values():
            d.resume.set()

    def active(self, direction: Direction) -> Iterable[Fault]:
        for fault, _ in self.faults:
            if getattr(fault, "direction", direction) in (direction, None):
                yield fault

    def plan(self, d: _Direction, data: bytes) -> tuple[bytes, Callable[[], Any] | None]:
        """How much of ``data`` to forward now, and what to do after it."""
        for fault, base in list(self.faults):
            if isinstance(fault, (Stall, Reset, HalfClose)):
                if fault.direction != d.name:
                    continue
            elif isinstance(fault, HalfOpen):
                if d.name != DOWN:
                    continue
            elif isinstance(fault, (Blackhole, Refuse)):
                # Added to an open connection: silence (both ways), or a reset.
                return b"", self._action(fault, d)
            else:
                continue
            left = fault.after_bytes - (d.forwarded - base.get(d.name, 0))
            if left >= len(data):
                continue
            left = max(left, 0)
            return data[:left], self._action(fault, d)
        return data, None

    def _action(self, fault: Fault, d: _Direction) -> Callable[[], Any]:
        async def act() -> bool:
            """Returns whether the direction's writer must stop."""
            self.proxy.trigger(fault)
            if isinstance(fault, (Reset, Refuse)):
                self.abort()
                return True
            if isinstance(fault, Blackhole):
                d.resume.clear()
                return False
            if isinstance(fault, HalfClose):
                with contextlib.suppress(OSError):
                    d.dst.shutdown(socket.SHUT_WR)
                self._drop(fault)
                # Keep reading (and discarding) this direction.
                while True:
                    data, _ = await d.queue.get()
                    if not data:
                        return True
            if isinstance(fault, HalfOpen):
                self._drop(fault)
                self.half_open()
                return True
            assert isinstance(fault, Stall)
            self._drop(fault)
            d.resume.clear()
            if fault.duration is not None:
                asyncio.get_running_loop().call_later(fault.duration, d.resume.set)
            return False

        return act

    def _drop(self, fault: Fault) -> None:
        self.faults = [(f, b) for f, b in self.faults if f is not fault]

    async def _forget_when_idle(self, fault: IdleDrop) -> None:
        while self.active_at + fault.idle > time.monotonic():
            await asyncio.sleep(self.active_at + fault.idle - time.monotonic())
        self.proxy.trigger(fault)
        self.half_open()

    def half_open(self) -> None:
        """Close the server side; leave the client's socket open and silent."""
        if self.upstream is not None:
            _reset(self.upstream)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.half_opened = True
        # The client socket stays open until the proxy closes (or the client does;
        # nobody reads it, so the client only sees silence).

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.client.close()
        if self.upstream is not None:
            with contextlib.suppress(OSError):
                self.upstream.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        kinds = [f for f, _ in self.faults]
        if any(isinstance(f, Refuse) for f in kinds):
            self.proxy.trigger(Refuse())
            self.abort()
            return
        if any(isinstance(f, Blackhole) for f in kinds):
            self.proxy.trigger(Blackhole())
            # Never answer, never read: wait until the proxy closes.
            await asyncio.Event().wait()
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream = upstream
        try:
            await loop.sock_connect(upstream, self.proxy.upstream)
        except OSError:
            self.abort()
            return
        self.proxy.stats.dialled += 1
        up, down = _Direction(self, UP), _Direction(self, DOWN)
        self.dirs = {UP: up, DOWN: down}
        # Faults attached before dialling count from byte 0.
        self.faults = [(f, {UP: 0, DOWN: 0}) for f, _ in self.faults]
        self.tasks = [
            loop.create_task(x())
            for x in (up.read_loop, up.write_loop, down.read_loop, down.write_loop)
        ]
        for fault in kinds:
            if isinstance(fault, IdleDrop):
                self.tasks.append(loop.create_task(self._forget_when_idle(fault)))
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.half_opened and not self.closed:
            # Half-open: the client side is left open until the proxy closes.
            await asyncio.Event().wait()
        self.close()


class FaultProxy:
    """A TCP proxy to ``upstream`` (``(host, port)``) on its own thread."""

    def __init__(self, upstream: tuple[str, int], *, seed: int = 0) -> None:
        self.upstream = upstream
        self.stats = ProxyStats()
        self._faults: list[Fault] = []
        #: How many more accepted connections get ``_faults`` (``None``: all).
        self._faults_left: int | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._conns: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: socket.socket | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="faultproxy", daemon=True
        )
        self._thread.start()
        ready.result(10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stop = self._stop
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def _main(self, ready: Future[None]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # pragma: no cover - reported to start()
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def _serve(self, ready: Future[None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(512)
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]
        accept = loop.create_task(self._accept_loop(server))
        tasks = self._tasks
        ready.set_result(None)
        await self._stop.wait()
        accept.cancel()
        server.close()
        for conn in list(self._conns):
            conn.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(accept, *tasks, return_exceptions=True)

    async def _accept_loop(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(server)
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                faults = list(self._faults)
                if self._faults_left is not None:
                    self._faults_left -= 1
                    if self._faults_left <= 0:
                        self._faults, self._faults_left = [], None
                self.stats.accepted += 1
                seed = self._rng.getrandbits(32)
            conn = _Connection(self, client, faults, seed)
            task = loop.create_task(self._run(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: _Connection) -> None:
        self._conns.add(conn)
        self.stats.open += 1
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        finally:
            conn.close()
            self._conns.discard(conn)
            self.stats.open -= 1

    # -- steering (any thread) ----------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not running")
        if threading.current_thread() is self._thread:
            return fn()
        done: Future[Any] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(10)

    def set_faults(self, *faults: Fault, connections: int | None = None) -> None:
        """Faults of every connection accepted from now on (none: a clean
        proxy), or of the next ``connections`` only."""
        with self._lock:
            self._faults = list(faults)
            self._faults_left = connections

    def inject(self, fault: Fault) -> int:
        """Add ``fault`` to every open connection; returns how many it reached."""

        def run() -> int:
            n = 0
            for conn in self._conns:
                if not conn.closed and conn.dirs:
                    conn.add(fault)
                    n += 1
            return n

        result: int = self._call(run)
        return result

    def heal(self) -> None:
        """No faults any more: new connections are clean, stalled data flows."""
        self.set_faults()

        def run() -> None:
            for conn in self._conns:
                conn.heal()

        self._call(run)

    def reset_all(self) -> int:
        """Reset every open connection now; returns how many."""

        def run() -> int:
            conns = [c for c in self._conns if not c.closed]
            for conn in conns:
                conn.abort()
            return len(conns)

        result: int = self._call(run)
        return result

    def snapshot(self) -> ProxyStats:
        result: ProxyStats = self._call(self.stats.copy)
        return result

    # -- called on the proxy's loop -----------------------------------------------------

    def count(self, direction: Direction, n: int) -> None:
        if direction == UP:
            self.stats.bytes_up += n
        else:
            self.stats.bytes_down += n

    def trigger(self, fault: Fault) -> None:
        name = type(fault).__name__
        self.stats.triggered[name] = self.stats.triggered.get(name, 0) + 1
