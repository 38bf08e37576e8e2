"""``MethodInfo`` for every method of ``connectpy.testing.v1.TestService``.

For tests that drive the low-level client API (``client.unary(ECHO, ...)``)
instead of a generated client. Importing this module generates the test protos
if needed and puts ``tests/_generated`` on ``sys.path``.
"""

from __future__ import annotations

from connect_python import MessageRuntime, MethodInfo

from .protos import add_generated_to_path, generate_test_protos
from .service_methods import SERVICE, service_methods

generate_test_protos()
add_generated_to_path()

from connectpy.testing.v1 import testing_pb2 as pb  # noqa: E402

__all__ = ["CHAT", "ECHO", "ECHO_GET", "SERVICE", "STREAM", "UPLOAD", "pb"]

_BY_NAME = service_methods(pb, MessageRuntime.GOOGLE)
ECHO: MethodInfo[pb.EchoRequest, pb.EchoResponse] = _BY_NAME["Echo"]
ECHO_GET: MethodInfo[pb.EchoRequest, pb.EchoResponse] = _BY_NAME["EchoGet"]
STREAM: MethodInfo[pb.StreamRequest, pb.StreamResponse] = _BY_NAME["Stream"]
UPLOAD: MethodInfo[pb.UploadRequest, pb.UploadResponse] = _BY_NAME["Upload"]
CHAT: MethodInfo[pb.ChatRequest, pb.ChatResponse] = _BY_NAME["Chat"]
