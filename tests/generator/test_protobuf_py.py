"""``messages=protobuf-py``: modules for Buf's ``protobuf-py`` messages.

protoc and buf run ``protoc-gen-py`` (the ``_pb`` message modules) and this
plugin side by side into one output package, as users do; the ``_connect``
modules must match the golden files (``golden/protobuf_py*``), import beside
``protoc-gen-py``'s modules (relative imports, so the output tree is a package
``gen``), and pass ruff and ``mypy --strict`` as written. The envd protos are
covered in both flavours (``golden/envd_google``, ``golden/envd_protobuf_py``).

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/generator/test_protobuf_py.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from connect_python.codegen import naming_pb
from connect_python.codegen.options import OptionError, parse_options

from ._helpers import (
    BIN,
    ENVD,
    PROTOS,
    buf_binary,
    connect_tree,
    fixture_files,
    golden_tree,
    import_all,
    module_name,
    mypy_strict,
    ruff_check,
    ruff_format_check,
    run_protoc,
    write_golden,
)
from .test_golden import _diff

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PROTOC_GEN_PY = BIN / "protoc-gen-py"
PB = "messages=protobuf-py"
#: The package the output tree is (protoc-gen-py's modules import relatively).
PACKAGE = "gen"


@dataclass(frozen=True)
class PbVariant:
    golden: str
    files: tuple[str, ...]
    options: tuple[str, ...]
    include: Path = PROTOS
    #: the package directory the output goes to, under the temp root
    out_dir: str = PACKAGE


VARIANTS = {
    v.golden: v
    for v in (
        PbVariant("protobuf_py", fixture_files(), (PB,)),
        # Absolute imports under a prefix, one file mapped elsewhere by an M option.
        PbVariant(
            "protobuf_py_import_prefix",
            ("greet/v1/greet.proto", "clash/bridge.proto", "legacy/legacy.proto"),
            (PB, "import_prefix=myapp.gen", "Mlegacy/legacy.proto=myapp.gen.legacy.legacy_pb"),
            out_dir="myapp/gen",
        ),
        PbVariant(
            "protobuf_py_escapes",
            ("class/1-names.v1.proto",),
            (PB,),
            Path(__file__).parent / "protos_pb",
        ),
        PbVariant(
            "envd_protobuf_py",
            ("process/process.proto", "filesystem/filesystem.proto"),
            (PB,),
            ENVD,
        ),
    )
}


def _protoc(v: PbVariant, root: Path, plugin: Path) -> None:
    """protoc-gen-py for every file (a variant's files import others), then this
    plugin for the variant's files."""
    out = root / v.out_dir
    out.mkdir(parents=True)
    every = fixture_files() if v.include == PROTOS else v.files
    run_protoc(v.include, every, f"--plugin=protoc-gen-py={PROTOC_GEN_PY}", f"--py_out={out}")
    run_protoc(
        v.include,
        v.files,
        f"--plugin=protoc-gen-connect-python={plugin}",
        f"--connect-python_out={out}",
        f"--connect-python_opt={','.join(v.options)}",
    )


def _buf(v: PbVariant, root: Path) -> subprocess.CompletedProcess[str]:
    """``buf generate`` with the buf.gen.yaml the README shows for protobuf-py."""
    out = root / v.out_dir
    work = root / "work"
    work.mkdir(parents=True)
    opts = "".join(f"\n      - {o}" for o in v.options)
    (work / "buf.gen.yaml").write_text(
        "version: v2\n"
        "plugins:\n"
        f'  - local: ["{PROTOC_GEN_PY}"]\n'
        f"    out: {out}\n"
        f'  - local: ["{sys.executable}", "-m", "connect_python.codegen"]\n'
        f"    out: {out}\n"
        f"    opt:{opts}\n"
    )
    args = [str(buf_binary()), "generate", str(v.include), "--template", "buf.gen.yaml"]
    for f in v.files:
        args += ["--path", str(v.include / f)]
    env = {**os.environ, "BUF_CACHE_DIR": str(work / "cache"), "HOME": str(work)}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, cwd=work, env=env
    )


