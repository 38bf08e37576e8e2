"""What a conformance test case asks for (:class:`Plan`) and what it saw (:class:`Outcome`).

Flavour-neutral: used by the client program (``client.py``) and by the runner
of one case (``runner_async.py`` and its generated sync twin).
"""

from __future__ import annotations

import sys
from typing import Any

from connectrpc.conformance.v1 import client_compat_pb2, config_pb2, service_connect, service_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message
from message_runtime import payload, request_messages

from connect_python import ConnectError, Headers

__all__ = [
    "UNARY_METHODS",
    "ClientSetupError",
    "Outcome",
    "Plan",
    "header_list",
    "log",
    "reached",
]

SERVICE = service_connect.CONFORMANCE_SERVICE_NAME
UNARY_METHODS = ("Unary", "IdempotentUnary", "Unimplemented")

_REQUEST_TYPES: dict[str, type[Message]] = {
    "Unary": service_pb2.UnaryRequest,
    "IdempotentUnary": service_pb2.IdempotentUnaryRequest,
    "ServerStream": service_pb2.ServerStreamRequest,
    "ClientStream": service_pb2.ClientStreamRequest,
    "BidiStream": service_pb2.BidiStreamRequest,
    "Unimplemented": service_pb2.UnimplementedRequest,
}

_PROTOCOLS = {
    config_pb2.PROTOCOL_UNSPECIFIED: "connect",
    config_pb2.PROTOCOL_CONNECT: "connect",
    config_pb2.PROTOCOL_GRPC: "grpc",
    config_pb2.PROTOCOL_GRPC_WEB: "grpc-web",
}

_COMPRESSIONS = {
    config_pb2.COMPRESSION_UNSPECIFIED: None,
    config_pb2.COMPRESSION_IDENTITY: None,
    config_pb2.COMPRESSION_GZIP: "gzip",
    config_pb2.COMPRESSION_BR: "br",
    config_pb2.COMPRESSION_ZSTD: "zstd",
}


def log(*parts: object) -> None:
    print("conformance client:", *parts, file=sys.stderr, flush=True)


class ClientSetupError(Exception):
    """The RPC could not even be attempted (reported as ``ClientErrorResult``)."""


class Plan:
    """One test, decoded from a ``ClientCompatRequest``."""

    def __init__(self, req: Any) -> None:
        self.req = req
        if req.protocol not in _PROTOCOLS:
            raise ClientSetupError(f"unsupported protocol {req.protocol}")
        self.protocol = _PROTOCOLS[req.protocol]
        if req.service and req.service != SERVICE:
            raise ClientSetupError(f"unknown service {req.service!r}")
        if req.method not in _REQUEST_TYPES:
            raise ClientSetupError(f"unknown method {req.method!r}")
        self.method: str = req.method
        # As the generated client's message type (message_runtime.py).
        try:
            self.messages: list[Any] = request_messages(req.method, list(req.request_messages))
        except ValueError as exc:
            raise ClientSetupError(str(exc)) from exc
        # Every value of every header, each sent once.
        self.headers: list[tuple[str, str]] = [
            (h.name, value) for h in req.request_headers for value in h.value
        ]
        self.timeout: float | None = req.timeout_ms / 1000 if req.HasField("timeout_ms") else None
        self.delay = req.request_delay_ms / 1000
        self.use_get: bool = req.use_get_http_method
        tls = bool(req.server_tls_cert)
        self.base_url = f"{'https' if tls else 'http'}://{req.host}:{req.port}"
        self.ca_certs: str | None = req.server_tls_cert.decode() if tls else None
        # mTLS: the certificate and key the runner made for this client, as PEM.
        creds = req.client_tls_creds if req.HasField("client_tls_creds") else None
        self.client_cert: str | None = creds.cert.decode() if creds else None
        self.client_key: str | None = creds.key.decode() if creds else None
        if req.http_version == config_pb2.HTTP_VERSION_1:
            self.http2 = False
        elif req.http_version == config_pb2.HTTP_VERSION_2:
            self.http2 = True
        else:
            raise ClientSetupError(f"unsupported HTTP version {req.http_version}")
        if req.codec == config_pb2.CODEC_JSON:
            self.codec = "json"
        elif req.codec in (config_pb2.CODEC_PROTO, config_pb2.CODEC_UNSPECIFIED):
            self.codec = "proto"
        else:
            raise ClientSetupError(f"unsupported codec {req.codec}")
        if req.compression not in _COMPRESSIONS:
            raise ClientSetupError(f"unsupported compression {req.compression}")
        self.compression = _COMPRESSIONS[req.compression]
        timing = req.cancel.WhichOneof("cancel_timing") if req.HasField("cancel") else None
        self.cancel_before_close = timing == "before_close_send"
        self.cancel_after_close: float | None = None
        if timing == "after_close_send_ms":
            self.cancel_after_close = req.cancel.after_close_send_ms / 1000
        elif req.HasField("cancel") and timing is None:
            self.cancel_after_close = 0.0  # no timing: cancel right after close-send
        self.cancel_after_responses: int | None = (
            req.cancel.after_num_responses if timing == "after_num_responses" else None
        )
        self.full_duplex = req.stream_type == config_pb2.STREAM_TYPE_FULL_DUPLEX_BIDI_STREAM

    @property
    def pool_key(self) -> tuple[bool, str | None, str | None]:
        return self.http2, self.ca_certs, self.client_cert

    def single(self) -> Any:
        if len(self.messages) != 1:
            raise ClientSetupError(f"{self.method} needs exactly one request message")
        return self.messages[0]

    def client_options(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "codec": self.codec,
            "send_compression": self.compression,
            # The server checks the encoding of every request, however small.
            "compress_min_bytes": 0,
        }


def header_list(headers: Headers) -> list[Any]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        grouped.setdefault(name, []).append(value)
    return [service_pb2.Header(name=name, value=values) for name, values in grouped.items()]


class Outcome:
    """What a test observed; becomes a ``ClientResponseResult``."""

    def __init__(self) -> None:
        self.headers = Headers()
        self.trailers = Headers()
        self.payloads: list[Any] = []
        # A cancellation the test asked for is here too, as CANCELED.
        self.error: ConnectError | None = None

    def add(self, message: Any) -> None:
        # An empty response message still counts as one (empty) payload.
        self.payloads.append(payload(message))

    def fail(self, error: ConnectError) -> None:
        self.error = error

    def result(self) -> Any:
        headers, trailers = self.headers, self.trailers
        if self.error is not None and not headers and not trailers:
            # Unary and client-stream errors carry the response metadata on the
            # error; the runner accepts it in either list.
            headers = self.error.metadata
        res = client_compat_pb2.ClientResponseResult(
            response_headers=header_list(headers),
            response_trailers=header_list(trailers),
            payloads=self.payloads,
        )
        if self.error is not None:
            err = self.error
            res.error.code = getattr(config_pb2, "CODE_" + err.code.name)
            if err.message:
                res.error.message = err.message
            for detail in err.details:
                res.error.details.append(
                    any_pb2.Any(type_url=detail.any.type_url, value=detail.value)
                )
        return res


def reached(plan: Plan, out: Outcome) -> bool:
    """Whether the test wants the call cancelled now (after N responses)."""
    wanted = plan.cancel_after_responses
    return wanted is not None and len(out.payloads) >= wanted
