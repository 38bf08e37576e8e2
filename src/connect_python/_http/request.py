"""One HTTP request, as the runtime hands it to the transport: a plain value,
no I/O, nothing of any RPC protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["Request", "authority_of"]


def authority_of(scheme: bytes, host: bytes, port: int) -> bytes:
    """``host[:port]`` as the ``Host`` header / ``:authority`` carry it (the
    scheme's default port is left out)."""
    default = 443 if scheme == b"https" else 80
    return host if port == default else host + b":" + str(port).encode()


class Request(NamedTuple):
    """An HTTP request: method, URL parts, headers, and the body when it is
    known whole (``body is None``: the caller streams it over the exchange).

    ``deadline`` is the absolute time (the runtime's clock) by which the
    exchange must be over, or ``None``. ``http2_only`` names what needs
    HTTP/2 (``"the gRPC protocol"``): the transport then refuses to send the
    request over HTTP/1.1; empty, either version does. ``open_timeout`` and
    ``idle_timeout`` are the call's (seconds, ``None``: none; see
    ``connect_python._timeouts``). A tuple, so making one costs one
    allocation; never changed once made.
    """

    method: bytes
    scheme: bytes
    host: bytes
    port: int
    #: The request target: path and query.
    target: bytes
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes | None = None
    deadline: float | None = None
    http2_only: str = ""
    open_timeout: float | None = None
    idle_timeout: float | None = None

    @property
    def authority(self) -> bytes:
        """``host[:port]``, the default port omitted (the transport computes
        it once per origin, not per request)."""
        return authority_of(self.scheme, self.host, self.port)
