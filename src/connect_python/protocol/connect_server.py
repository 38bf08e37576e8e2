"""The server side of the Connect protocol, sans-IO: what the testing kit's
in-process server (``runtime_async._fake_exchange``) reads from a request and
writes as a response, so that a client talking to it runs the same protocol
code as over the network.

Requests: unary POST (``application/proto``/``json``, ``Content-Encoding``),
unary GET (the ``connect``, ``encoding``, ``base64``, ``compression`` and
``message`` query parameters), streams (``application/connect+proto``/``json``,
enveloped messages, ``Connect-Content-Encoding``); ``Connect-Timeout-Ms``.
Responses are never compressed (a server may always answer uncompressed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._code import Code, http_status_from_code
from .._errors import ConnectError, error_to_json
from .._headers import Headers
from .._method import MethodInfo, StreamType
from .codec import Codec
from .compression import Compression, compression_for_name
from .envelope import FLAG_COMPRESSED, FLAG_END_STREAM, EnvelopeDecoder, encode_envelope
from .options import codec_for_name

__all__ = [
    "HandlerContext",
    "RequestReader",
    "ServerCall",
    "codec_for_call",
    "compression_for_call",
    "decode_unary",
    "end_stream",
    "open_call",
    "stream_message",
    "stream_response_head",
    "unary_error_response",
    "unary_response",
]

RawHeaders = list[tuple[bytes, bytes]]

_MAX_TIMEOUT_DIGITS = 10


@dataclass
class HandlerContext:
    """What a handler of the testing kit knows of its call, and what it
    sends besides messages.

    ``request_headers`` are the headers the client sent; ``timeout`` the
    deadline it announced, in seconds from the start of the call (``None``:
    none). A handler adds to ``response_headers`` (sent with the first
    response message, or with the error or end) and ``response_trailers``
    (sent at the end); an error it raises carries its own ``metadata`` too.
    ``cancelled`` turns true once the client abandoned the call or the
    deadline passed.
    """

    method: MethodInfo[Any, Any]
    request_headers: Headers
    timeout: float | None = None
    response_headers: Headers = field(default_factory=Headers)
    response_trailers: Headers = field(default_factory=Headers)
    cancelled: bool = False


@dataclass
class ServerCall:
    """A request head, understood: the codec and compression the client
    used, and for a unary call sent with GET, its message."""

    method: MethodInfo[Any, Any]
    codec: Codec
    compression: Compression | None
    timeout: float | None
    #: A GET's request message (not yet decoded), else ``None``.
    query_message: bytes | None = None


def _bad(message: str) -> ConnectError:
    return ConnectError(Code.INVALID_ARGUMENT, message)


def _timeout(headers: Headers) -> float | None:
    value = headers.get("connect-timeout-ms")
    if value is None:
        return None
    if not value or len(value) > _MAX_TIMEOUT_DIGITS or not value.isascii() or not value.isdigit():
        raise _bad(f"invalid connect-timeout-ms {value!r}")
    return int(value) / 1000


def compression_for_call(name: str | None) -> Compression | None:
    """The compression a request names (``None``: identity); an unknown one is
    ``UNIMPLEMENTED``."""
    if name is None or name == "identity":
        return None
    found = compression_for_name(name)
    if found is None:
        raise ConnectError(Code.UNIMPLEMENTED, f"unknown compression {name!r}")
    return found


def codec_for_call(name: str, method: MethodInfo[Any, Any]) -> Codec:
    """The codec a request names; an unsupported one is ``INTERNAL``."""
    try:
        return codec_for_name(name, method.messages)
    except ValueError:
        raise ConnectError(Code.INTERNAL, f"unsupported codec {name!r}") from None


def open_call(
    method: MethodInfo[Any, Any], verb: bytes, target: bytes, headers: Headers
) -> ServerCall:
    """Check a request head for ``method``; raises ``ConnectError`` for a
    request the server rejects (the client sees it as the server's error)."""
    timeout = _timeout(headers)
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if method.stream_type is StreamType.UNARY:
        if verb == b"GET":
            query = parse_qs(urlsplit(target.decode("latin-1")).query, keep_blank_values=True)

            def param(name: str) -> str | None:
                values = query.get(name)
                return values[0] if values else None

            text = param("message") or ""
            try:
                if param("base64") == "1":
                    message = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                else:
                    message = text.encode("utf-8")
            except ValueError as exc:
                raise _bad(f"invalid GET message: {exc}") from None
            return ServerCall(
                method,
                codec_for_call(param("encoding") or "proto", method),
                compression_for_call(param("compression")),
                timeout,
                message,
            )
        if not content_type.startswith("application/") or content_type.startswith(
            "application/connect+"
        ):
            raise ConnectError(Code.UNKNOWN, f"unsupported content-type {content_type!r}")
        name = content_type.removeprefix("application/")
        return ServerCall(
            method,
            codec_for_call(name, method),
            compression_for_call(headers.get("content-encoding")),
            timeout,
        )
    if not content_type.startswith("application/connect+"):
        raise ConnectError(Code.UNKNOWN, f"unsupported content-type {content_type!r}")
    name = content_type.removeprefix("application/connect+")
    return ServerCall(
        method,
        codec_for_call(name, method),
        compression_for_call(headers.get("connect-content-encoding")),
        timeout,
    )


def decode_unary(call: ServerCall, body: bytes) -> Any:
    """The request message of a unary call (``body``: a POST's body)."""
    data = call.query_message if call.query_message is not None else body
    if call.compression is not None:
        data = call.compression.decompress(data, None)
    decoded: Any = call.codec.decode(data, call.method.input)
    return decoded


class RequestReader:
    """Request messages of a streaming call, from its body as it arrives."""

    __slots__ = ("_call", "_envelopes")

    def __init__(self, call: ServerCall) -> None:
        self._call = call
        self._envelopes = EnvelopeDecoder(known_flags=FLAG_COMPRESSED)

    def feed(self, data: bytes) -> Iterator[Any]:
        """The messages completed by ``data``."""
        envelopes = self._envelopes
        envelopes.feed(data)
        call = self._call
        while (envelope := envelopes.next()) is not None:
            flags, payload = envelope
            if flags & FLAG_COMPRESSED:
                if call.compression is None:
                    raise ConnectError(
                        Code.INTERNAL, "compressed message without connect-content-encoding"
                    )
                payload = call.compression.decompress(payload, None)
            decoded: Any = call.codec.decode(payload, call.method.input)
            yield decoded

    def end(self) -> None:
        """The body ended: raise if it stopped inside a message."""
        if self._envelopes.pending:
            raise _bad("request body ended inside a message")


def _raw(headers: Headers) -> RawHeaders:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.multi_items()]


