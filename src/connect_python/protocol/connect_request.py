"""The Connect protocol's request side, sans-IO: the headers every call of a
client sends (:class:`RequestTemplate`), ``Connect-Timeout-Ms``
(:func:`encode_timeout`) and a GET's query (:func:`get_query`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote

from .._binary import encode_binary_header
from .._headers import Headers, HeadersInput, merge_headers
from .._version import __version__
from .codec import Codec
from .compression import Compression

__all__ = [
    "PROTOCOL_VERSION",
    "USER_AGENT",
    "RequestTemplate",
    "encode_timeout",
    "get_query",
    "raw_headers",
]

PROTOCOL_VERSION = "1"
_MAX_TIMEOUT_MS = 9_999_999_999
USER_AGENT = f"connect-python/{__version__}"


def raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """``headers`` as the raw lines a transport sends; a ``bytes`` value of a
    ``-bin`` name (binary metadata) goes as unpadded base64."""
    return [
        (k.encode("latin-1"), v.encode("latin-1") if v.__class__ is str else _binary_value(k, v))
        for k, v in headers.multi_items()
    ]


def _binary_value(name: str, value: object) -> bytes:
    if name.endswith("-bin") and isinstance(value, (bytes, bytearray, memoryview)):
        return encode_binary_header(bytes(value)).encode("ascii")
    if isinstance(value, str):  # a str subclass
        return value.encode("latin-1")
    raise ValueError(
        f"header {name!r}: a value must be str (bytes only for binary metadata,"
        " a name ending in -bin)"
    )


def encode_timeout(seconds: float) -> str:
    """The ``Connect-Timeout-Ms`` value for ``seconds`` left (at most 10 digits)."""
    ms = int(max(seconds, 0.0) * 1000)  # -inf: an enclosing scope is already cancelled
    if ms < 1:
        ms = 1
    return str(min(ms, _MAX_TIMEOUT_MS))


class RequestTemplate:
    """Request headers that do not change from call to call, built once per client.

    ``unary``, ``stream`` and ``get`` are the headers of unary POSTs, streams
    and GETs with the client's codec, compressions and default headers
    (``*_raw``: the same as raw lines); ``accept`` are the response
    compressions advertised (the send compression is always among them).
    """

    __slots__ = ("get", "get_raw", "stream", "stream_raw", "unary", "unary_raw")

    def __init__(
        self,
        codec: Codec,
        default_headers: Headers,
        send_compression: Compression | None,
        accept: Iterable[Compression],
    ) -> None:
        names = [c.name for c in accept]
        if send_compression is not None and send_compression.name not in names:
            names.append(send_compression.name)
        accept_value = ", ".join(names)
        base = merge_headers(Headers({"user-agent": USER_AGENT}), default_headers)
        unary = Headers(
            {
                "content-type": f"application/{codec.name}",
                "connect-protocol-version": PROTOCOL_VERSION,
            }
        )
        stream = Headers(
            {
                "content-type": f"application/connect+{codec.name}",
                "connect-protocol-version": PROTOCOL_VERSION,
            }
        )
        get = Headers()
        if accept_value:
            unary.add("accept-encoding", accept_value)
            stream.add("connect-accept-encoding", accept_value)
            get.add("accept-encoding", accept_value)
        if send_compression is not None:
            stream.add("connect-content-encoding", send_compression.name)
        # Protocol headers win over the user's defaults.
        self.unary = merge_headers(base, unary)
        self.stream = merge_headers(base, stream)
        self.get = merge_headers(base, get)
        self.unary_raw = raw_headers(self.unary)
        self.stream_raw = raw_headers(self.stream)
        self.get_raw = raw_headers(self.get)

    def headers(
        self, base: list[tuple[bytes, bytes]], headers: HeadersInput, time_left: float | None
    ) -> list[tuple[bytes, bytes]]:
        """A call's raw headers: ``base`` (one of the ``*_raw`` lists), the call's
        ``headers`` replacing those of the same name, and ``Connect-Timeout-Ms``
        announcing ``time_left`` seconds."""
        raw = raw_headers(merge_headers(Headers.from_raw(base), headers)) if headers else list(base)
        if time_left is not None:
            raw.append((b"connect-timeout-ms", encode_timeout(time_left).encode()))
        return raw


def get_query(codec: Codec, payload: bytes, compression: Compression | None) -> str:
    """The query string of a Connect GET request, in the spec's parameter order."""
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    parts = ["connect=v1", "base64=1"]
    if compression is not None:
        parts.append(f"compression={quote(compression.name, safe='')}")
    parts.append(f"encoding={quote(codec.name, safe='')}")
    parts.append(f"message={encoded}")
    return "&".join(parts)
