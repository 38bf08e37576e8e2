"""Helpers for the test suite: test-proto generation and the Go test server.

- :func:`generate_test_protos` writes ``tests/_generated`` (``_pb2`` modules of
  ``tests/proto``); ``tests/conftest.py`` calls it and puts that directory on
  ``sys.path`` so tests can ``from connectpy.testing.v1 import testing_pb2``.
- :mod:`_support.methods` holds ``MethodInfo`` constants for ``TestService``
  (imported separately because it needs the generated code).
- :class:`TestServer` builds and runs ``tests/server`` (connect-go);
  :class:`ServerMode` describes the h1 / h2c / h2-tls ways to reach it.
- Raw misbehaviours: send ``x-test-raw: <mode>`` (:data:`RAW_HEADER`) or set the
  ``raw`` field of ``EchoRequest``/``StreamRequest``; see ``testing.proto``.
"""

from __future__ import annotations

from .modes import MODES, ServerMode, server_mode_for
from .protos import GENERATED_DIR, add_generated_to_path, generate_test_protos
from .server import (
    RAW_HEADER,
    STREAM_RAW_MODES,
    UNARY_RAW_MODES,
    ServerInfo,
    TestServer,
    build_test_server,
    pattern,
)

__all__ = [
    "GENERATED_DIR",
    "MODES",
    "RAW_HEADER",
    "STREAM_RAW_MODES",
    "UNARY_RAW_MODES",
    "ServerInfo",
    "ServerMode",
    "TestServer",
    "add_generated_to_path",
    "build_test_server",
    "generate_test_protos",
    "pattern",
    "server_mode_for",
]
