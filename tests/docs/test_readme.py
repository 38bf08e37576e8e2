"""The README's examples and claims, run as written.

- Every ```python block runs as a script against the demo server (the official
  ``connectrpc`` app from ``examples/``), with the demo's generated code on
  ``PYTHONPATH`` and warnings as errors. The README's examples use
  ``http://127.0.0.1:8080`` (where ``bash scripts/demo.sh --serve`` serves); here
  the server runs on a free port and that URL is replaced by its URL. A block
  whose comment offers ``backend="trio"`` runs on trio too. The mutual-TLS
  example (``https://127.0.0.1:8443``) runs against the demo server serving TLS
  and requiring client certificates, with ``certs/`` made by ``trustme``.
- A block may be left unrun only if its first line says ``# Not run:`` and why;
  the one such block (the sketch of the generated API) is compared with the
  golden file it sketches.
- The protoc command, the buf configuration and the claim about their output,
  the quoted error of an unknown option, and the mypy configuration (on the
  README's "In use" example) are run and checked.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GOLDEN = ROOT / "tests/generator/golden/default/greet/v1/greet_connect.py.golden"
SERVICE_BASE = ROOT / "runtime_async" / "_service.py"  # AsyncServiceClient
README_URL = "http://127.0.0.1:8080"
#: The README's mutual-TLS example: the demo server requiring client certificates.
MTLS_URL = "https://127.0.0.1:8443"
NOT_RUN = "# Not run:"
TRIO = 'anyio.run(main, backend="trio")'

sys.path.insert(0, str(ROOT / "examples"))

from run_demo import (  # noqa: E402
    README_PORT,
    demo_server,
    generate_client,
    generate_server_stubs,
)


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence
    code: str
    before: str  # the README text just before the block


def _blocks() -> list[Block]:
    text = README.read_text()
    found = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M):
        line = text.count("\n", 0, m.start()) + 1
        found.append(Block(m[1], line, m[2], text[max(0, m.start() - 400) : m.start()]))
    return found


BLOCKS = _blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
RUNNABLE = [b for b in PYTHON if not b.code.startswith(NOT_RUN)]
RUNS = [(b, "asyncio") for b in RUNNABLE] + [(b, "trio") for b in RUNNABLE if TRIO in b.code]


def _one(blocks: list[Block], what: str) -> Block:
    assert len(blocks) == 1, f"expected one README block with {what}, found {len(blocks)}"
    return blocks[0]


def _dev_env() -> dict[str, str]:
    """This environment, with the development venv first on PATH (``python``,
    ``protoc-gen-connect-python``, ``buf``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _workdir(tmp_path: Path) -> Path:
    """A directory laid out like a checkout for the README's commands (``examples/proto``)."""
    (tmp_path / "examples").mkdir()
    shutil.copytree(ROOT / "examples" / "proto", tmp_path / "examples" / "proto")
    return tmp_path


def _sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=_dev_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL of the demo server, directory of the generated client code)."""
    gen = tmp_path_factory.mktemp("demo-gen")
    generate_client(gen / "client")
    generate_server_stubs(gen / "server")
    with demo_server(stubs=gen / "server") as url:
        yield url, gen / "client"


@pytest.fixture(scope="module")
def mtls_demo(
    demo: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(base URL of the demo server over mutual TLS, its ``certs/`` folder)."""
    certs = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    server.private_key_pem.write_to_path(str(certs / "server-key.pem"))
    client = ca.issue_cert("client.example")
    client.cert_chain_pems[0].write_to_path(str(certs / "client.pem"))
    client.private_key_pem.write_to_path(str(certs / "client-key.pem"))
    with demo_server(stubs=demo[1].parent / "server", certs=certs) as url:
        yield url, certs


def test_every_python_block_runs_or_says_why() -> None:
    assert len(RUNNABLE) >= 3
    unrun = [b for b in PYTHON if b.code.startswith(NOT_RUN)]
    # Only the API sketch; test_api_sketch_matches_the_generated_code checks it.
    assert [b.code.splitlines()[0] for b in unrun] == [
        "# Not run: a sketch of generated signatures. tests/docs/test_readme.py checks it"
    ]
    assert README_PORT == 8080 and all(README_URL in b.code or MTLS_URL in b.code for b in RUNNABLE)
    assert len([b for b in RUNNABLE if MTLS_URL in b.code]) == 1


