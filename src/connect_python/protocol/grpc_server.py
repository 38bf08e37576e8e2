"""The server side of gRPC and gRPC-Web, sans-IO, as the testing kit's
handlers answer them (the Connect side is :mod:`.connect_server`).

Every message travels enveloped (unary calls too), so request bodies are read
with :class:`~.connect_server.RequestReader` and each response message is one
envelope (:func:`~.connect_server.stream_message`). The status ends the
response: as HTTP trailers for gRPC, as a trailers frame at the end of the
body for gRPC-Web (:func:`end_frame`).
"""

from __future__ import annotations

from typing import Any

from .._binary import encode_binary_header
from .._code import Code
from .._errors import ConnectError
from .._headers import Headers
from .._method import MethodInfo
from .connect_server import RawHeaders, ServerCall, codec_for_call, compression_for_call
from .envelope import encode_envelope
from .grpc_status import encode_status, percent_encode
from .grpc_web import FLAG_TRAILERS, encode_trailers

__all__ = ["end_frame", "grpc_response_head", "is_grpc", "open_grpc_call", "status_trailers"]

_GRPC = "application/grpc"
_GRPC_WEB = "application/grpc-web"
#: grpc-timeout units, in seconds.
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_grpc(headers: Headers) -> bool:
    """Whether a request is gRPC or gRPC-Web (by its content type)."""
    return _media_type(headers).startswith(_GRPC)


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    digits, unit = value[:-1], value[-1:]
    if not 1 <= len(digits) <= 8 or not digits.isascii() or not digits.isdigit():
        raise ConnectError(Code.INVALID_ARGUMENT, f"invalid grpc-timeout {value!r}")
    if unit not in _UNITS:
        raise ConnectError(Code.INVALID_ARGUMENT, f"invalid grpc-timeout {value!r}")
    return int(digits) * _UNITS[unit]


def open_grpc_call(method: MethodInfo[Any, Any], headers: Headers) -> tuple[ServerCall, bool]:
    """Check a gRPC or gRPC-Web request head for ``method``: the call and
    whether it is gRPC-Web. Raises ``ConnectError`` for a request the server
    rejects."""
    media = _media_type(headers)
    web = media.startswith(_GRPC_WEB)
    suffix = media.removeprefix(_GRPC_WEB if web else _GRPC)
    if suffix and not suffix.startswith("+"):
        raise ConnectError(Code.UNKNOWN, f"unsupported content-type {media!r}")
    codec = codec_for_call(suffix[1:] or "proto", method)
    compression = compression_for_call(headers.get("grpc-encoding"))
    return ServerCall(method, codec, compression, _timeout(headers.get("grpc-timeout"))), web


def grpc_response_head(call: ServerCall, headers: Headers, web: bool) -> tuple[int, RawHeaders]:
    """(status, headers) of a gRPC or gRPC-Web response."""
    media = (_GRPC_WEB if web else _GRPC) + "+" + call.codec.name
    raw = [(b"content-type", media.encode())]
    return 200, raw + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.multi_items()]


def status_trailers(error: ConnectError | None, trailers: Headers) -> Headers:
    """The trailers that end a call: the status (``grpc-status``, the
    percent-encoded ``grpc-message``, details in ``grpc-status-details-bin``),
    then the handler's trailers and the error's metadata."""
    out = Headers()
    if error is None:
        out.add("grpc-status", "0")
    else:
        out.add("grpc-status", str(error.code.number))
        out.add("grpc-message", percent_encode(error.message))
        if error.details:
            status = encode_status(error.code.number, error.message, error.details)
            out.add("grpc-status-details-bin", encode_binary_header(status))
    out.extend(trailers)
    if error is not None:
        out.extend(error.metadata)
    return out


def end_frame(trailers: Headers) -> bytes:
    """gRPC-Web: the frame at the end of the body that holds ``trailers``."""
    return encode_envelope(FLAG_TRAILERS, encode_trailers(trailers))
