"""Build what the benchmark needs: the Go server and the generated Python code.

- protoc plugins for Go are installed with ``go install`` into ``.cache/go-bin``;
- protoc itself comes from ``grpcio-tools`` (``python -m grpc_tools.protoc``);
- the server binary is cached in ``.cache/bench/`` under a hash of everything
  that goes into it, so a second run skips the Go build;
- Python code is regenerated on every run (it takes a second) into
  ``benchmarks/_gen/official`` (``protoc-gen-connectrpc``, the official
  plugin, ``protobuf=google``) and ``benchmarks/_gen/ours``
  (``protoc-gen-connect-python``, this project's plugin, when it works).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildResult", "build"]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PROTO_DIR = BENCH_DIR / "proto"
PROTO_FILE = "connectbench/v1/bench.proto"
SERVER_DIR = BENCH_DIR / "server"
GEN_DIR = BENCH_DIR / "_gen"
CACHE_DIR = ROOT / ".cache"
GO_BIN = CACHE_DIR / "go-bin"
BENCH_CACHE = CACHE_DIR / "bench"

GO_PLUGINS = {
    "protoc-gen-go": ("google.golang.org/protobuf/cmd/protoc-gen-go", "v1.36.12"),
    "protoc-gen-connect-go": ("connectrpc.com/connect/cmd/protoc-gen-connect-go", "v1.21.1"),
}


@dataclass
class BuildResult:
    server: Path
    gen_official: Path
    gen_ours: Path
    # None when this project's plugin generated the client; else why not.
    ours_generated_error: str | None


def _log(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise SystemExit("Go is needed to build the benchmark server (https://go.dev/dl/)")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOBIN"] = str(GO_BIN)
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def _plugin_version(binary: Path) -> str | None:
    """The module version a Go binary was built from (``go version -m``)."""
    try:
        out = _run([_go(), "version", "-m", str(binary)], env=_go_env())
    except RuntimeError:
        return None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod":
            return parts[2]
    return None


def _ensure_go_plugins() -> None:
    GO_BIN.mkdir(parents=True, exist_ok=True)
    for name, (package, version) in GO_PLUGINS.items():
        binary = GO_BIN / name
        if binary.exists() and _plugin_version(binary) == version:
            continue
        _log(f"go install {package}@{version}")
        _run([_go(), "install", f"{package}@{version}"], env=_go_env())


def _protoc(args: list[str]) -> None:
    _run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", *args, PROTO_FILE], ROOT)


def _server_hash() -> str:
    digest = hashlib.sha256()
    digest.update(_run([_go(), "version"], env=_go_env()).encode())
    for name, (package, version) in sorted(GO_PLUGINS.items()):
        digest.update(f"{name}{package}{version}".encode())
    for path in [PROTO_DIR / PROTO_FILE, *sorted(SERVER_DIR.glob("*.go")), SERVER_DIR / "go.mod"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    gosum = SERVER_DIR / "go.sum"
    if gosum.exists():
        digest.update(gosum.read_bytes())
    return digest.hexdigest()[:16]


def build_server() -> Path:
    """Generate the Go code and build the server, unless a cached binary matches."""
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    key = _server_hash()
    binary = BENCH_CACHE / f"benchserver-{key}"
    if binary.exists():
        return binary
    _ensure_go_plugins()
    gen = SERVER_DIR / "gen"
    shutil.rmtree(gen, ignore_errors=True)
    gen.mkdir()
    module = "connectpython/benchserver/gen"
    _log("generating Go code")
    _protoc(
        [
            f"--plugin=protoc-gen-go={GO_BIN / 'protoc-gen-go'}",
            f"--plugin=protoc-gen-connect-go={GO_BIN / 'protoc-gen-connect-go'}",
            f"--go_out={gen}",
            f"--go_opt=module={module}",
            f"--connect-go_out={gen}",
            f"--connect-go_opt=module={module}",
        ]
    )
    _log("building the Go server (first run downloads Go modules)")
    tmp = binary.with_suffix(".tmp")
    _run([_go(), "build", "-o", str(tmp), "."], cwd=SERVER_DIR, env=_go_env())
    tmp.replace(binary)
    for old in BENCH_CACHE.glob("benchserver-*"):
        if old != binary:
            old.unlink(missing_ok=True)
    return binary


def _package_dirs(out: Path) -> None:
    """protoc writes no ``__init__.py``; the generated modules import relatively."""
    (out / "__init__.py").write_text("")
    for directory in out.rglob("*"):
        if directory.is_dir() and directory.name != "__pycache__":
            (directory / "__init__.py").touch()


def _plugin_path(name: str) -> Path:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return Path(found)


def build_python(
    our_plugin: Path | None = None, gen_dir: Path = GEN_DIR
) -> tuple[Path, Path, str | None]:
    """Generate ``_pb2`` modules and both plugins' clients; return (official, ours, error).

    ``our_plugin`` is this project's plugin executable (default: the installed
    one); ``gen_dir`` where the code goes (a benchmark run uses its own).
    """
    official = gen_dir / "official"
    ours = gen_dir / "ours"
    for out in (official, ours):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    # The official plugin (protoc-gen-connectrpc), using Google's protobuf messages.
    _protoc(
        [
            f"--python_out={official}",
            f"--plugin=protoc-gen-connectrpc={_plugin_path('protoc-gen-connectrpc')}",
            f"--connectrpc_out={official}",
            "--connectrpc_opt=protobuf=google",
        ]
    )
    _package_dirs(official)
    # This project's plugin; while it cannot generate yet, the benchmark uses
    # the low-level client API (MethodInfo + AsyncConnectClient).
    _protoc([f"--python_out={ours}"])
    error: str | None = None
    plugin = our_plugin or _plugin_path("protoc-gen-connect-python")
    try:
        _protoc(
            [
                f"--plugin=protoc-gen-connect-python={plugin}",
                f"--connect-python_out={ours}",
            ]
        )
        if not (ours / "connectbench" / "v1" / "bench_connect.py").exists():
            error = "protoc-gen-connect-python wrote no bench_connect.py"
    except RuntimeError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    _package_dirs(ours)
    (ours / "STATUS.json").write_text(json.dumps({"generated_error": error}))
    return official, ours, error


def snapshot_runtime(dest: Path) -> str:
    """Copy this project's committed package (``git archive HEAD``) to ``dest``.

    The benchmark then imports the runtime and runs the plugin from ``dest/src``,
    so every run of a benchmark measures the same code even while the working
    tree changes. Returns the commit id.
    """
    import io
    import tarfile

    head = _run(["git", "rev-parse", "--short", "HEAD"], ROOT).strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", "src", "runtime_async", "mako_templates"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python without extraction filters; the archive is our own HEAD
            tar.extractall(dest)
    # The build hook's step: generate runtime_async/runtime_sync and templates.
    _run([sys.executable, str(dest / "src/connect_python/codegen/unasync.py"), str(dest)], dest)
    wrapper = dest / "protoc-gen-connect-python"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{dest / "src"}" exec "{sys.executable}" -m connect_python.codegen "$@"\n'
    )
    wrapper.chmod(0o755)
    return head


def build(snapshot: Path | None = None, gen_dir: Path = GEN_DIR) -> BuildResult:
    """Build everything; with ``snapshot`` (from :func:`snapshot_runtime`) use its plugin."""
    server = build_server()
    plugin = None if snapshot is None else snapshot / "protoc-gen-connect-python"
    official, ours, error = build_python(plugin, gen_dir)
    if error is not None:
        _log(f"this project's plugin is not usable yet, using the low-level API: {error}")
    return BuildResult(server, official, ours, error)


if __name__ == "__main__":
    result = build()
    print(json.dumps({k: str(v) for k, v in result.__dict__.items()}, indent=2))
