"""The transport modes end-to-end tests run in, against the Go test server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .server import ServerInfo

__all__ = ["MODES", "ServerMode", "server_mode_for"]

MODES = ("h1", "h2c", "h2-tls")


@dataclass(frozen=True)
class ServerMode:
    """A base URL and the transport keyword arguments that reach it a given way.

    Build the transport in the test (``AsyncTransport(**mode.transport_kwargs)``)
    so the sync twin of the test gets ``Transport(**mode.transport_kwargs)``.
    Unpacks as ``base_url, transport_kwargs = mode``. ``http_proto`` is what the
    server reports in ``EchoResponse.http_proto`` for this mode.
    """

    name: str
    base_url: str
    transport_kwargs: dict[str, Any] = field(default_factory=dict)
    http_proto: str = "HTTP/1.1"

    def __iter__(self) -> Iterator[Any]:
        return iter((self.base_url, self.transport_kwargs))


def server_mode_for(name: str, info: ServerInfo) -> ServerMode:
    """The :class:`ServerMode` called ``name`` (one of :data:`MODES`)."""
    if name == "h1":
        return ServerMode(name, info.http, {"http2": False}, "HTTP/1.1")
    if name == "h2c":
        return ServerMode(name, info.http, {"h2c": True}, "HTTP/2.0")
    if name == "h2-tls":
        return ServerMode(name, info.https, {"ca_certs": info.ca_pem}, "HTTP/2.0")
    raise ValueError(f"unknown server mode {name!r}; expected one of {MODES}")
