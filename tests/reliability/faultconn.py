"""One proxied connection of the fault proxy: its two directions' forwarding
loops and the faults' effects on them.

Everything here runs on the proxy's own event loop (``faultproxy.py``), so a
change of faults (:meth:`Connection.add`, :meth:`Connection.heal`) and a
direction deciding what to forward never interleave within one step; they do
across the awaits of forwarding, which is why an action checks, when it is
carried out, that its fault is still attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from reliability.faults import (
    DOWN,
    UP,
    Bandwidth,
    Blackhole,
    Direction,
    Fault,
    HalfClose,
    HalfOpen,
    IdleDrop,
    Latency,
    ProxyStats,
    Refuse,
    Reset,
    Stall,
)

__all__ = ["Connection", "Owner"]

_CHUNK = 65536
#: Chunks a direction holds between reading and forwarding (beyond that the
#: proxy stops reading: backpressure reaches the sender).
_QUEUE = 16


class Owner(Protocol):
    """What a connection needs of its proxy."""

    upstream: tuple[str, int]
    stats: ProxyStats

    def count(self, direction: Direction, n: int) -> None: ...

    def trigger(self, fault: Fault) -> None: ...


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Direction:
    """One direction of one connection: reads ``src``, forwards to ``dst``."""

    def __init__(self, conn: Connection, name: Direction) -> None:
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


class Connection:
    def __init__(
        self, proxy: Owner, client: socket.socket, faults: Sequence[Fault], seed: int
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

    def attached(self, fault: Fault) -> bool:
        return any(f is fault for f, _ in self.faults)

    def _action(self, fault: Fault, d: _Direction) -> Callable[[], Any]:
        async def act() -> bool:
            """Returns whether the direction's writer must stop."""
            if not self.attached(fault):
                # Healed while the bytes before the fault's cut were delayed or
                # written: the fault must not outlive heal().
                return False
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
