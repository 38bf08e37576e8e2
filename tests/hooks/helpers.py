"""Interceptors that record what they see, for the interceptor tests
(transformed for sync like the tests)."""

from __future__ import annotations

from typing import Any

from connect_python import ConnectError, Headers
from connect_python.interceptors import CallHooks, CallInfo, Interceptor

Event = tuple[str, str, Any]


class Recorder(Interceptor):
    """Appends ``(name, event, value)`` to a shared ``log`` for every hook of every call."""

    def __init__(self, name: str, log: list[Event]) -> None:
        self.name = name
        self.log = log
        self.calls: list[CallInfo] = []

    def intercept(self, call: CallInfo) -> CallHooks | None:
        self.calls.append(call)
        self.log.append((self.name, "start", call.method.name))
        call.request_headers.add("x-seen-by", self.name)
        return RecorderHooks(self.name, self.log)


class RecorderHooks(CallHooks):
    def __init__(self, name: str, log: list[Event]) -> None:
        self.name = name
        self.log = log

    def on_request(self, message: Any) -> Any:
        self.log.append((self.name, "request", message))
        return message

    def on_response_headers(self, headers: Headers) -> None:
        self.log.append((self.name, "headers", headers))

    def on_response(self, message: Any) -> Any:
        self.log.append((self.name, "response", message))
        return message

    def on_end(self, error: ConnectError | None, trailers: Headers) -> ConnectError | None:
        self.log.append((self.name, "end", (error, trailers)))
        return error


def events(log: list[Event], name: str | None = None) -> list[tuple[str, str]]:
    """``(name, event)`` of each entry (of one interceptor if ``name`` is given)."""
    return [(n, e) for n, e, _ in log if name is None or n == name]


def layered(kinds: list[str], names: tuple[str, ...] = ("a", "b", "c")) -> list[tuple[str, str]]:
    """The order a chain ``names`` (outermost first) runs hooks of ``kinds`` in:
    outward-bound hooks (start, request) outermost first, the others innermost first."""
    out: list[tuple[str, str]] = []
    for kind in kinds:
        order = names if kind in ("start", "request") else names[::-1]
        out.extend((n, kind) for n in order)
    return out


def end_of(log: list[Event], name: str) -> tuple[ConnectError | None, Headers]:
    """The ``(error, trailers)`` interceptor ``name`` saw at the end (exactly one end)."""
    ends = [value for n, e, value in log if n == name and e == "end"]
    assert len(ends) == 1, ends
    end: tuple[ConnectError | None, Headers] = ends[0]
    return end
