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
from .tls import tls_cause, tls_error

__all__ = [
    "TRANSPORT_ERRORS",
    "transport_cause",
    "transport_error",
]

#: Exceptions a transport step may raise that are translated by :func:`transport_error`.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    OSError,
    ssl.SSLError,
)


def transport_error(exc: BaseException) -> ConnectError:
    """The ``ConnectError`` for a transport failure; ``exc`` becomes its cause.

    Such errors have ``remote == False``: nothing was received from the server.
    """
    cause = tls_cause(exc)
    if cause is not None:
        return tls_error(cause)  # its cause is the ssl exception (see transport_cause)
    if isinstance(exc, httpcore.ConnectTimeout):
        code, what = Code.UNAVAILABLE, "connect timed out"
    elif isinstance(exc, httpcore.ConnectError):
        code, what = Code.UNAVAILABLE, "connect failed"
    elif isinstance(exc, httpcore.TimeoutException):
        code, what = Code.DEADLINE_EXCEEDED, "I/O timed out"
    elif isinstance(exc, HTTP1Error):
        code, what = Code.UNAVAILABLE, "protocol error from peer"
    else:
        code, what = Code.UNAVAILABLE, "connection failure"
    detail = str(exc) or type(exc).__name__
    error = ConnectError(code, f"{what}: {detail}")
    error.__cause__ = exc
    return error


def transport_cause(exc: BaseException) -> BaseException:
    """What :func:`transport_error` names as the cause: the ``ssl`` exception
    behind a TLS failure (network layers wrap it), else ``exc``. For
    ``raise transport_error(exc) from transport_cause(exc)``."""
    return tls_cause(exc) or exc
