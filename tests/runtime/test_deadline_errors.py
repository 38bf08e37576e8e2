"""How a call's deadline shapes the errors its exchange raises (``_deadlines``).

A gRPC server (grpc-go) ends a call whose announced deadline passed by
resetting its stream with ``CANCEL``; the client's own deadline fires at the
same moment. The conformance suite meets that race now and then; here the rule
is checked directly, in both flavours.
"""

from __future__ import annotations

from _support.concurrency.shim_async import CallScope, current_time

from connect_python import Code, ConnectError
from connect_python.runtime_async._deadlines import broken_error

RESET = "stream reset by the server: CANCEL"


async def test_a_reset_once_the_deadline_passed_is_deadline_exceeded() -> None:
    scope = CallScope(current_time() - 0.001)
    reset = ConnectError(Code.CANCELED, RESET)
    error = broken_error(reset, scope)
    assert error.code is Code.DEADLINE_EXCEEDED
    assert error.__cause__ is reset


async def test_other_errors_stay_as_they_are() -> None:
    passed = CallScope(current_time() - 0.001)
    later = CallScope(current_time() + 60)
    no_deadline = CallScope(None)
    cancelled = CallScope(current_time() - 0.001)
    cancelled.cancel()
    reset = ConnectError(Code.CANCELED, RESET)
    # Before the deadline, without one, or when the call itself was cancelled.
    for scope in (later, no_deadline, cancelled):
        assert broken_error(reset, scope) is reset
    # A server's CANCELED (a status it sent) and other codes are the server's answer.
    sent = ConnectError(Code.CANCELED, "canceled by the server", remote=True)
    assert broken_error(sent, passed) is sent
    unavailable = ConnectError(Code.UNAVAILABLE, "connection reset")
    assert broken_error(unavailable, passed) is unavailable
