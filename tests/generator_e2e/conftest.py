"""The generated client for ``tests/proto/connectpy/testing/v1/testing.proto``.

Generated once per session with this plugin (through real protoc) into a temp
directory and imported from there, once per message runtime (``generated``):
with Google's runtime its ``_pb2`` module is the one the root conftest wrote
to ``tests/_generated``; with ``messages=protobuf-py`` the client and
``protoc-gen-py``'s ``testing_pb`` module are written side by side into a
package of their own (``e2epb``), as users generate them.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from types import ModuleType, SimpleNamespace

import pytest
from _support.protos_pb import protoc_gen_py
from generator._helpers import REPO, WKT_INCLUDE, plugin_wrapper, protoc

PROTO_ROOT = REPO / "tests" / "proto"
PROTO = "connectpy/testing/v1/testing.proto"
_PB2 = "connectpy.testing.v1.testing_pb2"


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


def _protobuf_py_client(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("testing-connect-pb")
    out = root / "e2epb"
    out.mkdir()
    for args in (
        [f"--plugin=protoc-gen-py={protoc_gen_py()}", f"--py_out={out}"],
        [
            f"--plugin=protoc-gen-connect-python={plugin_wrapper(root)}",
            f"--connect-python_out={out}",
            "--connect-python_opt=messages=protobuf-py",
        ],
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"-I{WKT_INCLUDE}",
                *args,
                PROTO,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(root))
    return SimpleNamespace(
        connect=importlib.import_module("e2epb.connectpy.testing.v1.testing_connect"),
        pb=importlib.import_module("e2epb.connectpy.testing.v1.testing_pb"),
    )


@pytest.fixture(scope="session", params=["google", "protobuf-py"])
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SimpleNamespace:
    """``.connect`` (the generated client module) and ``.pb`` (its messages), per runtime."""
    if request.param == "protobuf-py":
        return _protobuf_py_client(tmp_path_factory)
    connect: ModuleType = request.getfixturevalue("testing_connect")
    return SimpleNamespace(connect=connect, pb=importlib.import_module(_PB2))
