"""Message codecs: binary protobuf and protobuf JSON."""

from __future__ import annotations

from typing import Protocol, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from .._code import Code
from .._errors import ConnectError

__all__ = ["Codec", "JSONCodec", "ProtoCodec", "codec_for_name"]

M = TypeVar("M", bound=Message)


class Codec(Protocol):
    """Turns messages into bytes and back. ``name`` goes into the content type."""

    @property
    def name(self) -> str: ...

    def encode(self, message: Message) -> bytes: ...

    def decode(self, data: bytes, message_type: type[M]) -> M: ...


class ProtoCodec:
    """The binary protobuf codec (``proto``)."""

    name = "proto"

    def encode(self, message: Message) -> bytes:
        """Serialize ``message``."""
        return message.SerializeToString()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; a bad message raises ``INTERNAL``."""
        message = message_type()
        try:
            message.ParseFromString(data)
        except (DecodeError, RuntimeWarning, ValueError) as exc:
            raise ConnectError(
                Code.INTERNAL, f"failed to unmarshal {message_type.__name__}: {exc}"
            ) from exc
        return message


class JSONCodec:
    """The protobuf JSON codec (``json``).

    Unknown fields in responses are ignored by default, so a client built from an
    older schema keeps working against a newer server; pass
    ``ignore_unknown_fields=False`` to reject them.
    """

    name = "json"

    def __init__(self, *, ignore_unknown_fields: bool = True) -> None:
        self.ignore_unknown_fields = ignore_unknown_fields

    def encode(self, message: Message) -> bytes:
        """Serialize ``message`` as compact JSON."""
        return json_format.MessageToJson(message, indent=None).encode()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; bad JSON raises ``INTERNAL``."""
        message = message_type()
        try:
            json_format.Parse(data, message, ignore_unknown_fields=self.ignore_unknown_fields)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise ConnectError(
                Code.INTERNAL, f"failed to unmarshal {message_type.__name__}: {exc}"
            ) from exc
        return message


def codec_for_name(name: str) -> Codec:
    """The built-in codec called ``name`` (``proto`` or ``json``)."""
    if name == "proto":
        return ProtoCodec()
    if name == "json":
        return JSONCodec()
    raise ValueError(f"unknown codec {name!r} (expected 'proto' or 'json')")
