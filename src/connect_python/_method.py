"""Static description of an RPC method, built once per method by generated code."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

__all__ = ["IdempotencyLevel", "Message", "MessageRuntime", "MethodInfo", "StreamType"]

#: A request or response message of either message runtime. The runtime's codec,
#: chosen by :attr:`MethodInfo.messages`, is what knows how to handle it, so the
#: runtime needs neither library for its own types.
Message: TypeAlias = object

Req = TypeVar("Req")
Res = TypeVar("Res")


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


class MessageRuntime(enum.Enum):
    """The library a method's message classes come from (the generator's
    ``messages`` option): it picks the codec implementation of the client's
    ``proto`` or ``json`` codec for the method's calls."""

    #: Google's ``protobuf`` package: ``_pb2`` modules.
    GOOGLE = "google"
    #: Buf's ``protobuf-py`` package: ``_pb`` modules.
    PROTOBUF_PY = "protobuf-py"


@dataclass(frozen=True)
class MethodInfo(Generic[Req, Res]):
    """A method: service, name, message types, shape, idempotency and the
    runtime of its message types.

    ``path`` (``/package.Service/Method``) is computed once.
    """

    service: str
    name: str
    input: type[Req]
    output: type[Res]
    stream_type: StreamType = StreamType.UNARY
    idempotency_level: IdempotencyLevel = IdempotencyLevel.UNKNOWN
    messages: MessageRuntime = MessageRuntime.GOOGLE
    path: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", f"/{self.service}/{self.name}")
