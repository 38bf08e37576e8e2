"""Helpers for the unit tests of the sans-IO Connect protocol object: a
method of each kind over ``StringValue``, a protocol with test defaults, calls
already past their response head, and bytes in the Connect wire format."""

from __future__ import annotations

import json
from collections.abc import Sequence

from google.protobuf import wrappers_pb2

from connect_python import Headers, IdempotencyLevel, MethodInfo, StreamType
from connect_python.protocol.connect import ConnectCall, ConnectProtocol
from connect_python.protocol.envelope import FLAG_END_STREAM, encode_envelope

S = wrappers_pb2.StringValue
BASE = "http://127.0.0.1:8080/base"


def method(
    kind: StreamType = StreamType.UNARY,
    idempotency: IdempotencyLevel = IdempotencyLevel.UNKNOWN,
) -> MethodInfo[S, S]:
    return MethodInfo("pkg.v1.Svc", "Do", S, S, kind, idempotency)


UNARY = method()
GET_OK = method(idempotency=IdempotencyLevel.NO_SIDE_EFFECTS)
SERVER = method(StreamType.SERVER_STREAM)
CLIENT = method(StreamType.CLIENT_STREAM)
BIDI = method(StreamType.BIDI_STREAM)


def protocol(**options: object) -> ConnectProtocol:
    options.setdefault("base_url", BASE)
    options.setdefault("accept_compression", ["gzip"])
    return ConnectProtocol(**options)  # type: ignore[arg-type]


def raw(items: dict[str, str] | Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    pairs = items.items() if isinstance(items, dict) else items
    return [(k.encode(), v.encode()) for k, v in pairs]


def headers_of(raw_headers: list[tuple[bytes, bytes]]) -> Headers:
    return Headers.from_raw(raw_headers)


def msg(value: str) -> bytes:
    return S(value=value).SerializeToString()


def env(payload: bytes, flags: int = 0) -> bytes:
    return encode_envelope(flags, payload)


def end_stream(obj: object, flags: int = FLAG_END_STREAM) -> bytes:
    return encode_envelope(flags, json.dumps(obj).encode())


def values(messages: Sequence[S]) -> list[str]:
    return [m.value for m in messages]


def feed(call: ConnectCall[S, S], data: bytes) -> list[S]:
    """Give ``data`` to the call; every message it completed, decoded."""
    call.response_data(data)
    return [call.decode(flags, payload) for flags, payload in call.messages()]


def stream_call(
    kind: MethodInfo[S, S] = SERVER, ctype: str = "application/connect+proto", **options: object
) -> ConnectCall[S, S]:
    call = protocol(**options).call(kind)
    call.request_head(message=S(value="req")) if kind is SERVER else call.request_head()
    call.response_head(200, raw({"content-type": ctype}))
    return call


def unary_call(
    status: int, head: dict[str, str] | list[tuple[str, str]], **options: object
) -> ConnectCall[S, S]:
    call = protocol(**options).call(UNARY)
    call.request_head(message=S(value="req"))
    call.response_head(status, raw(head))
    return call
