"""protobuf-py message modules (``_pb.py``, by ``protoc-gen-py``) for the test protos.

:func:`generate_pb_protos` writes ``tests/_support/_gen/`` (gitignored): the
package ``testpb`` holding ``protoc-gen-py``'s output for every file under
``tests/proto`` (its modules import each other relatively, so the output root
must be a package). With ``tests/_support/_gen`` on ``sys.path`` a test can
``from testpb.connectpy.testing.v1 import testing_pb``. Generation is skipped
when the ``.proto`` files and the generator have not changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .protos import PROTO_DIR, TESTS_DIR

__all__ = ["PB_GENERATED_DIR", "PB_PACKAGE", "add_pb_generated_to_path", "generate_pb_protos"]

PB_GENERATED_DIR = TESTS_DIR / "_support" / "_gen"
PB_PACKAGE = "testpb"
_STAMP = ".proto-hash"


def protoc_gen_py() -> Path:
    """The ``protoc-gen-py`` script installed beside this interpreter."""
    found = Path(sys.executable).parent / "protoc-gen-py"
    if not found.is_file():
        raise RuntimeError(f"protoc-gen-py is not installed beside {sys.executable}")
    return found


def generate_pb_protos(out: Path = PB_GENERATED_DIR, proto_dir: Path = PROTO_DIR) -> Path:
    """Generate the ``_pb`` modules of every test proto under ``out/testpb``; returns ``out``."""
    files = sorted(p.relative_to(proto_dir).as_posix() for p in proto_dir.rglob("*.proto"))
    digest = hashlib.sha256(importlib.metadata.version("protoc-gen-py").encode())
    for name in files:
        digest.update(f"\0{name}\0".encode() + (proto_dir / name).read_bytes())
    stamp = out / _STAMP
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == digest.hexdigest():
        return out
    scratch = TESTS_DIR.parent / ".cache"
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="test-pb-protos-", dir=scratch))
    (tmp / PB_PACKAGE).mkdir()
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--plugin=protoc-gen-py={protoc_gen_py()}",
            f"--py_out={tmp / PB_PACKAGE}",
            *files,
        ],
        check=True,
        timeout=120,
    )
    (tmp / _STAMP).write_text(digest.hexdigest() + "\n", encoding="ascii")
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(str(tmp), str(out))
    return out


def add_pb_generated_to_path(out: Path = PB_GENERATED_DIR) -> None:
    """Put ``out`` at the front of ``sys.path`` (once)."""
    entry = str(out)
    if entry not in sys.path:
        sys.path.insert(0, entry)
