"""The ``proto`` and ``json`` codecs for Buf's ``protobuf-py`` messages (``_pb``
modules: ``to_binary``/``from_binary``, ``to_json``/``from_json``).

``protobuf-py`` is imported when a JSON codec first needs its registry, never
when this module is imported: the binary codec only calls the messages' own
methods.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .codec import unmarshal_error

if TYPE_CHECKING:
    from protobuf import Registry

__all__ = ["ProtobufPyJSONCodec", "ProtobufPyProtoCodec"]

M = TypeVar("M")

#: The well-known types any JSON message may carry in a ``google.protobuf.Any``.
_WKT_FILES = ("any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers")


class ProtobufPyProtoCodec:
    """The binary protobuf codec (``proto``) for ``protobuf-py`` messages."""

    name = "proto"

    def encode(self, message: Any) -> bytes:
        """Serialize ``message``."""
        return cast(bytes, message.to_binary())

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; a bad message raises ``INTERNAL``."""
        parse: Any = message_type  # annotated, not cast: no call per message
        try:
            message: M = parse.from_binary(data)
            return message
        except (ValueError, TypeError) as exc:
            raise unmarshal_error(message_type, exc) from exc


@functools.cache
def _well_known() -> Registry:
    import importlib

    from protobuf import Registry

    modules = (importlib.import_module(f"protobuf.wkt.google.protobuf.{n}_pb") for n in _WKT_FILES)
    return Registry(*(module.desc() for module in modules))


class ProtobufPyJSONCodec:
    """The protobuf JSON codec (``json``) for ``protobuf-py`` messages.

    ``google.protobuf.Any`` values (and extensions) are resolved with
    ``registry``; by default each message type gets one holding the well-known
    types and every type of the message's file and its imports (built on first
    use). Unknown fields in responses are ignored by default, as with the
    Google runtime's codec; pass ``ignore_unknown_fields=False`` to reject them.
    """

    name = "json"

    def __init__(
        self, *, ignore_unknown_fields: bool = True, registry: Registry | None = None
    ) -> None:
        self.ignore_unknown_fields = ignore_unknown_fields
        self.registry = registry
        self._registries: dict[type[object], Registry] = {}

    def _registry(self, message_type: type[object]) -> Registry:
        if self.registry is not None:
            return self.registry
        found = self._registries.get(message_type)
        if found is None:
            from protobuf import Registry

            desc = cast(Any, message_type).desc()
            found = self._registries[message_type] = Registry(_well_known(), desc.file)
        return found

    def encode(self, message: Any) -> bytes:
        """Serialize ``message`` as compact JSON."""
        registry = self._registry(type(message))
        return cast(str, message.to_json(registry=registry)).encode()

    def decode(self, data: bytes, message_type: type[M]) -> M:
        """Parse ``data`` as ``message_type``; bad JSON raises ``INTERNAL``."""
        try:
            return cast(
                M,
                cast(Any, message_type).from_json(
                    data,
                    ignore_unknown_fields=self.ignore_unknown_fields,
                    registry=self._registry(message_type),
                ),
            )
        except (ValueError, TypeError) as exc:
            raise unmarshal_error(message_type, exc) from exc
