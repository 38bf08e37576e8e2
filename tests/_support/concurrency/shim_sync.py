"""The testing hook's ``shim_sync`` half (see :mod:`_support.concurrency`)."""

from __future__ import annotations

from connect_python._io import sync_net
from connect_python._io.shim_sync import (
    Background,
    CallScope,
    Event,
    Lock,
    current_time,
    sleep,
)

SyncBackend = sync_net.SyncBackend

__all__ = ["SyncBackend", "Background", "CallScope", "Event", "Lock", "current_time", "sleep"]
