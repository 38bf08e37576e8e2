"""What a call's deadline means for the errors it sees, for unary and
streaming calls alike.

- :func:`remote_error`: a server's deadline error that arrives once the call's
  own deadline passed is this client's ``DEADLINE_EXCEEDED``;
  :func:`broken_error`: so is a stream the server reset once it passed.
- :func:`await_scope_deadline`: a deadline of an enclosing cancel scope that the
  call announced to the server ends as that scope's cancellation, never as the
  server's error (cancellation is never turned into an error).
- :func:`arm_open_timer` / :func:`arm_idle_timer`: a call's open and idle
  timeouts (``connect_python._timeouts``) as timers of its scope.
"""

from __future__ import annotations

from connect_python._code import Code
from connect_python._errors import ConnectError
from connect_python._http.request import Request
from connect_python._io.shim_async import CallScope, current_deadline, current_time, sleep
from connect_python._timeouts import idle_timeout_error, open_timeout_error
from connect_python.protocol.connect_response import HEADER_ROUNDING as _HEADER_ROUNDING
from connect_python.protocol.connect_response import local_deadline_error

__all__ = [
    "arm_idle_timer",
    "arm_open_timer",
    "await_scope_deadline",
    "broken_error",
    "remote_error",
]


def remote_error(error: ConnectError, deadline: float | None) -> ConnectError:
    """``error`` as the caller of a call with ``deadline`` should see it: a
    server's deadline error once the call's own deadline passed is this
    client's ``DEADLINE_EXCEEDED`` (see ``local_deadline_error``)."""
    if deadline is None:
        return error
    return local_deadline_error(error, deadline, current_time())


def broken_error(error: ConnectError, scope: CallScope) -> ConnectError:
    """``error``, raised by a call's exchange, as the caller should see it.

    A gRPC server (grpc-go) ends a call whose announced deadline passed by
    resetting its stream with ``CANCEL``; the client's own deadline fires at
    the same moment, and whichever is seen first, the call ran out of time:
    a ``CANCELED`` that this call did not ask for, once its deadline passed
    (within the header's rounding), is ``DEADLINE_EXCEEDED``, with ``error``
    as its cause. Any other error is returned as it is.
    """
    deadline = scope.deadline
    if (
        deadline is None
        or error.code is not Code.CANCELED
        or error.remote
        or scope.cancelled
        or current_time() < deadline - _HEADER_ROUNDING
    ):
        return error
    local = ConnectError(Code.DEADLINE_EXCEEDED, "deadline exceeded", metadata=error.metadata)
    local.__cause__ = error
    return local


_DEADLINE_CODES = (Code.DEADLINE_EXCEEDED, Code.CANCELED)
#: How long past the scope's deadline the wait goes on before giving up on it.
_SCOPE_SLACK = 0.05


async def await_scope_deadline(error: ConnectError, outer: float) -> None:
    """Before a server's deadline error is raised: let the enclosing cancel
    scope whose deadline (``outer``) the call announced cancel the call instead.

    The server enforces the announced ``Connect-Timeout-Ms``, rounded down to
    whole milliseconds, so its deadline error may arrive a moment before the
    scope's deadline. When it does, this waits until the scope fires (at most
    the rounding away), so leaving the scope is a cancellation, never an error.
    Returns at once (the error is the server's answer) for any other error, for
    one that arrives well before the deadline, and when the scope's deadline
    was moved away; returns after a short slack if the scope did not fire.
    """
    if not error.remote or error.code not in _DEADLINE_CODES:
        return
    now = current_time()
    if now < outer - _HEADER_ROUNDING:
        return
    deadline = current_deadline()
    if deadline is None or deadline > outer + _HEADER_ROUNDING:
        return
    await sleep(max(deadline - now, 0.0) + _SCOPE_SLACK)


def arm_open_timer(scope: CallScope, request: Request) -> None:
    """From now on, the response must start within the call's open timeout."""
    seconds = request.open_timeout
    if seconds is not None:
        scope.set_timer(current_time() + seconds, open_timeout_error(seconds))


def arm_idle_timer(scope: CallScope, request: Request) -> None:
    """The next wait for response data ends within the call's idle timeout
    (and the open timeout, if any, is over)."""
    seconds = request.idle_timeout
    if seconds is not None:
        scope.set_timer(current_time() + seconds, idle_timeout_error(seconds))
    elif request.open_timeout is not None:
        scope.set_timer(None)
