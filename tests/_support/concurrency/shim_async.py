"""The testing hook's ``shim_async`` half (see :mod:`_support.concurrency`)."""

from __future__ import annotations

from connect_python._io import async_net
from connect_python._io.shim_async import (
    Background,
    CallScope,
    Event,
    Lock,
    current_time,
    sleep,
)

AnyIOBackend = async_net.AnyIOBackend

__all__ = ["AnyIOBackend", "Background", "CallScope", "Event", "Lock", "current_time", "sleep"]
