"""Small socket helpers shared by both flavours."""

from __future__ import annotations

import select
import socket

__all__ = ["socket_is_readable"]


def socket_is_readable(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has data or EOF waiting (an idle connection the peer
    closed), checked without blocking. ``None`` or a closed socket counts as
    readable, so the connection is dropped."""
    if sock is None:
        return True
    try:
        fd = sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True
