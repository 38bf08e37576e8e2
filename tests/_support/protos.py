"""Python code generation for the test protos (``tests/proto``).

:func:`generate_test_protos` writes ``tests/_generated/`` (gitignored): the
``_pb2.py``/``_pb2.pyi`` modules protoc's built-in generators produce, plus an
``__init__.py`` in every package directory, so that with ``tests/_generated``
on ``sys.path`` a test can ``from connectpy.testing.v1 import testing_pb2``.
Generation is skipped when the ``.proto`` files have not changed.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "GENERATED_DIR",
    "PROTO_DIR",
    "TESTS_DIR",
    "add_generated_to_path",
    "generate_once",
    "generate_test_protos",
]

TESTS_DIR = Path(__file__).resolve().parent.parent
PROTO_DIR = TESTS_DIR / "proto"
GENERATED_DIR = TESTS_DIR / "_generated"
_STAMP = ".proto-hash"


def generate_once(
    out: Path, proto_dir: Path, salt: str, run: Callable[[Path, list[str]], None]
) -> Path:
    """Write generated code for every ``.proto`` under ``proto_dir`` into ``out``
    (returned), unless ``out`` holds what these files (and ``salt``, e.g. the
    generator's version) made already. ``run(scratch, files)`` generates into
    an empty scratch directory (the files relative to ``proto_dir``), which
    then replaces ``out`` as a whole."""
    files = sorted(p.relative_to(proto_dir).as_posix() for p in proto_dir.rglob("*.proto"))
    if not files:
        raise RuntimeError(f"no .proto files under {proto_dir}")
    digest = hashlib.sha256(salt.encode())
    for name in files:
        digest.update(f"\0{name}\0".encode() + (proto_dir / name).read_bytes())
    stamp = out / _STAMP
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest.hexdigest():
        return out
    scratch = TESTS_DIR.parent / ".cache"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}-", dir=scratch))
    run(tmp, files)
    (tmp / _STAMP).write_text(digest.hexdigest() + "\n", encoding="ascii")
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(tmp), str(out))
    return out


def generate_test_protos(out: Path = GENERATED_DIR, proto_dir: Path = PROTO_DIR) -> Path:
    """Generate the ``_pb2`` modules of every test proto into ``out``; returns ``out``."""
    return generate_once(out, proto_dir, "", lambda tmp, files: _protoc(proto_dir, tmp, files))


def _protoc(proto_dir: Path, tmp: Path, files: list[str]) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    well_known = importlib.resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={tmp}",
        f"--pyi_out={tmp}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for the test protos: {' '.join(args)}")
    for directory in [tmp, *(d for d in tmp.rglob("*") if d.is_dir())]:
        if directory != tmp:
            (directory / "__init__.py").touch()


def add_generated_to_path(out: Path = GENERATED_DIR) -> None:
    """Put ``out`` at the front of ``sys.path`` (once)."""
    entry = str(out)
    if entry not in sys.path:
        sys.path.insert(0, entry)
