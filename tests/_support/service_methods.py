"""The methods of ``connectpy.testing.v1.TestService`` as ``MethodInfo``, with
the messages of either runtime (see :mod:`.methods` and :mod:`.methods_pb`)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from connect_python import IdempotencyLevel, MessageRuntime, MethodInfo, StreamType

__all__ = ["SERVICE", "service_methods"]

SERVICE = "connectpy.testing.v1.TestService"

#: (method, its messages' name stem, stream type, idempotency level) of every method.
_METHODS = (
    ("Echo", "Echo", StreamType.UNARY, IdempotencyLevel.UNKNOWN),
    ("EchoGet", "Echo", StreamType.UNARY, IdempotencyLevel.NO_SIDE_EFFECTS),
    ("Stream", "Stream", StreamType.SERVER_STREAM, IdempotencyLevel.UNKNOWN),
    ("Upload", "Upload", StreamType.CLIENT_STREAM, IdempotencyLevel.UNKNOWN),
    ("Chat", "Chat", StreamType.BIDI_STREAM, IdempotencyLevel.UNKNOWN),
)


def service_methods(pb: ModuleType, messages: MessageRuntime) -> dict[str, MethodInfo[Any, Any]]:
    """Every method by name, its messages the classes of ``pb``."""
    return {
        name: MethodInfo(
            SERVICE,
            name,
            getattr(pb, f"{stem}Request"),
            getattr(pb, f"{stem}Response"),
            stream_type=stream_type,
            idempotency_level=idempotency,
            messages=messages,
        )
        for name, stem, stream_type, idempotency in _METHODS
    }
