"""``MethodInfo`` for ``connectpy.testing.v1.TestService`` with protobuf-py messages.

The twin of :mod:`.methods` for the second message runtime: the same methods,
their messages from ``protoc-gen-py``'s ``testing_pb`` module and
``messages=MessageRuntime.PROTOBUF_PY``. Importing this module generates those
modules if needed and puts them on ``sys.path``.
"""

from __future__ import annotations

from connect_python import MessageRuntime, MethodInfo

from .protos import add_generated_to_path
from .protos_pb import PB_GENERATED_DIR, generate_pb_protos
from .service_methods import SERVICE, service_methods

generate_pb_protos()
add_generated_to_path(PB_GENERATED_DIR)

from testpb.connectpy.testing.v1 import testing_pb as pb  # noqa: E402

__all__ = ["CHAT", "ECHO", "ECHO_GET", "SERVICE", "STREAM", "UPLOAD", "pb"]

_BY_NAME = service_methods(pb, MessageRuntime.PROTOBUF_PY)
ECHO: MethodInfo[pb.EchoRequest, pb.EchoResponse] = _BY_NAME["Echo"]
ECHO_GET: MethodInfo[pb.EchoRequest, pb.EchoResponse] = _BY_NAME["EchoGet"]
STREAM: MethodInfo[pb.StreamRequest, pb.StreamResponse] = _BY_NAME["Stream"]
UPLOAD: MethodInfo[pb.UploadRequest, pb.UploadResponse] = _BY_NAME["Upload"]
CHAT: MethodInfo[pb.ChatRequest, pb.ChatResponse] = _BY_NAME["Chat"]
