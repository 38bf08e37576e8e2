"""What ``help()`` shows: the public names and the generated clients document themselves.

Generated clients are checked on the generator's ``greet`` fixture (every call
shape, a GET-able method, deprecations), rendered at the narrowest and the
widest supported ``line_length``, and imported in a child process.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "tests" / "generator" / "protos"
FILES = ("greet/v1/greet.proto", "greet/v1/messages.proto", "common/v1/common.proto")
PLUGIN = Path(sys.executable).parent / "protoc-gen-connect-python"

# Run in the child: every client class of the module, its docstrings and signatures
# (its own methods and the constructor it inherits).
DESCRIBE = textwrap.dedent(
    """
    import inspect, json, pydoc, sys
    import greet.v1.greet_connect as mod

    out = {}
    for name in mod.__all__:
        cls = getattr(mod, name)
        if not isinstance(cls, type):
            continue
        methods = {}
        # The constructor is inherited from the runtime's service-client base.
        for attr, fn in {"__init__": cls.__init__, **vars(cls)}.items():
            if attr.startswith("__") and attr != "__init__" or not callable(fn):
                continue
            params = inspect.signature(fn).parameters.values()
            methods[attr] = {
                "doc": fn.__doc__,
                "params": [p.name for p in params if p.name != "self"],
                "keyword_only": [p.name for p in params if p.kind is p.KEYWORD_ONLY],
            }
        out[name] = {"doc": cls.__doc__, "methods": methods, "help": pydoc.render_doc(cls)}
    json.dump(out, sys.stdout)
    """
)

KIND = {
    "say": "Unary call of",
    "lookup": "Unary call of",
    "count": "Server stream of",
    "collect": "Client stream of",
    "converse": "Bidirectional stream of",
}


def _generate(out: Path, line_length: int) -> Path:
    out.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--plugin=protoc-gen-connect-python={PLUGIN}",
        f"--connect-python_out={out}",
        f"--connect-python_opt=line_length={line_length}",
        *FILES,
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return out / "greet" / "v1" / "greet_connect.py"


def _describe(root: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", DESCRIBE],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    described: dict[str, Any] = json.loads(result.stdout)
    return described


@pytest.mark.parametrize(
    "module", ["connect_python", "connect_python.runtime_async", "connect_python.runtime_sync"]
)
def test_exported_names_have_their_own_docstrings(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:
        obj = getattr(mod, name)
        doc = obj.__doc__
        # A type alias (``A | B``) would show the docstring of ``types.UnionType``.
        assert doc and doc != type(obj).__doc__, f"{module}.{name}: {doc!r}"


@pytest.mark.parametrize("line_length", [60, 1000])
def test_generated_docstrings_fit_the_line_length(tmp_path: Path, line_length: int) -> None:
    source = _generate(tmp_path / "gen", line_length).read_text()
    lines = source.splitlines()
    docstrings = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings += 1
                assert first.end_lineno is not None
                for line in lines[first.lineno - 1 : first.end_lineno]:
                    assert len(line) <= line_length, line
    assert docstrings > 20


def test_generated_clients_document_every_argument(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    _generate(root, 88)
    clients = _describe(root)
    pairs = [
        (a, a.removeprefix("Async")) for a in clients if a.startswith("Async") and "Empty" not in a
    ]
    assert ("AsyncGreetServiceClient", "GreetServiceClient") in pairs
    for async_name, sync_name in pairs:
        for name, is_async in ((async_name, True), (sync_name, False)):
            cls = clients[name]
            assert cls["doc"] and "Client of the ``greet.v1." in cls["doc"], name
            init = cls["methods"]["__init__"]
            for param in init["params"]:
                assert f"``{param}``" in init["doc"], (name, param)
            if is_async:
                assert "``async with``" in init["doc"] and "``aclose()``" in init["doc"]
                assert "``AsyncTransport``" in init["doc"]
            else:
                assert "``with``" in init["doc"] and "``close()``" in init["doc"]
                assert "``Transport``" in init["doc"]
                assert not {"async", "await", "aclose", "Async"} & set(
                    init["doc"].replace("`", " ").replace("(", " ").split()
                )
            for method, info in cls["methods"].items():
                if method in ("__init__", "aclose", "close"):
                    continue
                assert info["keyword_only"], (name, method)
                for param in info["keyword_only"]:
                    assert f"- ``{param}``:" in info["doc"], (name, method, param)
                sync_info = clients[sync_name]["methods"][method]
                assert info["doc"] == sync_info["doc"], (name, method)
            assert "Keyword arguments:" in cls["help"]
    greet = clients["AsyncGreetServiceClient"]["methods"]
    assert greet["say"]["doc"].startswith("Say hello. The reply repeats the name.\n")
    for method, kind in KIND.items():
        assert f"{kind} ``/greet.v1.GreetService/" in greet[method]["doc"], method
    for method in ("count", "converse"):
        assert "``response_headers``" in greet[method]["doc"]
    assert "``use_get``" in greet["lookup"]["doc"] and "use_get" not in greet["say"]["doc"]
