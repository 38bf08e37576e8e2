"""The clients the testing kit's tests drive: envd's process and filesystem
clients, generated from the reference protos (``<repo>/../shared/envd``) by
this plugin through real protoc, and the test service's client (for a bidi
stream, which envd's services don't have).

The kit's fixtures come from its pytest plugin (imported here as well, so
the tests also run before the package's entry point is installed).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from generator._helpers import ENVD, REPO, plugin_wrapper, protoc

from connect_python._pytest_plugin import async_fake_transport, fake_transport

__all__ = ["async_fake_transport", "envd", "fake_transport", "testing_connect"]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="session")
def testing_connect(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The test service's generated client module (its ``_pb2`` is the one the
    root conftest wrote to ``tests/_generated``)."""
    work = tmp_path_factory.mktemp("testing-connect")
    proto = "connectpy/testing/v1/testing.proto"
    result = protoc(
        [proto], work, plugin=plugin_wrapper(work), include=REPO / "tests" / "proto", python=False
    )
    assert result.returncode == 0, result.stderr
    path = work / "connectpy" / "testing" / "v1" / "testing_connect.py"
    return _load(path, "testing_kit_testing_connect")
