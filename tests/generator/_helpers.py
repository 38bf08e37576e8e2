"""Running the plugin the way users do (protoc, buf) and checking what it wrote.

Everything runs as subprocesses of the test interpreter: protoc from
``grpc_tools``, buf from the ``buf-bin`` package, ruff and mypy as modules.
The plugin itself is started through a small wrapper script that runs
``python -m connect_python.codegen`` with this interpreter, so the tests do not
depend on a console script being on ``PATH`` (one test checks that script).
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "generator"
PROTOS = HERE / "protos"
BAD_PROTOS = HERE / "bad_protos"
GOLDEN = HERE / "golden"
GOLDEN_SUFFIX = ".golden"
WKT_INCLUDE = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
#: CI keeps the shared material beside the clone: <repo>/../shared/envd.
ENVD = REPO.parent / "shared" / "envd"
BIN = Path(sys.executable).parent

#: The rules generated code is checked with: the project's own set plus a few
#: more that users commonly enable (annotations, naming, builtins shadowing,
#: quotes, returns...). Left out on purpose: PYI034 (it wants ``Self`` from
#: ``__aenter__``, which needs ``typing_extensions`` on Python 3.10), TC (moving
#: annotation-only imports under ``TYPE_CHECKING``) and PLR0913 (argument count).
RUFF_RULES = "E,F,W,I,UP,B,SIM,RUF,ANN,C4,PIE,N,A,ISC,Q,RET"


@dataclass(frozen=True)
class Variant:
    """One way of running the plugin over (some of) the fixture protos."""

    name: str
    files: tuple[str, ...]
    options: tuple[str, ...] = ()
    line_length: int = 88
    #: proto file -> where its _pb2 module must be importable from (for M options)
    moved: Mapping[str, str] = field(default_factory=dict)
    #: package directory the _pb2 and _connect modules are written under
    prefix_dir: str = ""


def fixture_files() -> tuple[str, ...]:
    return tuple(sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto")))


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("default", fixture_files()),
        Variant("async_only", ("greet/v1/greet.proto",), ("clients=async",)),
        Variant("sync_only", ("greet/v1/greet.proto",), ("clients=sync",)),
        Variant(
            "decorator",
            ("greet/v1/greet.proto", "layout/v1/layout.proto"),
            ("deprecation=decorator",),
        ),
        Variant("line_length_100", ("layout/v1/layout.proto",), ("line_length=100",), 100),
        # The narrowest and the widest line length; at 60 only names that fit (layout's
        # do not: see test_layout.py).
        Variant(
            "line_length_60",
            ("greet/v1/greet.proto", "naming/v1/naming.proto", "order/order.proto"),
            ("line_length=60",),
            60,
        ),
        Variant(
            "line_length_1000",
            ("greet/v1/greet.proto", "layout/v1/layout.proto", "order/order.proto"),
            ("line_length=1000",),
            1000,
        ),
        Variant(
            "import_prefix",
            ("dotted/my-service.v1.proto", "legacy/legacy.proto", "no_package.proto"),
            ("import_prefix=myapp.gen", "Mlegacy/legacy.proto=oldstuff.legacy_pb2"),
            moved={"legacy/legacy.proto": "oldstuff/legacy_pb2"},
            prefix_dir="myapp/gen",
        ),
    )
}


def plugin_wrapper(directory: Path) -> Path:
    """An executable that runs the plugin with this interpreter."""
    path = directory / "protoc-gen-connect-python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m connect_python.codegen "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _protoc_command(include: Path, *args: str) -> list[str]:
    """protoc (``grpc_tools``) with ``include`` and the well-known types on its path."""
    return [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", f"-I{WKT_INCLUDE}", *args]


def run_protoc(include: Path, files: Sequence[str], *args: str) -> None:
    """Run protoc on ``files`` with ``args``; asserts that it succeeded."""
    result = subprocess.run(
        [*_protoc_command(include, *args), *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def protoc(
    files: Iterable[str],
    out: Path,
    *,
    plugin: Path,
    options: Sequence[str] = (),
    include: Path = PROTOS,
    python: bool = True,
    connect: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run protoc; returns the finished process (check ``returncode`` yourself)."""
    out.mkdir(parents=True, exist_ok=True)
    args = _protoc_command(include, f"--plugin=protoc-gen-connect-python={plugin}")
    if python:
        args += [f"--python_out={out}", f"--pyi_out={out}"]
    if connect:
        args.append(f"--connect-python_out={out}")
        if options:
            args.append(f"--connect-python_opt={','.join(options)}")
    args += list(files)
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def buf_binary() -> Path:
    found = BIN / "buf"
    if found.is_file():
        return found
    which = shutil.which("buf")
    if which is None:
        raise RuntimeError("buf not found: install the dev dependencies (buf-bin)")
    return Path(which)


