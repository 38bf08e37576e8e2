"""The generated client for ``tests/proto/connectpy/testing/v1/testing.proto``.

Generated once per session with this plugin (through real protoc) into a temp
directory and imported from there; its ``_pb2`` module is the one the root
conftest wrote to ``tests/_generated``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from generator._helpers import REPO, plugin_wrapper, protoc

PROTO_ROOT = REPO / "tests" / "proto"
PROTO = "connectpy/testing/v1/testing.proto"


@pytest.fixture(scope="session")
def testing_connect(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The generated ``testing_connect`` module (async and sync clients)."""
    work = tmp_path_factory.mktemp("testing-connect")
    result = protoc([PROTO], work, plugin=plugin_wrapper(work), include=PROTO_ROOT, python=False)
    assert result.returncode == 0, result.stderr
    path = work / "connectpy" / "testing" / "v1" / "testing_connect.py"
    name = "generated_testing_connect"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