def unary_response(
    call: ServerCall, message: Any, headers: Headers, trailers: Headers
) -> tuple[int, RawHeaders, bytes]:
    """(status, headers, body) of a unary call's success."""
    raw = [(b"content-type", f"application/{call.codec.name}".encode())]
    raw += _raw(headers)
    raw += [(b"trailer-" + k, v) for k, v in _raw(trailers)]
    return 200, raw, call.codec.encode(message)


def unary_error_response(
    error: ConnectError, headers: Headers, trailers: Headers
) -> tuple[int, RawHeaders, bytes]:
    """(status, headers, body) of a unary call's error (its metadata are sent
    as headers, as connect-go does)."""
    raw = [(b"content-type", b"application/json")]
    raw += _raw(headers) + _raw(error.metadata)
    raw += [(b"trailer-" + k, v) for k, v in _raw(trailers)]
    body = json.dumps(error_to_json(error)).encode()
    return http_status_from_code(error.code), raw, body


def stream_response_head(call: ServerCall, headers: Headers) -> tuple[int, RawHeaders]:
    """(status, headers) of a streaming call's response."""
    raw = [(b"content-type", f"application/connect+{call.codec.name}".encode())]
    return 200, raw + _raw(headers)


def stream_message(call: ServerCall, message: Any) -> bytes:
    """One response message of a streaming call, enveloped."""
    return encode_envelope(0, call.codec.encode(message))


def end_stream(error: ConnectError | None, trailers: Headers) -> bytes:
    """The end-stream message: trailers (and an error's metadata) and the error."""
    metadata: dict[str, list[str]] = {}
    items = trailers.multi_items() + (error.metadata.multi_items() if error is not None else [])
    for name, value in items:
        metadata.setdefault(name, []).append(value)
    obj: dict[str, object] = {}
    if error is not None:
        obj["error"] = error_to_json(error)
    if metadata:
        obj["metadata"] = metadata
    return encode_envelope(FLAG_END_STREAM, json.dumps(obj).encode())
