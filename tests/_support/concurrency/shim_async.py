"""The testing hook's ``shim_async`` half (see :mod:`_support.concurrency`)."""

from __future__ import annotations

from connect_python._io.shim_async import (
    Background,
    CallScope,
    Event,
    Lock,
    current_time,
    sleep,
)

__all__ = ["Background", "CallScope", "Event", "Lock", "current_time", "sleep"]
