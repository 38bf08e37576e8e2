"""Error mapping: a client's own codes for HTTP statuses of responses that are
not RPC responses, and the predicate that tells transport failures from errors
the server sent."""

from __future__ import annotations

from collections.abc import Mapping

import httpcore

from .._code import Code
from .._errors import ConnectError

__all__ = ["is_transport_failure", "map_http_status", "with_code"]


def with_code(error: ConnectError, code: Code, message: str | None = None) -> ConnectError:
    """A copy of ``error`` with another code (and message): details, metadata,
    HTTP status and body, ``remote`` and the cause are kept."""
    copy = ConnectError(
        code,
        error.message if message is None else message,
        details=error.details,
        metadata=error.metadata,
        http_status=error.http_status,
        remote=error.remote,
        http_body=error.http_body,
        from_http_status=error.from_http_status,
    )
    copy.__cause__ = error.__cause__
    return copy


def map_http_status(error: ConnectError, codes: Mapping[int, Code]) -> ConnectError:
    """``error`` with the code ``codes`` gives its HTTP status, when its code
    came from that status (``error.from_http_status``: the response carried no
    error of the protocol, such as a proxy's 404 page); otherwise ``error``."""
    if not error.from_http_status or error.http_status is None:
        return error
    code = codes.get(error.http_status)
    if code is None or code is error.code:
        return error
    return with_code(error, code)


#: Exceptions below the RPC layer that mean the connection or stream failed.
_TRANSPORT_CAUSES = (OSError, httpcore.NetworkError, httpcore.ProtocolError)


def is_transport_failure(error: BaseException) -> bool:
    """Whether a call failed because the connection to the server failed,
    rather than because the server answered with an error.

    True for a ``ConnectError`` this client raised (``remote == False``) with
    code ``UNAVAILABLE`` (connect refused or timed out, connection dropped or
    closed, the peer broke HTTP/2, a stream refused) or whose cause is a
    network exception. False for every error the server sent (including a
    proxy's error page), for deadlines (``DEADLINE_EXCEEDED``), cancellation
    (``CANCELED``), responses this client could not decode, and failures of an
    interceptor. An SDK can run a health probe exactly when this is true.
    """
    if not isinstance(error, ConnectError) or error.remote:
        return False
    if error.code in (Code.DEADLINE_EXCEEDED, Code.CANCELED):
        return False
    if error.code is Code.UNAVAILABLE:
        return True
    # An interceptor's failure (UNKNOWN) may have any exception as its cause.
    return error.code is not Code.UNKNOWN and isinstance(error.__cause__, _TRANSPORT_CAUSES)