def buf_generate(
    files: Iterable[str],
    out: Path,
    work: Path,
    *,
    options: Sequence[str] = (),
    python: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``buf generate`` over the fixture directory with this plugin as a local plugin
    (and, with ``python``, protoc's built-in ``python`` and ``pyi`` generators)."""
    work.mkdir(parents=True, exist_ok=True)
    opt = "".join(f"\n      - {o}" for o in options)
    builtins = "".join(
        f"  - protoc_builtin: {name}\n"
        f'    protoc_path: ["{sys.executable}", "-m", "grpc_tools.protoc"]\n'
        f"    out: {out}\n"
        for name in (("python", "pyi") if python else ())
    )
    template = work / "buf.gen.yaml"
    template.write_text(
        "version: v2\n"
        "plugins:\n"
        + builtins
        + f'  - local: ["{sys.executable}", "-m", "connect_python.codegen"]\n'
        f"    out: {out}\n" + (f"    opt:{opt}\n" if options else "")
    )
    args = [str(buf_binary()), "generate", str(PROTOS), "--template", str(template)]
    for f in files:
        args += ["--path", str(PROTOS / f)]
    env = {**os.environ, "BUF_CACHE_DIR": str(work / "cache"), "HOME": str(work)}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, cwd=work, env=env
    )


def connect_tree(root: Path) -> dict[str, str]:
    """Every ``_connect.py`` under ``root`` by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*_connect.py"))
    }


def golden_tree(variant: str) -> dict[str, str]:
    base = GOLDEN / variant
    return {
        p.relative_to(base).as_posix()[: -len(GOLDEN_SUFFIX)]: p.read_text(encoding="utf-8")
        for p in sorted(base.rglob(f"*{GOLDEN_SUFFIX}"))
    }


def write_golden(variant: str, tree: Mapping[str, str]) -> None:
    base = GOLDEN / variant
    if base.exists():
        shutil.rmtree(base)
    for rel, text in tree.items():
        path = base / (rel + GOLDEN_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def module_name(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def run_tool(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )


def ruff_check(
    root: Path, files: Sequence[Path], line_length: int
) -> subprocess.CompletedProcess[str]:
    return run_tool(
        [
            "ruff",
            "check",
            "--isolated",
            "--no-cache",
            "--target-version",
            "py310",
            "--line-length",
            str(line_length),
            "--select",
            RUFF_RULES,
            "--output-format",
            "concise",
            *map(str, files),
        ],
        root,
    )


def ruff_format_check(
    root: Path, files: Sequence[Path], line_length: int
) -> subprocess.CompletedProcess[str]:
    return run_tool(
        [
            "ruff",
            "format",
            "--isolated",
            "--no-cache",
            "--check",
            "--diff",
            "--target-version",
            "py310",
            "--line-length",
            str(line_length),
            *map(str, files),
        ],
        root,
    )


def mypy_strict(root: Path, files: Sequence[Path], cache: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``files``.

    protoc's own ``.pyi`` stubs are not strict-clean (they use a bare
    ``Mapping`` in message constructors), so errors inside ``_pb2`` modules
    are ignored; the generated ``_connect`` modules are checked in full.
    """
    pb2 = sorted(module_name(root, p) for p in root.rglob("*_pb2.pyi"))
    config = root / "mypy.ini"
    text = "[mypy]\nstrict = True\nexplicit_package_bases = True\nwarn_unreachable = True\n"
    if pb2:
        text += f"\n[mypy-{','.join(pb2)}]\nignore_errors = True\n"
    config.write_text(text)
    return run_tool(
        ["mypy", "--config-file", str(config), "--cache-dir", str(cache), *map(str, files)], root
    )


def import_all(root: Path, modules: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Import every module in a fresh interpreter with warnings as errors."""
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=root,
        env=env,
    )


def request_for(
    files: Sequence[str], parameter: str = "", include: Path = PROTOS
) -> plugin_pb2.CodeGeneratorRequest:
    """A ``CodeGeneratorRequest`` as protoc would send it, built from a descriptor set
    (every dependency included, in dependency order, with source info)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        run_protoc(
            include,
            files,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
        )
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return plugin_pb2.CodeGeneratorRequest(
        file_to_generate=list(files), parameter=parameter, proto_file=fds.file
    )
