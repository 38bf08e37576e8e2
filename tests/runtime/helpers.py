"""Shared pieces of the runtime tests (transformed for sync like the tests)."""

from __future__ import annotations

from collections.abc import Sequence

from connectpy.testing.v1 import testing_pb2 as pb

from connect_python import IdempotencyLevel, MethodInfo, StreamType

SERVICE = "connectpy.testing.v1.TestService"
ECHO = MethodInfo(SERVICE, "Echo", pb.EchoRequest, pb.EchoResponse)
ECHO_GET = MethodInfo(
    SERVICE,
    "EchoGet",
    pb.EchoRequest,
    pb.EchoResponse,
    idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
)
STREAM = MethodInfo(
    SERVICE, "Stream", pb.StreamRequest, pb.StreamResponse, StreamType.SERVER_STREAM
)
UPLOAD = MethodInfo(
    SERVICE, "Upload", pb.UploadRequest, pb.UploadResponse, StreamType.CLIENT_STREAM
)
CHAT = MethodInfo(SERVICE, "Chat", pb.ChatRequest, pb.ChatResponse, StreamType.BIDI_STREAM)


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
