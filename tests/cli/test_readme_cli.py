"""The README's command-line examples, run as written against the demo server
(``connect-python`` is the installed command; here ``python -m connect_python``,
the same entry point, so the source tree under test is what runs)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8080"


def test_readme_cli_examples(demo_url: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Calling from the command line") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    script = block.group(1).replace(README_URL, demo_url)
    command = f"{shlex.quote(sys.executable)} -m connect_python"
    script = re.sub(r"\bconnect-python call\b", f"{command} call", script)
    # The second example reads a descriptor set made beforehand, as its text says.
    from grpc_tools import protoc  # type: ignore[import-untyped]

    protos = ROOT / "examples" / "proto"
    args = [f"-I{protos}", f"--descriptor_set_out={tmp_path / 'process.binpb'}"]
    assert protoc.main(["protoc", *args, str(protos / "demo/process/v1/process.proto")]) == 0
    script = script.replace("--schema process.binpb", f"--schema {tmp_path / 'process.binpb'}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed, sent = (json.loads(line) for line in result.stdout.splitlines())
    assert listed == {}  # no process is running on the demo server
    assert sent == {"bytesReceived": "3"}
