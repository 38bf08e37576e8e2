"""The message runtime of the conformance client's generated code.

``CONFORMANCE_MESSAGES`` (environment) picks it: ``google`` (default: the
suite's code in ``_gen/``, Google ``_pb2`` messages) or ``protobuf-py``
(``_gen/protobuf_py/``, made by ``setup.sh``: ``protoc-gen-py``'s
``_pb`` messages and a service client generated with
``messages=protobuf-py``). The runner's own messages (``ClientCompatRequest``,
``ClientCompatResponse``) stay Google ``_pb2`` in both: they are the harness,
not the client under test. This module converts at that border: the request
messages the runner packs in ``Any`` become the client's message type, and the
payloads the client received become the runner's ``ConformancePayload``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

__all__ = ["GENERATED", "MESSAGES", "payload", "request_messages"]

HERE = Path(__file__).resolve().parent
MESSAGES = os.environ.get("CONFORMANCE_MESSAGES", "google")
if MESSAGES not in ("google", "protobuf-py"):
    raise SystemExit(f"CONFORMANCE_MESSAGES={MESSAGES!r}: expected 'google' or 'protobuf-py'")
#: The directory that goes first on ``sys.path``.
GENERATED = HERE / "_gen" / ("protobuf_py" if MESSAGES == "protobuf-py" else "")

_REQUEST_NAMES = {
    "Unary": "UnaryRequest",
    "IdempotentUnary": "IdempotentUnaryRequest",
    "ServerStream": "ServerStreamRequest",
    "ClientStream": "ClientStreamRequest",
    "BidiStream": "BidiStreamRequest",
    "Unimplemented": "UnimplementedRequest",
}


def _service_module() -> Any:
    """The module of the client's messages (imported once ``GENERATED`` is on the path)."""
    name = "service_pb" if MESSAGES == "protobuf-py" else "service_pb2"
    return importlib.import_module(f"connectrpc.conformance.v1.{name}")


def request_messages(method: str, packed: list[Any]) -> list[Any]:
    """The request messages of a case (``Any`` values of the runner), as the
    client's message type; ``ValueError`` for a type URL of another type."""
    cls = getattr(_service_module(), _REQUEST_NAMES[method])
    full_name = f"connectrpc.conformance.v1.{_REQUEST_NAMES[method]}"
    out = []
    for item in packed:
        if item.type_url.rpartition("/")[2] != full_name:
            raise ValueError(f"cannot unpack {item.type_url} as {full_name}")
        out.append(
            cls.from_binary(item.value) if MESSAGES == "protobuf-py" else cls.FromString(item.value)
        )
    return out


def payload(message: Any) -> Any:
    """The runner's ``ConformancePayload`` of a response message (an empty one
    for a response without a payload)."""
    from connectrpc.conformance.v1 import service_pb2

    found = getattr(message, "payload", None)
    if found is None:
        return service_pb2.ConformancePayload()
    if MESSAGES == "protobuf-py":
        return service_pb2.ConformancePayload.FromString(found.to_binary())
    return found
