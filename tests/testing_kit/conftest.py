"""The clients the testing kit's tests drive: envd's process and filesystem
clients, generated from the reference protos (``<repo>/../shared/envd``) by
this plugin through real protoc, and the test service's client (for a bidi
stream, which envd's services don't have; the fixture of tests/generator_e2e).

The kit's fixtures come from its pytest plugin (imported here as well, so
the tests also run before the package's entry point is installed).
"""

from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace

import pytest
from generator._helpers import ENVD, plugin_wrapper, protoc
from generator_e2e.conftest import testing_connect

from connect_python._pytest_plugin import async_fake_transport, fake_transport

__all__ = ["async_fake_transport", "envd", "fake_transport", "testing_connect"]


@pytest.fixture(scope="session")
def envd(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """envd's generated modules: ``process_pb2``, ``process_connect``,
    ``filesystem_pb2``, ``filesystem_connect``."""
    assert ENVD.is_dir(), f"the envd reference protos are missing: expected them in {ENVD}"
    out = tmp_path_factory.mktemp("envd")
    files = ("process/process.proto", "filesystem/filesystem.proto")
    result = protoc(files, out, plugin=plugin_wrapper(out), include=ENVD)
    assert result.returncode == 0, result.stderr
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    return SimpleNamespace(
        **{
            name: importlib.import_module(f"{package}.{name}")
            for package in ("process", "filesystem")
            for name in (f"{package}_pb2", f"{package}_connect")
        }
    )
