"""``MethodInfo`` for ``connectpy.testing.v1.TestService`` with protobuf-py messages.

The twin of :mod:`.methods` for the second message runtime: the same methods,
their messages from ``protoc-gen-py``'s ``testing_pb`` module and
``messages=MessageRuntime.PROTOBUF_PY``. Importing this module generates those
modules if needed and puts them on ``sys.path``.
"""

from __future__ import annotations

from connect_python import IdempotencyLevel, MessageRuntime, MethodInfo, StreamType

from .protos_pb import add_pb_generated_to_path, generate_pb_protos

generate_pb_protos()
add_pb_generated_to_path()

from testpb.connectpy.testing.v1 import testing_pb as pb  # noqa: E402

__all__ = ["CHAT", "ECHO", "ECHO_GET", "SERVICE", "STREAM", "UPLOAD", "pb"]

SERVICE = "connectpy.testing.v1.TestService"
_PY = MessageRuntime.PROTOBUF_PY

ECHO: MethodInfo[pb.EchoRequest, pb.EchoResponse] = MethodInfo(
    SERVICE, "Echo", pb.EchoRequest, pb.EchoResponse, messages=_PY
)
ECHO_GET: MethodInfo[pb.EchoRequest, pb.EchoResponse] = MethodInfo(
    SERVICE,
    "EchoGet",
    pb.EchoRequest,
    pb.EchoResponse,
    idempotency_level=IdempotencyLevel.NO_SIDE_EFFECTS,
    messages=_PY,
)
STREAM: MethodInfo[pb.StreamRequest, pb.StreamResponse] = MethodInfo(
    SERVICE,
    "Stream",
    pb.StreamRequest,
    pb.StreamResponse,
    stream_type=StreamType.SERVER_STREAM,
    messages=_PY,
)
UPLOAD: MethodInfo[pb.UploadRequest, pb.UploadResponse] = MethodInfo(
    SERVICE,
    "Upload",
    pb.UploadRequest,
    pb.UploadResponse,
    stream_type=StreamType.CLIENT_STREAM,
    messages=_PY,
)
CHAT: MethodInfo[pb.ChatRequest, pb.ChatResponse] = MethodInfo(
    SERVICE,
    "Chat",
    pb.ChatRequest,
    pb.ChatResponse,
    stream_type=StreamType.BIDI_STREAM,
    messages=_PY,
)
