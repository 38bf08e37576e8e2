"""Static description of an RPC method, built once per method by generated code."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message

__all__ = ["IdempotencyLevel", "MethodInfo", "StreamType"]

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


class StreamType(enum.Enum):
    """The shape of an RPC."""

    UNARY = "unary"
    CLIENT_STREAM = "client_stream"
    SERVER_STREAM = "server_stream"
    BIDI_STREAM = "bidi_stream"


class IdempotencyLevel(enum.Enum):
    """The ``idempotency_level`` option of a method."""

    UNKNOWN = 0
    NO_SIDE_EFFECTS = 1
    IDEMPOTENT = 2


@dataclass(frozen=True)
class MethodInfo(Generic[Req, Res]):
    """A method: service, name, message types, shape and idempotency.

    ``path`` (``/package.Service/Method``) is computed once.
    """

    service: str
    name: str
    input: type[Req]
    output: type[Res]
    stream_type: StreamType = StreamType.UNARY
    idempotency_level: IdempotencyLevel = IdempotencyLevel.UNKNOWN
    path: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", f"/{self.service}/{self.name}")
