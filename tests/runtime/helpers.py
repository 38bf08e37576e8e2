"""Shared pieces of the runtime tests (transformed for sync like the tests)."""

from __future__ import annotations

from collections.abc import Sequence

from _support.methods import CHAT, ECHO, ECHO_GET, SERVICE, STREAM, UPLOAD
from connectpy.testing.v1 import testing_pb2 as pb

__all__ = [
    "CHAT",
    "ECHO",
    "ECHO_GET",
    "SERVICE",
    "STREAM",
    "UPLOAD",
    "announced_timeout",
    "outcome",
    "pattern",
    "seen_headers",
]


def pattern(size: int) -> bytes:
    """The payload the test server generates: byte j is j % 256."""
    return bytes(j % 256 for j in range(size))


def seen_headers(response: pb.EchoResponse) -> dict[str, list[str]]:
    """The request headers the server reported, by lower-case name."""
    seen: dict[str, list[str]] = {}
    for entry in response.request_headers:
        name, _, value = entry.partition(": ")
        seen.setdefault(name, []).append(value)
    return seen


def outcome(
    code: str = "",
    message: str = "",
    *,
    detail: str = "",
    delay_ms: int = 0,
    headers: Sequence[str] = (),
    trailers: Sequence[str] = (),
) -> pb.Outcome:
    return pb.Outcome(
        error_code=code,
        error_message=message,
        detail_text=detail,
        delay_ms=delay_ms,
        response_headers=list(headers),
        response_trailers=list(trailers),
    )


def announced_timeout(seen: dict[str, list[str]]) -> float:
    """The timeout (seconds) a request announced: ``connect-timeout-ms`` or
    ``grpc-timeout`` (a number and a unit)."""
    if "connect-timeout-ms" in seen:
        (value,) = seen["connect-timeout-ms"]
        return int(value) / 1000
    (value,) = seen["grpc-timeout"]
    per_second = {"H": 1 / 3600, "M": 1 / 60, "S": 1, "m": 1e3, "u": 1e6, "n": 1e9}
    return int(value[:-1]) / per_second[value[-1]]
