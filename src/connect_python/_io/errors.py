"""Translation of transport exceptions into ``ConnectError``, done once, here.

(The errors an HTTP/2 peer sends, and the hints for a server that does not
speak HTTP/2 or Connect, are the HTTP room's: ``_http/h2_errors.py``.)
"""

from __future__ import annotations

import ssl

import httpcore

from .._code import Code
from .._errors import ConnectError
from .._http.h1 import HTTP1Error

__all__ = [
    "TRANSPORT_ERRORS",
    "transport_error",
]

#: Exceptions a transport step may raise that are translated by :func:`transport_error`.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
    ssl.SSLError,
    EOFError,
)


def transport_error(exc: BaseException) -> ConnectError:
    """The ``ConnectError`` for a transport failure; ``exc`` becomes its cause.

    Such errors have ``remote == False``: nothing was received from the server.
    """
    if isinstance(exc, httpcore.ConnectTimeout):
        code, what = Code.UNAVAILABLE, "connect timed out"
    elif isinstance(exc, httpcore.ConnectError):
        code, what = Code.UNAVAILABLE, "connect failed"
    elif isinstance(exc, httpcore.PoolTimeout):
        code, what = Code.UNAVAILABLE, "timed out waiting for a connection"
    elif isinstance(exc, httpcore.TimeoutException):
        code, what = Code.DEADLINE_EXCEEDED, "I/O timed out"
    elif isinstance(exc, httpcore.LocalProtocolError):
        code, what = Code.INTERNAL, "local protocol error"
    elif isinstance(exc, (httpcore.RemoteProtocolError, HTTP1Error)):
        code, what = Code.UNAVAILABLE, "protocol error from peer"
    elif isinstance(exc, httpcore.UnsupportedProtocol):
        code, what = Code.INVALID_ARGUMENT, "unsupported URL"
    elif isinstance(exc, ssl.SSLError):
        code, what = Code.UNAVAILABLE, "TLS failure"
    else:
        code, what = Code.UNAVAILABLE, "connection failure"
    detail = str(exc) or type(exc).__name__
    error = ConnectError(code, f"{what}: {detail}")
    error.__cause__ = exc
    return error
