"""The faults the fault proxy injects, as frozen descriptions, and its counters.

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
client).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "DOWN",
    "UP",
    "Bandwidth",
    "Blackhole",
    "Direction",
    "Fault",
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
