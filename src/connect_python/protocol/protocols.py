"""The protocols a client can speak, by name (:func:`client_protocol`)."""

from __future__ import annotations

from typing import Any

from . import ClientProtocol
from .connect import ConnectProtocol
from .grpc import GrpcProtocol
from .grpc_web import GrpcWebProtocol
from .options import ProtocolOptions

__all__ = ["PROTOCOLS", "client_protocol"]

#: The protocol classes by the name a client's ``protocol=`` option gives.
PROTOCOLS: dict[str, type[ProtocolOptions]] = {
    "connect": ConnectProtocol,
    "grpc": GrpcProtocol,
    "grpc-web": GrpcWebProtocol,
}


def client_protocol(name: str, **options: Any) -> ClientProtocol:
    """The protocol ``name`` configured with ``options`` (the keywords of
    :class:`~connect_python.protocol.options.ProtocolOptions`); an unknown
    name raises ``ValueError``."""
    found = PROTOCOLS.get(name)
    if found is None:
        known = ", ".join(repr(known) for known in PROTOCOLS)
        raise ValueError(f"protocol must be one of {known}, got {name!r}")
    made: ClientProtocol = found(**options)  # type: ignore[assignment]
    return made
