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
from pathlib import Path

__all__ = [
    "GENERATED_DIR",
    "PROTO_DIR",
    "TESTS_DIR",
    "add_generated_to_path",
    "generate_test_protos",
]

TESTS_DIR = Path(__file__).resolve().parent.parent
PROTO_DIR = TESTS_DIR / "proto"
GENERATED_DIR = TESTS_DIR / "_generated"
_STAMP = ".proto-hash"


def _proto_files(proto_dir: Path) -> list[Path]:
    return sorted(p for p in proto_dir.rglob("*.proto"))


def _hash(proto_dir: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(proto_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def generate_test_protos(out: Path = GENERATED_DIR, proto_dir: Path = PROTO_DIR) -> Path:
    """Generate the ``_pb2`` modules of every test proto into ``out``; returns ``out``."""
    files = _proto_files(proto_dir)
    if not files:
        raise RuntimeError(f"no .proto files under {proto_dir}")
    digest = _hash(proto_dir, files)
    stamp = out / _STAMP
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest:
        return out

    from grpc_tools import protoc  # type: ignore[import-untyped]

    scratch = TESTS_DIR.parent / ".cache"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="test-protos-", dir=scratch))
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{well_known}",
        f"--python_out={tmp}",
        f"--pyi_out={tmp}",
        *(str(p.relative_to(proto_dir)) for p in files),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for the test protos: {' '.join(args)}")
    for directory in [tmp, *(d for d in tmp.rglob("*") if d.is_dir())]:
        if directory != tmp:
            (directory / "__init__.py").touch()
    (tmp / _STAMP).write_text(digest + "\n", encoding="ascii")
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(tmp), str(out))
    return out


def add_generated_to_path(out: Path = GENERATED_DIR) -> None:
    """Put ``out`` at the front of ``sys.path`` (once)."""
    entry = str(out)
    if entry not in sys.path:
        sys.path.insert(0, entry)
