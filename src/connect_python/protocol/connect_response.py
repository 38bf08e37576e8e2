"""The Connect protocol's response side, sans-IO: judging a response head,
unary ``trailer-`` headers, the error of an error response, the end-stream
message, and how a server's deadline error is reported (:func:`local_deadline_error`).
"""

from __future__ import annotations

import re

from .._code import Code, code_from_http_status
from .._errors import ConnectError, error_from_json, loads_json, not_connect_error, parse_error_body
from .._headers import Headers
from .codec import Codec

__all__ = [
    "HEADER_ROUNDING",
    "EndStream",
    "check_stream_response",
    "check_unary_response",
    "data_after_end",
    "local_deadline_error",
    "parse_end_stream",
    "request_label",
    "split_unary_trailers",
    "unary_content_type_error",
    "unary_error",
]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def split_unary_trailers(headers: Headers) -> tuple[Headers, Headers]:
    """Split a unary response's headers into headers and ``trailer-`` trailers."""
    plain = Headers()
    trailers = Headers()
    for name, value in headers.multi_items():
        if name.startswith("trailer-"):
            trailers.add(name[8:], value)
        else:
            plain.add(name, value)
    return plain, trailers


def check_unary_response(status: int, headers: Headers, codec: Codec) -> Code | None:
    """``None`` when a 200 unary response has the expected content type.

    Otherwise the code of the mismatch: a 200 with another Connect codec is
    ``INTERNAL``, anything else at 200 is ``UNKNOWN``. A non-200 status returns
    the status' mapped code (the caller then reads the error body).
    """
    if status != 200:
        return code_from_http_status(status)
    media = _media_type(headers.get("content-type", ""))
    if media == f"application/{codec.name}" or (
        codec.name == "json" and media == "application/json"
    ):
        return None
    if media.startswith("application/") and not media.startswith("application/connect+"):
        return Code.INTERNAL
    return Code.UNKNOWN


def request_label(verb: bytes, base_url: str, path: str) -> str:
    """``POST http://host:port/base/pkg.Service/Method``: a request, for error messages.

    The URL is the client's base URL as given plus the method's path (a GET's
    query is left out).
    """
    return f"{verb.decode('ascii', 'replace')} {base_url.rstrip('/')}{path}"


def unary_content_type_error(
    status: int,
    headers: Headers,
    trailers: Headers,
    codec: Codec,
    url: str = "",
    body: bytes | None = None,
    code: Code | None = None,
) -> ConnectError:
    """The error for a 200 unary response whose content type does not match.

    ``url`` names the request (:func:`request_label`); ``body`` is quoted in
    short; ``code`` is what :func:`check_unary_response` returned (found again
    when not given).
    """
    if code is None:
        code = check_unary_response(status, headers, codec) or Code.UNKNOWN
    meta = headers.copy()
    meta.extend(trailers)
    return not_connect_error(
        status,
        headers.get("content-type", ""),
        body,
        meta,
        url,
        code=code,
        expected=f"application/{codec.name}",
    )


def unary_error(
    status: int, headers: Headers, trailers: Headers, body: bytes | None, url: str = ""
) -> ConnectError:
    """The error carried by a non-200 unary response (body already decompressed).

    ``body`` is ``None`` when it could not be read; ``url`` names the request
    (:func:`request_label`) in the message of a response that is not Connect.
    """
    meta = headers.copy()
    meta.extend(trailers)
    return parse_error_body(status, headers.get("content-type", ""), body, meta, url)