def _check_golden(golden: str, actual: dict[str, str]) -> None:
    assert actual, "the plugin wrote no _connect.py files"
    if UPDATE:
        write_golden(golden, actual)
    expected = golden_tree(golden)
    assert expected, f"no golden files for {golden}: run with UPDATE_GOLDEN=1"
    assert actual == expected, f"differs from golden/{golden}:\n" + _diff(expected, actual)


def _check_finished(root: Path, files: Sequence[Path]) -> None:
    """Importable beside protoc-gen-py's modules, ruff and mypy --strict clean."""
    modules = [module_name(root, p) for p in files]
    checks = {
        "import": import_all(root, modules),
        "mypy --strict": mypy_strict(root, files, root / ".mypy-cache"),
        "ruff check": ruff_check(root, files, 88),
        "ruff format --check": ruff_format_check(root, files, 88),
    }
    failed = {k: v.stdout + v.stderr for k, v in checks.items() if v.returncode != 0}
    assert not failed, failed


@pytest.mark.parametrize("golden", sorted(VARIANTS))
def test_protoc(golden: str, tmp_path: Path, plugin: Path) -> None:
    v = VARIANTS[golden]
    assert v.include.is_dir(), f"missing: {v.include}"
    _protoc(v, tmp_path, plugin)
    out = tmp_path / v.out_dir
    tree = connect_tree(out)
    _check_golden(golden, tree)
    # Each _connect.py sits next to the _pb.py protoc-gen-py wrote for the same file.
    for rel in tree:
        assert (out / rel.replace("_connect.py", "_pb.py")).is_file(), rel
    if "import_prefix=myapp.gen" in v.options:
        for part in ("myapp", "myapp/gen"):  # protoc-gen-py made gen/'s own __init__.py
            (tmp_path / part / "__init__.py").touch()
    _check_finished(tmp_path, sorted(out.rglob("*_connect.py")))


@pytest.mark.parametrize("golden", ["protobuf_py", "envd_protobuf_py"])
def test_buf(golden: str, tmp_path: Path) -> None:
    v = VARIANTS[golden]
    result = _buf(v, tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / v.out_dir
    assert connect_tree(out) == golden_tree(golden)
    _check_finished(tmp_path, sorted(out.rglob("*_connect.py")))


def test_envd_google_golden(tmp_path: Path, plugin: Path) -> None:
    """The envd protos with the default runtime, pinned by golden files too."""
    v = PbVariant("envd_google", VARIANTS["envd_protobuf_py"].files, (), ENVD)
    out = tmp_path / "out"
    out.mkdir()
    run_protoc(
        ENVD,
        v.files,
        f"--plugin=protoc-gen-connect-python={plugin}",
        f"--connect-python_out={out}",
    )
    _check_golden(v.golden, connect_tree(out))


def test_messages_option() -> None:
    assert parse_options("").messages == "google"
    assert parse_options("messages=protobuf-py,clients=sync").messages == "protobuf-py"
    with pytest.raises(OptionError, match="messages='pb2': expected 'google' or 'protobuf-py'"):
        parse_options("messages=pb2")


@pytest.mark.parametrize(
    ("proto", "module"),
    [
        ("greet/v1/greet.proto", "greet.v1.greet_pb"),
        ("dotted/my-service.v1.proto", "dotted.my_service_v1_pb"),
        ("class/1-names.v1.proto", "class_.pb__1_names_v1_pb"),
        ("a_pb/_x/pb_y.proto", "a_pb_.pb__x.pb_pb_y_pb"),
        ("no_package.proto", "no_package_pb"),
    ],
)
def test_module_names(proto: str, module: str) -> None:
    assert ".".join(naming_pb.module_parts(proto)) == module


@pytest.mark.parametrize(
    ("importer", "target", "statement"),
    [
        ("a.b.x_connect", "a.b.y_pb", (".", "y_pb")),
        ("a.b.x_connect", "a.c.y_pb", ("..c", "y_pb")),
        ("a.b.x_connect", "y_pb", ("...", "y_pb")),
        ("x_connect", "a.b.y_pb", (".a.b", "y_pb")),
        ("greet.v1.greet_connect", "common.v1.common_pb", ("...common.v1", "common_pb")),
    ],
)
def test_relative_imports(importer: str, target: str, statement: tuple[str, str]) -> None:
    assert (
        naming_pb.relative_import(tuple(importer.split(".")), tuple(target.split("."))) == statement
    )
