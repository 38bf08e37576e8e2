"""A call's open and idle timeouts: what they mean, their values, their errors.

- The **open timeout** bounds the time until the response starts (its
  headers): connecting, sending the request (a unary or server-stream
  request whole; for client and bidi streams, from when the caller waits for
  the response), and the server's time to answer. A server that never starts
  answering fails the call at once instead of at its (possibly far) deadline.
- The **idle timeout** bounds each wait for response data: every arrival
  starts it anew, so a long call that keeps receiving is never cut, and one
  that stalls is.

Both fail the call with ``DEADLINE_EXCEEDED`` (a timeout of this client, as
the call's deadline is), each with its own message; neither touches the
cancellation of an enclosing scope or task. ``None`` means none; they apply
only while the call waits, never to the caller's own time between reads.
"""

from __future__ import annotations

import math

from ._code import Code
from ._errors import ConnectError

__all__ = ["check_timeout", "idle_timeout_error", "open_timeout_error", "resolve_timeout"]


def check_timeout(name: str, value: float | None) -> None:
    """Raise ``ValueError`` for a timeout that is not positive (``None``: none)."""
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be > 0 seconds (None: none), got {value!r}")


def resolve_timeout(name: str, value: float | None, default: float | None) -> float | None:
    """A call's timeout: ``None`` takes the client's ``default``, ``math.inf`` none."""
    if value is None:
        return default
    if value == math.inf:
        return None
    check_timeout(name, value)
    return value


def open_timeout_error(seconds: float) -> ConnectError:
    """The error of a call whose response did not start within ``seconds``."""
    return ConnectError(
        Code.DEADLINE_EXCEEDED,
        f"open_timeout: no response within {seconds:g} s (the server did not start answering)",
    )


def idle_timeout_error(seconds: float) -> ConnectError:
    """The error of a call that received nothing for ``seconds`` while waiting."""
    return ConnectError(
        Code.DEADLINE_EXCEEDED,
        f"idle_timeout: nothing received for {seconds:g} s (the call stalled)",
    )
