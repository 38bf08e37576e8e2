"""The built wheel, installed as a user would into a clean virtual environment.

Every other test runs in the development environment, where the ``dev`` extra
brings in whatever the runtime forgot to declare (``trio`` pulls in ``sniffio``,
for one). Here the wheel is installed into a fresh ``python -m venv`` with pip
(from PyPI or pip's cache):

1. with no extras: both runtimes import, ``runtime_sync`` even with ``anyio``
   blocked, and nothing optional came along (no ``trio``, no ``mako``);
2. with ``[codegen]``: the installed ``protoc-gen-connect-python`` generates the
   demo client (protoc from the development environment's ``grpc_tools``); the
   clean environment's Python makes calls with it against the demo server, on
   asyncio (h2c) and sync (HTTP/1.1);
3. with ``[trio]``: the same async calls on trio.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from _support.clean_env import clean_env
from _support.demo import generate_client

ROOT = Path(__file__).resolve().parents[2]

# What the clean environment runs: one line of JSON with what the calls returned.
CLIENT = textwrap.dedent(
    """
    import json
    import sys

    import anyio
    import connect_python
    from connect_python.runtime_async import AsyncTransport
    from connect_python.runtime_sync import Transport
    from demo.process.v1 import process_pb2 as pb
    from demo.process.v1.process_connect import AsyncProcessClient, ProcessClient

    url, flavour = sys.argv[1], sys.argv[2]
    command = pb.StartRequest(process=pb.ProcessConfig(cmd="echo", args=[flavour]))


    async def run_async() -> dict[str, object]:
        async with (
            AsyncTransport(h2c=True) as transport,
            AsyncProcessClient(url, transport=transport, timeout=10) as client,
        ):
            async with client.start(command) as call:
                events = [r.event.WhichOneof("event") async for r in call]
            listing = await client.list_(pb.ListRequest())
            stdin = [pb.StreamInputRequest(input=pb.ProcessInput(stdin=b"abc"))] * 2
            sent = await client.stream_input(stdin)
        return {"events": events, "listed": len(listing.processes), "sent": sent.bytes_received}


    def run_sync() -> dict[str, object]:
        with (
            Transport(http2=False) as transport,
            ProcessClient(url, transport=transport, timeout=10) as client,
        ):
            with client.start(command) as call:
                events = [r.event.WhichOneof("event") for r in call]
            listing = client.list_(pb.ListRequest())
            stdin = [pb.StreamInputRequest(input=pb.ProcessInput(stdin=b"abc"))] * 2
            sent = client.stream_input(stdin)
        return {"events": events, "listed": len(listing.processes), "sent": sent.bytes_received}


    if flavour == "sync":
        result = run_sync()
    else:
        result = anyio.run(run_async, backend=flavour)
    result["package"] = connect_python.__file__
    print(json.dumps(result))
    """
)

IMPORTS = textwrap.dedent(
    """
    import importlib.util
    import sys

    # A sync-only program must not need anyio's event loop.
    sys.modules["anyio"] = None
    import connect_python.runtime_sync as rs

    client = rs.ConnectClient("http://127.0.0.1:9")
    client.close()
    assert "anyio" not in {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
    del sys.modules["anyio"]
    import connect_python.runtime_async as ra

    assert ra.AsyncConnectClient and ra.AsyncTransport
    optional = [m for m in ("trio", "mako") if importlib.util.find_spec(m) is not None]
    print(rs.__file__)
    print("optional:", optional)
    """
)

EXPECTED_EVENTS = ["start", "data", "data", "data", "data", "end"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("connect_python_client-*.whl")
    return built


def test_clean_venv_install_generate_and_call(tmp_path: Path, wheel: Path, demo_url: str) -> None:
    env = clean_env()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q"]
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp_path,
        env,
    ).strip()

    # 1. No extras.
    _run([*pip, str(wheel)], tmp_path, env)
    out = _run([str(python), "-c", IMPORTS], tmp_path, env)
    assert out.splitlines()[0].startswith(site), out
    assert out.splitlines()[1] == "optional: []", out
    # The plugin without its extra says what to install instead of a traceback.
    bare = subprocess.run(
        [str(venv / "bin" / "protoc-gen-connect-python")],
        input=b"",
        capture_output=True,
        env=env,
        cwd=tmp_path,
    )
    assert bare.returncode == 1
    assert bare.stderr.decode() == (
        "protoc-gen-connect-python: the code generator needs the codegen extra "
        "(No module named 'mako'); install it with: pip install 'connect-python-client[codegen]'\n"
    )

    # 2. [codegen]: the installed plugin generates the client; asyncio and sync calls.
    _run([*pip, f"{wheel}[codegen]"], tmp_path, env)
    plugin = venv / "bin" / "protoc-gen-connect-python"
    gen = tmp_path / "gen"
    module = generate_client(gen, plugin=plugin)
    assert module.is_file()
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    call_env = {**env, "PYTHONPATH": str(gen)}
    for flavour in ("asyncio", "sync"):
        result = json.loads(_run([str(python), str(script), demo_url, flavour], tmp_path, call_env))
        assert result == {
            "events": EXPECTED_EVENTS,
            "listed": 0,
            "sent": 6,
            "package": f"{site}/connect_python/__init__.py",
        }, flavour

    # 3. [trio]: the same on trio.
    _run([*pip, f"{wheel}[trio]"], tmp_path, env)
    result = json.loads(_run([str(python), str(script), demo_url, "trio"], tmp_path, call_env))
    assert result["events"] == EXPECTED_EVENTS
    assert result["sent"] == 6


def _third_party_imports(source: str) -> set[tuple[str, bool]]:
    """(top-level name, imported at module level) for every absolute import,
    leaving out imports under ``if TYPE_CHECKING:``."""
    found: set[tuple[str, bool]] = set()

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update((a.name.split(".")[0], module_level) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add((child.module.split(".")[0], module_level))
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, module_level and not inner)

    visit(ast.parse(source), True)
    return {(name, top) for name, top in found if name not in sys.stdlib_module_names}


def _declared(wheel: Path) -> dict[str, set[str]]:
    """extra ("" for the base dependencies) -> distribution names, from the wheel's METADATA."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as whl:
        (meta,) = (n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        lines = whl.read(meta).decode().splitlines()
    declared: dict[str, set[str]] = {}
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        extra = ""
        if req.marker is not None:
            extra = next(
                (
                    e
                    for e in ("codegen", "compression", "trio", "dev")
                    if req.marker.evaluate({"extra": e})
                ),
                "?",
            )
        declared.setdefault(extra, set()).add(req.name.lower())
    return declared


def _requirements_of(dist: str) -> set[str]:
    """The distributions ``dist`` (installed here) requires, without extras."""
    from packaging.requirements import Requirement

    try:
        lines = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return set()
    found = set()
    for line in lines:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            found.add(req.name.lower())
    return found


def test_every_import_is_declared(wheel: Path) -> None:
    declared = _declared(wheel)
    for extra, names in declared.items():
        if extra not in ("", "dev"):
            # An extra may name a distribution that installs its module through
            # another one (protobuf-py's `protobuf` module comes with
            # protobuf-py-pure or protobuf-py-ext).
            declared[extra] = names | {d for n in names for d in _requirements_of(n)}
    base = declared[""]
    providers = importlib.metadata.packages_distributions()
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as whl:
        for name in sorted(n for n in whl.namelist() if n.endswith(".py")):
            in_plugin = name.startswith("connect_python/codegen/")
            for module, top in sorted(_third_party_imports(whl.read(name).decode())):
                if module == "connect_python":
                    continue
                if module == "pytest" and name == "connect_python/_pytest_plugin.py":
                    continue  # a pytest plugin: only pytest loads it
                dists = {d.lower() for d in providers.get(module, [module])}
                if top:
                    allowed = base | (declared.get("codegen", set()) if in_plugin else set())
                    where = "dependencies" + (" or [codegen]" if in_plugin else "")
                else:
                    allowed = set().union(*(v for k, v in declared.items() if k != "dev"))
                    where = "dependencies or an extra"
                if not dists & allowed:
                    problems.append(f"{name}: imports {module} ({sorted(dists)}), not in {where}")
    assert not problems, "\n".join(problems)
    # The extras this project documents.
    assert {"mako"} <= declared["codegen"] and {"trio"} <= declared["trio"]


def test_readme_quick_start_from_the_wheel(tmp_path: Path, wheel: Path) -> None:
    """The README's quick start, run as written in an empty directory (it makes
    its own virtual environment), with the built wheel in place of the index's
    package: it generates a client with the installed plugin and calls it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start") :]
    script = section[section.index("```bash\n") + len("```bash\n") :]
    script = script[: script.index("```")]
    published = '"connect-python-client[codegen]"'
    assert script.count(published) == 1
    script = script.replace(published, f'"{wheel}[codegen]"')
    env = clean_env()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-4:] == [
        "Hello, Ada!",
        "Hello #1, Ada!",
        "Hello #2, Ada!",
        "Hello #3, Ada!",
    ]
    assert (tmp_path / "gen" / "greet" / "v1" / "greet_connect.py").is_file()
    # The client ran from the quick start's own environment, not the source tree.
    site = subprocess.run(
        [
            str(tmp_path / ".venv" / "bin" / "python"),
            "-c",
            "import connect_python as c; print(c.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert site.startswith(str(tmp_path / ".venv")), site
