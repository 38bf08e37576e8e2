"""The errors of an HTTP/2 connection, sans-IO: the Connect codes of the error
codes a peer sends (RST_STREAM, GOAWAY), and the errors (with hints) for a
server that does not speak what the client speaks: an HTTP/2 connection
answered with HTTP/1.1 (h2c to an HTTP/1.1-only server), a stream reset before
any response (a gRPC-only server).
"""

from __future__ import annotations

from .._code import Code
from .._errors import ConnectError
from .frames import ErrorCode, error_name

__all__ = ["h2_closed_before_settings", "h2_preface_error", "reset_error", "reset_with_hint"]

# Connect spec (HTTP/2 error code of RST_STREAM / GOAWAY -> Connect code).
_RESET_CODES: dict[int, Code] = {
    ErrorCode.REFUSED_STREAM: Code.UNAVAILABLE,
    ErrorCode.CANCEL: Code.CANCELED,
    ErrorCode.ENHANCE_YOUR_CALM: Code.RESOURCE_EXHAUSTED,
    ErrorCode.INADEQUATE_SECURITY: Code.PERMISSION_DENIED,
}


def reset_error(error_code: int, what: str = "stream reset by the server") -> ConnectError:
    """The ``ConnectError`` for an HTTP/2 error code received from the peer."""
    code = _RESET_CODES.get(error_code, Code.INTERNAL)
    return ConnectError(code, f"{what}: {error_name(error_code)}")


# -- hints for servers that don't speak what the client speaks -------------------

_H2C_HINT = "the server may not speak HTTP/2 without TLS (h2c); for an http:// URL try h2c=False"
_SETTINGS = 0x04


def _http1_answer(unparsed: bytes) -> str | None:
    """The status line, when the server answered the HTTP/2 preface with HTTP/1.x."""
    if unparsed.startswith(b"HTTP/1."):
        line = unparsed.split(b"\r\n", 1)[0][:60]
        return line.decode("latin-1")
    return None


def h2_preface_error(unparsed: bytes) -> ConnectError | None:
    """The error for an HTTP/2 connection whose server did not start with SETTINGS.

    ``unparsed`` is what the server sent that is not yet parsed as frames,
    while its first SETTINGS frame has not arrived. A server's connection
    preface is a SETTINGS frame (RFC 9113 section 3.4); bytes that cannot begin
    one (an HTTP/1.1 answer to the client's preface, an HTML page) mean the
    server does not speak HTTP/2 here: ``None`` while they still may.
    """
    if len(unparsed) < 4 or unparsed[3] == _SETTINGS:
        return None
    status_line = _http1_answer(unparsed)
    if status_line is not None:
        what = f"the server answered HTTP/2 with HTTP/1.x ({status_line!r})"
    else:
        what = f"the server's answer is not HTTP/2 (it starts with {unparsed[:16]!r})"
    return ConnectError(Code.UNAVAILABLE, f"{what}; {_H2C_HINT}")


def h2_closed_before_settings() -> ConnectError:
    """The error for an HTTP/2 connection the server closed before its SETTINGS.

    (An HTTP/1.x answer never gets here: :func:`h2_preface_error` fails the
    connection on its first four bytes.)
    """
    what = "the server closed the connection before its HTTP/2 settings arrived"
    return ConnectError(Code.UNAVAILABLE, f"{what}; {_H2C_HINT}")


#: HTTP/2 error codes a server that does not speak Connect answers a Connect request with.
_PROTOCOL_ERROR = ErrorCode.PROTOCOL_ERROR
_INTERNAL_ERROR = ErrorCode.INTERNAL_ERROR
_HTTP_1_1_REQUIRED = ErrorCode.HTTP_1_1_REQUIRED


def reset_with_hint(error: ConnectError, error_code: int, answered: bool) -> ConnectError:
    """``error`` (a stream reset by the server), with a hint when the reset suggests
    the server does not speak Connect or this HTTP version.

    ``answered``: the response headers arrived before the reset.
    """
    if error_code == _HTTP_1_1_REQUIRED:
        hint = (
            "the server requires HTTP/1.1 for this request; "
            "try h2c=False (http://) or http2=False (https://)"
        )
    elif not answered and error_code in (_PROTOCOL_ERROR, _INTERNAL_ERROR):
        hint = (
            "the server reset the request without answering it: it may not be a Connect "
            "server (a gRPC-only server resets Connect requests so)"
        )
    else:
        return error
    hinted = ConnectError(error.code, f"{error.message}; {hint}")
    hinted.__cause__ = error.__cause__
    return hinted