def check_stream_response(
    status: int, headers: Headers, codec: Codec, url: str = ""
) -> ConnectError | None:
    """``None`` when a streaming response may be read as envelopes.

    Otherwise the error (``url`` names the request in its message); for a
    non-200 status the caller reads the body and builds the error with
    :func:`unary_error`, which parses a Connect JSON error.
    """
    if status != 200:
        return not_connect_error(status, headers.get("content-type", ""), None, headers, url)
    media = _media_type(headers.get("content-type", ""))
    if media == f"application/connect+{codec.name}":
        return None
    code = Code.INTERNAL if media.startswith("application/connect+") else Code.UNKNOWN
    return not_connect_error(
        status,
        headers.get("content-type", ""),
        None,
        headers,
        url,
        code=code,
        expected=f"application/connect+{codec.name}",
    )


def data_after_end() -> ConnectError:
    """The error for bytes after a stream's end-stream message."""
    return ConnectError(Code.INTERNAL, "protocol error: data after the end-stream message")


class EndStream:
    """A parsed end-stream message: trailers and an optional error."""

    __slots__ = ("error", "trailers")

    def __init__(self, trailers: Headers, error: ConnectError | None) -> None:
        self.trailers = trailers
        self.error = error


def parse_end_stream(payload: bytes, headers: Headers) -> EndStream:
    """Parse an end-stream message; a malformed one is an ``INTERNAL`` error.

    The message is a JSON object with an optional ``error`` (a Connect error
    object) and optional ``metadata``: an object whose keys are header names
    and whose values are arrays of strings. Anything else, including input that
    fails to parse for any reason, raises ``ConnectError(INTERNAL)`` carrying
    the response headers.
    """
    try:
        obj = loads_json(payload) if payload else {}
    except ValueError as exc:
        raise _bad_end_stream(f"invalid end-stream message: {exc}", headers) from exc
    if not isinstance(obj, dict):
        raise _bad_end_stream("end-stream message is not an object", headers)
    trailers = Headers()
    metadata = obj.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _bad_end_stream("end-stream metadata is not an object", headers)
        for name, values in metadata.items():
            if not _is_token(name) or not isinstance(values, list):
                raise _bad_end_stream(
                    f"invalid end-stream metadata {_clip(name)}: "
                    "expected a header name and an array of strings",
                    headers,
                )
            for value in values:
                if not isinstance(value, str) or "\r" in value or "\n" in value or "\0" in value:
                    raise _bad_end_stream(
                        f"invalid end-stream metadata value of {_clip(name)}", headers
                    )
                trailers.add(name, value)
    error = None
    raw_error = obj.get("error")
    if raw_error is not None:
        meta = headers.copy()
        meta.extend(trailers)
        error = error_from_json(raw_error, fallback=Code.UNKNOWN, metadata=meta, http_status=200)
    return EndStream(trailers, error)


#: A header name (RFC 9110 token). A value must not hold CR, LF or NUL (section 5.5).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _is_token(name: str) -> bool:
    return _TOKEN.fullmatch(name) is not None


def _clip(name: str) -> str:
    return repr(name[:40] + "..." if len(name) > 40 else name)


def _bad_end_stream(what: str, headers: Headers) -> ConnectError:
    return ConnectError(
        Code.INTERNAL, f"protocol error: {what}", metadata=headers.copy(), http_status=200
    )


_DEADLINE_CODES = (Code.DEADLINE_EXCEEDED, Code.CANCELED)
#: ``Connect-Timeout-Ms`` is rounded down to whole milliseconds.
HEADER_ROUNDING = 0.002


def local_deadline_error(error: ConnectError, deadline: float, now: float) -> ConnectError:
    """A server's deadline error seen after the call's own deadline passed.

    The call's deadline is announced to the server, which may time the call
    out itself a moment before this client notices. A server's
    ``DEADLINE_EXCEEDED``/``CANCELED`` once the call's own deadline has passed
    (within the header's millisecond rounding) is reported as this client's
    ``DEADLINE_EXCEEDED``, with the server's error as its cause. Any other
    error is returned as it is.
    """
    if error.remote and error.code in _DEADLINE_CODES and now >= deadline - HEADER_ROUNDING:
        local = ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded", metadata=error.metadata)
        local.__cause__ = error
        return local
    return error
