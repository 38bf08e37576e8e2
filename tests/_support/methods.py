"""``MethodInfo`` for every method of ``connectpy.testing.v1.TestService``.

For tests that drive the low-level client API (``client.unary(ECHO, ...)``)
instead of a generated client. Importing this module generates the test protos
if needed and puts ``tests/_generated`` on ``sys.path``.
"""

from __future__ import annotations

from connect_python import IdempotencyLevel, MethodInfo, StreamType

from .protos import add_generated_to_path, generate_test_protos

generate_test_protos()
add_generated_to_path()

from connectpy.testing.v1 import testing_pb2 as pb  # noqa: E402

__all__ = ["CHAT", "ECHO", "ECHO_GET", "SERVICE", "STREAM", "UPLOAD", "pb"]

SERVICE = "connectpy.testing.v1.TestService"

ECHO: MethodInfo[pb.EchoRequest, pb.EchoResponse] = MethodInfo(
    SERVICE, "Echo", pb.EchoRequest, pb.EchoResponse
)
ECHO_GET: MethodInfo[pb.EchoRequest, pb.EchoResponse] = MethodInfo(
    SERVICE,
    "EchoGet",
    pb.EchoRequest,
    pb.EchoResponse,
    idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
)
STREAM: MethodInfo[pb.StreamRequest, pb.StreamResponse] = MethodInfo(
    SERVICE,
    "Stream",
    pb.StreamRequest,
    pb.StreamResponse,
    stream_type=StreamType.SERVER_STREAM,
)
UPLOAD: MethodInfo[pb.UploadRequest, pb.UploadResponse] = MethodInfo(
    SERVICE,
    "Upload",
    pb.UploadRequest,
    pb.UploadResponse,
    stream_type=StreamType.CLIENT_STREAM,
)
CHAT: MethodInfo[pb.ChatRequest, pb.ChatResponse] = MethodInfo(
    SERVICE,
    "Chat",
    pb.ChatRequest,
    pb.ChatResponse,
    stream_type=StreamType.BIDI_STREAM,
)
