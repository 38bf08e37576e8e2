"""protobuf-py message modules (``_pb.py``, by ``protoc-gen-py``) for the test protos.

:func:`generate_pb_protos` writes ``tests/_support/_gen/`` (gitignored): the
package ``testpb`` holding ``protoc-gen-py``'s output for every file under
``tests/proto`` (its modules import each other relatively, so the output root
must be a package). With ``tests/_support/_gen`` on ``sys.path``
(:func:`.protos.add_generated_to_path`) a test can
``from testpb.connectpy.testing.v1 import testing_pb``. Generation is skipped
when the ``.proto`` files and the generator have not changed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import subprocess
import sys
from pathlib import Path

from .protos import PROTO_DIR, TESTS_DIR, generate_once

__all__ = ["PB_GENERATED_DIR", "PB_PACKAGE", "generate_pb_protos", "protoc_gen_py"]

PB_GENERATED_DIR = TESTS_DIR / "_support" / "_gen"
PB_PACKAGE = "testpb"


def protoc_gen_py() -> Path:
    """The ``protoc-gen-py`` script installed beside this interpreter."""
    found = Path(sys.executable).parent / "protoc-gen-py"
    if not found.is_file():
        raise RuntimeError(f"protoc-gen-py is not installed beside {sys.executable}")
    return found


def generate_pb_protos(out: Path = PB_GENERATED_DIR, proto_dir: Path = PROTO_DIR) -> Path:
    """Generate the ``_pb`` modules of every test proto under ``out/testpb``; returns ``out``."""

    def run(tmp: Path, files: list[str]) -> None:
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

    return generate_once(out, proto_dir, importlib.metadata.version("protoc-gen-py"), run)
