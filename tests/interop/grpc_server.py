"""``connectpy.testing.v1.TestService`` served by grpcio (the gRPC project's own
Python server), on 127.0.0.1, in plain text (HTTP/2 with prior knowledge).

The handlers follow the service's proto comments as far as the interop tests
need them: Echo (payload, ``response_size``, request headers reported back),
Stream (``count`` messages of ``size`` bytes), Upload (counts), Chat (one reply
per message), each with its ``Outcome``: response headers and trailers
(``name: value``; a ``-bin`` name's value is the base64 of the bytes sent), a
delay, an error with a message and one detail (an ``EchoResponse`` holding
``detail_text``). The error detail travels as grpcio's applications send it:
a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer, encoded
here by hand (the protobuf wire format), independently of the client under test.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
from connectpy.testing.v1 import testing_pb2 as pb
from google.protobuf import any_pb2

__all__ = ["GrpcioServer"]

SERVICE = "connectpy.testing.v1.TestService"

#: Connect's code names (the ``Outcome.error_code`` vocabulary) as grpcio's codes.
_CODES = {code.name.lower(): code for code in grpc.StatusCode}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _status_bytes(code: grpc.StatusCode, message: str, detail: str) -> bytes:
    """A serialized ``google.rpc.Status`` (code = 1, message = 2, details = 3)."""
    packed = any_pb2.Any()
    packed.Pack(pb.EchoResponse(payload=detail.encode()))
    number = code.value[0]
    return (
        _varint(1 << 3)
        + _varint(number)
        + _field(2, message.encode())
        + _field(3, packed.SerializeToString())
    )


def _metadata(entries: Any) -> list[tuple[str, str | bytes]]:
    out: list[tuple[str, str | bytes]] = []
    for entry in entries:
        name, _, value = entry.partition(": ")
        if name.endswith("-bin"):
            out.append((name, base64.b64decode(value + "=" * (-len(value) % 4))))
        else:
            out.append((name, value))
    return out


class _Calls:
    """What every handler does with a request's ``Outcome``."""

    @staticmethod
    def begin(outcome: pb.Outcome, context: grpc.ServicerContext) -> None:
        if outcome.response_headers:
            context.send_initial_metadata(_metadata(outcome.response_headers))
        if outcome.response_trailers:
            context.set_trailing_metadata(_metadata(outcome.response_trailers))

    @staticmethod
    def delay(outcome: pb.Outcome) -> None:
        if outcome.delay_ms:
            time.sleep(outcome.delay_ms / 1000)

    @staticmethod
    def end(outcome: pb.Outcome, context: grpc.ServicerContext) -> None:
        if not outcome.error_code:
            return
        code = _CODES[outcome.error_code]
        if outcome.detail_text:
            trailers = list(_metadata(outcome.response_trailers))
            status = _status_bytes(code, outcome.error_message, outcome.detail_text)
            context.set_trailing_metadata([*trailers, ("grpc-status-details-bin", status)])
        context.abort(code, outcome.error_message)


def _echo(request: pb.EchoRequest, context: grpc.ServicerContext) -> pb.EchoResponse:
    _Calls.begin(request.outcome, context)
    _Calls.delay(request.outcome)
    _Calls.end(request.outcome, context)
    headers = []
    for name, value in sorted(context.invocation_metadata()):
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        headers.append(f"{name}: {value}")
    remaining = context.time_remaining()
    if remaining is not None:  # the deadline grpcio read from grpc-timeout
        headers.append(f"x-time-remaining: {remaining:.3f}")
    payload = request.payload
    if request.response_size:
        payload = (bytes(range(256)) * (request.response_size // 256 + 1))[: request.response_size]
    return pb.EchoResponse(payload=payload, request_headers=headers, http_proto="HTTP/2.0")


def _stream(
    request: pb.StreamRequest, context: grpc.ServicerContext
) -> Iterator[pb.StreamResponse]:
    _Calls.begin(request.outcome, context)
    payload = (bytes(range(256)) * (request.size // 256 + 1))[: request.size]
    for index in range(request.count):
        _Calls.delay(request.outcome)
        if not context.is_active():
            return
        yield pb.StreamResponse(index=index, payload=payload)
    _Calls.end(request.outcome, context)


def _upload(
    requests: Iterator[pb.UploadRequest], context: grpc.ServicerContext
) -> pb.UploadResponse:
    messages = size = 0
    outcome: pb.Outcome | None = None
    for request in requests:
        messages += 1
        size += len(request.chunk)
        if outcome is None and request.HasField("outcome"):
            outcome = request.outcome
    if outcome is not None:
        _Calls.begin(outcome, context)
        _Calls.delay(outcome)
        _Calls.end(outcome, context)
    return pb.UploadResponse(messages=messages, bytes=size)


def _chat(
    requests: Iterator[pb.ChatRequest], context: grpc.ServicerContext
) -> Iterator[pb.ChatResponse]:
    for index, request in enumerate(requests):
        if index == 0 and request.HasField("outcome"):
            _Calls.begin(request.outcome, context)
        yield pb.ChatResponse(text=request.text, index=index)
        if request.HasField("outcome"):
            _Calls.delay(request.outcome)
            _Calls.end(request.outcome, context)


def _handlers() -> grpc.GenericRpcHandler:
    def codec(kind: Any) -> dict[str, Any]:
        return {
            "request_deserializer": kind.FromString,
            "response_serializer": lambda m: m.SerializeToString(),
        }

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(_echo, **codec(pb.EchoRequest)),
            "Stream": grpc.unary_stream_rpc_method_handler(_stream, **codec(pb.StreamRequest)),
            "Upload": grpc.stream_unary_rpc_method_handler(_upload, **codec(pb.UploadRequest)),
            "Chat": grpc.stream_stream_rpc_method_handler(_chat, **codec(pb.ChatRequest)),
        },
    )


class GrpcioServer:
    """A running grpcio server; ``url`` is its ``http://`` base URL (h2c)."""

    __test__ = False

    def __init__(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self._server.add_generic_rpc_handlers((_handlers(),))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> GrpcioServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=None).wait(10)
