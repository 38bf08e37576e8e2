"""Rules shared by gRPC and gRPC-Web, sans-IO: status, metadata, timeouts.

- the status of a call: ``grpc-status`` (decimal code), ``grpc-message``
  (percent-encoded UTF-8) and ``grpc-status-details-bin`` (a base64
  ``google.rpc.Status`` whose ``details`` become :class:`~connect_python.ErrorDetail`
  values), read from trailers (:func:`status_from_trailers`);
- the HTTP status of a response that is not gRPC (:func:`http_status_error`)
  and the response content type (:func:`content_type_error`);
- metadata: binary values (names ending in ``-bin``) travel as base64
  (:func:`encode_binary_header`, :func:`decode_binary_header`); request
  headers the protocol reserves are refused (:func:`request_metadata`);
- ``grpc-timeout`` (:func:`encode_timeout`).

``google.rpc.Status`` is read and written by :mod:`.rpc_status`, with no
protobuf runtime: details decode with either message runtime, and there is no
dependency on (or clash with) ``googleapis-common-protos``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from .._binary import decode_binary_header, encode_binary_header
from .._code import Code, code_from_http_status
from .._errors import ConnectError, ErrorDetail, summarize_body
from .._headers import Headers
from .rpc_status import StatusError, decode_status_message, encode_status_message

__all__ = [
    "STATUS_HEADERS",
    "content_type_error",
    "decode_binary_header",
    "decode_status",
    "encode_binary_header",
    "encode_status",
    "encode_timeout",
    "http_status_error",
    "parse_status",
    "percent_decode",
    "percent_encode",
    "request_metadata",
    "status_from_trailers",
    "user_metadata",
]

#: The trailers that carry the status; they are not shown to the user as metadata.
STATUS_HEADERS = frozenset({"grpc-status", "grpc-message", "grpc-status-details-bin"})

# -- google.rpc.Status -------------------------------------------------------------------


def encode_status(code: int, message: str = "", details: Sequence[ErrorDetail] = ()) -> bytes:
    """A binary ``google.rpc.Status`` (what ``grpc-status-details-bin`` holds, unencoded)."""
    return encode_status_message(code, message, ((d.type_url, d.value) for d in details))


def decode_status(data: bytes) -> tuple[int, str, list[ErrorDetail]]:
    """``(code, message, details)`` of a binary ``google.rpc.Status``.

    Raises ``ConnectError(INTERNAL)`` when ``data`` is not one.
    """
    try:
        code, message, details = decode_status_message(data)
    except StatusError as exc:
        raise ConnectError(
            Code.INTERNAL, f"protocol error: invalid grpc-status-details-bin ({exc})"
        ) from exc
    return code, message, [ErrorDetail(_Any(url, value)) for url, value in details]


class _Any(NamedTuple):
    type_url: str
    value: bytes


# -- grpc-message ------------------------------------------------------------------------

_PLAIN_MESSAGE = re.compile(r"[\x20-\x24\x26-\x7e]*")


def percent_encode(text: str) -> str:
    """``text`` as a ``grpc-message`` value: UTF-8, with every byte outside
    printable ASCII (and ``%``) written as ``%XX``."""
    if _PLAIN_MESSAGE.fullmatch(text):
        return text
    return "".join(
        chr(byte) if 0x20 <= byte <= 0x7E and byte != 0x25 else f"%{byte:02X}"
        for byte in text.encode("utf-8", "surrogatepass")
    )


def percent_decode(value: str) -> str:
    """A ``grpc-message`` value as text. Never fails: a broken ``%`` sequence is
    kept as it is, bytes that are not UTF-8 become U+FFFD."""
    if "%" not in value:
        return value
    raw = value.encode("latin-1", "replace")
    return unquote_to_bytes(raw).decode("utf-8", "replace")


# -- metadata ----------------------------------------------------------------------------


def user_metadata(headers: Headers, *, drop: Sequence[str] = ()) -> Headers:
    """``headers`` as the user sees them: the status trailers and ``drop`` left
    out, and the values of a ``-bin`` header that a peer joined with commas
    split again (one entry each)."""
    out = Headers()
    for name, value in headers.multi_items():
        if name in STATUS_HEADERS or name in drop:
            continue
        if name.endswith("-bin") and "," in value:
            for part in value.split(","):
                out.add(name, part.strip())
        else:
            out.add(name, value)
    return out


#: Request headers the protocol sets itself: a user's value would break the call.
_RESERVED = frozenset({"content-type", "te", "connection", "keep-alive", "proxy-connection"})
_RESERVED |= frozenset({"transfer-encoding", "upgrade", "host", "content-length"})
_NAME = re.compile(r"[0-9a-z_.\-]+")
_ASCII_VALUE = re.compile(r"[\x20-\x7e]*")


def request_metadata(headers: Headers) -> list[tuple[bytes, bytes]]:
    """The raw lines of the metadata a user sends with a call.

    Raises ``ValueError`` for a name the protocol reserves (``grpc-*``,
    ``content-type``, ``te``, pseudo-headers, connection headers), a name
    gRPC does not allow (only ``0-9 a-z _ . -``), a text value outside printable
    ASCII, or a ``-bin`` value that is neither ``bytes`` (sent as base64) nor
    base64 text.
    """
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers.multi_items():
        if name.startswith("grpc-") or name in _RESERVED:
            raise ValueError(
                f"header {name!r} is reserved by the gRPC protocol: the client sets it"
                " (use the timeout, compression and codec options instead)"
            )
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"header name {name!r} is not valid gRPC metadata "
                "(lower-case letters, digits, '_', '.' and '-' only)"
            )
        data: object = value
        if name.endswith("-bin"):
            if isinstance(data, (bytes, bytearray, memoryview)):
                text = encode_binary_header(bytes(data))
            else:
                text = str(data)
                try:
                    decode_binary_header(text)
                except ValueError:
                    raise ValueError(
                        f"header {name!r} is binary metadata (its name ends in -bin): give"
                        " its value as bytes, or as base64 text (encode_binary_header)"
                    ) from None
            raw.append((name.encode("ascii"), text.encode("ascii")))
            continue
        if not isinstance(data, str) or not _ASCII_VALUE.fullmatch(data):
            raise ValueError(
                f"header {name!r}: a text value must be printable ASCII; "
                "binary metadata goes in a header whose name ends in -bin"
            )
        raw.append((name.encode("ascii"), data.encode("ascii")))
    return raw


# -- grpc-timeout ------------------------------------------------------------------------

_TIMEOUT_UNITS = (
    ("n", 1_000_000_000.0),
    ("u", 1_000_000.0),
    ("m", 1_000.0),
    ("S", 1.0),
    ("M", 1 / 60),
    ("H", 1 / 3600),
)
_TIMEOUT_MAX = 99_999_999  # at most 8 digits


def encode_timeout(seconds: float) -> str:
    """The ``grpc-timeout`` value for ``seconds`` left: at most 8 digits and a
    unit, the finest unit that fits (rounded down; at least ``1n``)."""
    seconds = max(seconds, 0.0)  # -inf: an enclosing scope is already cancelled
    for unit, per_second in _TIMEOUT_UNITS:
        count = seconds * per_second
        if count <= _TIMEOUT_MAX:
            return f"{max(int(count), 1)}{unit}"
    return f"{_TIMEOUT_MAX}H"


# -- status ------------------------------------------------------------------------------

_STATUS_VALUE = re.compile(r"0|[1-9][0-9]{0,9}")


def parse_status(headers: Headers) -> ConnectError | None:
    """The status that ``headers`` (trailers, or the headers of a trailers-only
    response) carry: ``None`` for OK (or no ``grpc-status``), the error for
    another code.

    The error has the code, the percent-decoded message and the details of
    ``grpc-status-details-bin`` (whose code and message win, as other clients
    do); its metadata is left for the caller. A malformed ``grpc-status`` or
    details header raises ``ConnectError(INTERNAL)``.
    """
    value = headers.get("grpc-status", "0").strip()
    if not _STATUS_VALUE.fullmatch(value):
        raise ConnectError(Code.INTERNAL, f"protocol error: invalid grpc-status {value[:20]!r}")
    number = int(value)
    if number == 0:
        return None
    message = percent_decode(headers.get("grpc-message", ""))
    details: list[ErrorDetail] = []
    encoded = headers.get("grpc-status-details-bin")
    if encoded:
        try:
            data = decode_binary_header(encoded)
        except ValueError as exc:
            raise ConnectError(
                Code.INTERNAL, f"protocol error: invalid grpc-status-details-bin: {exc}"
            ) from exc
        detail_number, detail_message, details = decode_status(data)
        if Code.from_number(detail_number) is not None:
            number = detail_number
        message = detail_message or message
    code = Code.from_number(number) or Code.UNKNOWN
    return ConnectError(code, message, details=details, remote=True)


def status_from_trailers(
    trailers: Headers | None, metadata: Headers, http_status: int
) -> ConnectError | None:
    """How a call ended, from its trailers (``None``: there were none).

    ``None`` for OK; the server's error; or the protocol error for trailers
    without ``grpc-status`` (``UNKNOWN``) or a response without trailers
    (``INTERNAL``). ``metadata`` (headers and trailers as the user sees them)
    goes on the error.
    """
    if trailers is None:
        error = ConnectError(
            Code.INTERNAL, "protocol error: the response ended without trailers (no grpc-status)"
        )
    elif "grpc-status" not in trailers:
        error = ConnectError(Code.UNKNOWN, "protocol error: trailers without grpc-status")
    else:
        try:
            status = parse_status(trailers)
        except ConnectError as exc:
            status = exc
        if status is None:
            return None
        error = status
    error.metadata = metadata
    error.http_status = http_status
    return error


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def content_type_error(
    content_type: str, base: str, codec_name: str, url: str = ""
) -> ConnectError | None:
    """``None`` when a 200 response's ``content_type`` is ``base`` (for the
    proto codec) or ``base+<codec>``; else the error: ``INTERNAL`` for the
    protocol with another codec, ``UNKNOWN`` for anything else."""
    media = _media_type(content_type)
    expected = f"{base}+{codec_name}"
    if media == expected or (codec_name == "proto" and media == base):
        return None
    code = Code.INTERNAL if media == base or media.startswith(base + "+") else Code.UNKNOWN
    what = f"unexpected response content type {content_type!r} (expected {expected})"
    return ConnectError(code, f"{url}: {what}" if url else what, http_status=200, remote=True)


def http_status_error(
    status: int, content_type: str, body: bytes | None, metadata: Headers, url: str = ""
) -> ConnectError:
    """The error for a non-200 response without ``grpc-status``: the code the
    gRPC spec maps the HTTP status to; the message names the request (``url``)
    and quotes a summary of ``body`` (``None``: not read)."""
    from http import HTTPStatus

    try:
        reason = f" {HTTPStatus(status).phrase}"
    except ValueError:
        reason = ""
    ctype = f"content-type {content_type}" if content_type else "no content-type"
    text = f"HTTP {status}{reason}, not a gRPC response ({ctype})"
    if body is not None:
        text += f": {summarize_body(content_type, body)}"
    return ConnectError(
        code_from_http_status(status),
        f"{url}: {text}" if url else text,
        metadata=metadata,
        http_status=status,
        remote=True,
        http_body=body or None,
    )
