"""Shared by the gRPC and gRPC-Web protocol unit tests: a method of each kind,
frames, raw header lines, and a call taken to its response body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from google.protobuf import wrappers_pb2

from connect_python import ConnectError, MethodInfo, StreamType
from connect_python.protocol import FAULT_FLAG
from connect_python.protocol.envelope import encode_envelope
from connect_python.protocol.grpc import GrpcCall, GrpcProtocol

S = wrappers_pb2.StringValue


def method(kind: StreamType = StreamType.UNARY) -> MethodInfo[S, S]:
    return MethodInfo("pkg.v1.Svc", "Do", S, S, kind)


UNARY = method()
SERVER = method(StreamType.SERVER_STREAM)
CLIENT = method(StreamType.CLIENT_STREAM)
BIDI = method(StreamType.BIDI_STREAM)

P = TypeVar("P", bound=GrpcProtocol)


def configured(kind: type[P], **options: object) -> P:
    """A protocol with gzip as the only accepted compression, unless told otherwise."""
    options.setdefault("accept_compression", ["gzip"])
    return kind(**options)  # type: ignore[arg-type]


def raw(items: dict[str, str] | Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    pairs = items.items() if isinstance(items, dict) else items
    return [(k.encode(), v.encode("latin-1")) for k, v in pairs]


def msg(value: str) -> bytes:
    return S(value=value).SerializeToString()


def env(value: str, flags: int = 0) -> bytes:
    """A message frame holding ``StringValue(value)``."""
    return encode_envelope(flags, msg(value))


def feed(call: GrpcCall[S, S], data: bytes) -> list[str]:
    """Give ``data`` to the call; the values of every message it completed."""
    call.response_data(data)
    return [call.decode(flags, payload).value for flags, payload in call.messages()]


def good_then_fault(call: GrpcCall[S, S]) -> tuple[list[str], ConnectError]:
    """The values of the good messages of the call's next batch, and the fault
    that its last entry (``FAULT_FLAG``) raises when decoded."""
    *good, last = call.messages()
    assert last[0] == FAULT_FLAG
    try:
        call.decode(*last)
    except ConnectError as exc:
        return [call.decode(*m).value for m in good], exc
    raise AssertionError("the last entry did not raise")


def take_response(
    call: GrpcCall[S, S], kind: MethodInfo[S, S], status: int, head: dict[str, str]
) -> None:
    """Send ``call``'s request head, then give it a response head."""
    call.request_head(message=S(value="req") if kind in (UNARY, SERVER) else None)
    call.response_head(status, raw(head))