@pytest.mark.parametrize(
    ("block", "backend"), RUNS, ids=[f"README.md:{b.line}-{backend}" for b, backend in RUNS]
)
def test_python_block_runs(
    block: Block,
    backend: str,
    demo: tuple[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url, client = demo
    code = block.code.replace(README_URL, url)
    if MTLS_URL in code:
        mtls_url, certs = request.getfixturevalue("mtls_demo")
        code = code.replace(MTLS_URL, mtls_url)
        shutil.copytree(certs, tmp_path / "certs")
    if backend == "trio":
        assert code.count("anyio.run(main)") == 1
        code = code.replace("anyio.run(main)", TRIO)
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env={**_dev_env(), "PYTHONPATH": str(client)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"README.md:{block.line}\n{result.stderr}"
    assert result.stderr == ""
    assert result.stdout.strip()


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, object]:
    args = fn.args
    return {
        "async": isinstance(fn, ast.AsyncFunctionDef),
        "positional": [a.arg for a in args.args],
        "keyword_only": [a.arg for a in args.kwonlyargs],
        "returns": ast.unparse(fn.returns) if fn.returns else None,
    }


def _defaults(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """Parameter -> default (as source) for the parameters that show one."""
    args = fn.args
    positional = dict(zip([a.arg for a in args.args][::-1], args.defaults[::-1], strict=False))
    keyword = dict(zip([a.arg for a in args.kwonlyargs], args.kw_defaults, strict=True))
    return {k: ast.unparse(v) for k, v in {**positional, **keyword}.items() if v is not None}


def _class(source: str, cls: str) -> ast.ClassDef:
    (node,) = (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == cls)
    return node


def _methods(source: str, cls: str) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    node = _class(source, cls)
    return {f.name: f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_api_sketch_matches_the_generated_code() -> None:
    sketch = _one([b for b in PYTHON if b.code.startswith(NOT_RUN)], "the API sketch")
    bases = [ast.unparse(b) for b in _class(GOLDEN.read_text(), "AsyncGreetServiceClient").bases]
    assert bases == ["runtime_async.AsyncServiceClient"]
    assert [ast.unparse(b) for b in _class(sketch.code, "AsyncGreetServiceClient").bases] == bases
    # The generated methods, and what the class inherits from the runtime's base.
    real = {
        **_methods(SERVICE_BASE.read_text(), "AsyncServiceClient"),
        **_methods(GOLDEN.read_text(), "AsyncGreetServiceClient"),
    }
    sketched = _methods(sketch.code, "AsyncGreetServiceClient")
    assert len(sketched) >= 6
    for name, fn in sketched.items():
        assert name in real, name
        assert _signature(fn) == _signature(real[name]), name
        # Annotations and defaults the sketch shows are the real ones.
        real_args = {a.arg: a for a in real[name].args.args + real[name].args.kwonlyargs}
        for a in fn.args.args + fn.args.kwonlyargs:
            if a.annotation is not None:
                assert real_args[a.arg].annotation is not None
                assert ast.unparse(a.annotation) == ast.unparse(real_args[a.arg].annotation)
        assert _defaults(fn) == {
            k: v for k, v in _defaults(real[name]).items() if k in _defaults(fn)
        }


def test_unknown_option_error_is_quoted_as_printed(tmp_path: Path) -> None:
    block = _one(
        [b for b in BLOCKS if b.lang == "text" and "frobnicate" in b.code], "the option error"
    )
    lines = block.code.splitlines()
    command_lines = [lines[0].removeprefix("$ ")]
    while command_lines[-1].endswith("\\"):
        command_lines.append(lines[len(command_lines)])
    expected = "\n".join(lines[len(command_lines) :])
    work = _workdir(tmp_path)
    (work / "gen").mkdir()
    result = _sh("\n".join(command_lines), work)
    assert result.returncode != 0
    assert result.stderr.strip() == expected


def test_protoc_buf_and_mypy_instructions(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    # "With protoc": the command as written.
    protoc = _one(
        [b for b in BLOCKS if b.lang == "sh" and "grpc_tools.protoc" in b.code],
        "the protoc command",
    )
    result = _sh(protoc.code, work)
    assert result.returncode == 0, result.stderr
    out = work / "gen" / "demo" / "process" / "v1"
    assert {p.name for p in out.iterdir()} >= {
        "process_pb2.py",
        "process_pb2.pyi",
        "process_connect.py",
    }

    # "With buf": the configuration as written; what it says about the output.
    config = _one([b for b in BLOCKS if b.lang == "yaml" and "buf.gen.yaml" in b.code], "buf.gen")
    buf_dir = tmp_path / "buf"
    shutil.copytree(work / "examples" / "proto", buf_dir / "proto")
    (buf_dir / "buf.gen.yaml").write_text(config.code)
    result = _sh("buf generate proto", buf_dir)
    assert result.returncode == 0, result.stderr
    by_buf = buf_dir / "gen" / "demo" / "process" / "v1"
    for name in ("process_connect.py", "process_pb2.pyi"):
        assert (by_buf / name).read_bytes() == (out / name).read_bytes(), name
    assert (by_buf / "process_pb2.py").read_bytes() != (out / "process_pb2.py").read_bytes()
    assert b"json_name" not in (out / "process_pb2.py").read_bytes()  # (in the descriptor bytes)

    # "Lint and type checks": the mypy configuration, on the "In use" example.
    toml = _one([b for b in BLOCKS if b.lang == "toml" and "[tool.mypy]" in b.code], "mypy config")
    (work / "pyproject.toml").write_text(toml.code)
    in_use = _one([b for b in RUNNABLE if "In use, async" in b.before], "the In use example")
    (work / "app.py").write_text(in_use.code)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=work,
        env=_dev_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 3 source files" in result.stdout
