"""Message codecs: binary protobuf and protobuf JSON, for both message runtimes.

A client's codec is named (``proto``, ``json``) or given as a :class:`Codec`.
A named codec has one implementation per message runtime (Google's
``protobuf`` here, Buf's ``protobuf-py`` in :mod:`.codec_protobuf_py`); each
call uses the one of its method's :attr:`~connect_python.MethodInfo.messages`
(:func:`.options.codec_for_name`), looked up once per call, so no message is ever
inspected to find out which library made it.

Neither runtime is imported when this module is: a program that only has
``protobuf-py`` installed never needs Google's package, and the other way round.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast

from .._code import Code
from .._errors import ConnectError

__all__ = ["Codec", "JSONCodec", "ProtoCodec", "unmarshal_error"]

M = TypeVar("M")


class Codec(Protocol):
    """Turns messages into bytes and back. ``name`` goes into the content type."""

    @property
    def name(self) -> str: ...

    def encode(self, message: Any) -> bytes: ...

    def decode(self, data: bytes, message_type: type[M]) -> M: ...


def unmarshal_error(message_type: type[object], exc: Exception) -> ConnectError:
    """The error for a response message that does not decode: ``INTERNAL``."""
    return ConnectError(Code.INTERNAL, f"failed to unmarshal {message_type.__name__}: {exc}")


class ProtoCodec:
    """The binary protobuf codec (``proto``) for Google ``protobuf`` messages."""

    name = "proto"

    def encode(self, message: Any) -> bytes:
        """Serialize ``message``."""
        return cast(bytes, message.SerializeToString())

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; a bad message raises ``INTERNAL``."""
        # Annotated assignments rather than typing.cast: no call per message.
        parse: Any = message_type
        try:
            message: M = parse.FromString(data)
            return message
        # DecodeError, or a ValueError (a RuntimeWarning under -W error) on bad
        # UTF-8; all of them are Exceptions, and naming DecodeError here would
        # import Google's package.
        except Exception as exc:
            raise unmarshal_error(message_type, exc) from exc


@functools.cache
def _json_format() -> ModuleType:
    from google.protobuf import json_format

    return json_format


class JSONCodec:
    """The protobuf JSON codec (``json``) for Google ``protobuf`` messages.

    Unknown fields in responses are ignored by default, so a client built from an
    older schema keeps working against a newer server; pass
    ``ignore_unknown_fields=False`` to reject them.
    """

    name = "json"

    def __init__(self, *, ignore_unknown_fields: bool = True) -> None:
        self.ignore_unknown_fields = ignore_unknown_fields

    def encode(self, message: Any) -> bytes:
        """Serialize ``message`` as compact JSON."""
        return cast(str, _json_format().MessageToJson(message, indent=None)).encode()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; bad JSON raises ``INTERNAL``."""
        message = message_type()
        json_format = _json_format()
        try:
            json_format.Parse(data, message, ignore_unknown_fields=self.ignore_unknown_fields)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise unmarshal_error(message_type, exc) from exc
        return message
