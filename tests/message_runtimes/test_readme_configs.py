"""README "Message runtimes": both ``buf.gen.yaml`` files, run as written.

Each configuration (the ``yaml`` blocks of that section) generates the demo
service with ``buf generate proto``; the generated client then streams from
the demo server (the official ``connectrpc`` app) and lists its processes, on
asyncio and sync, importing the modules the way the section says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from run_demo import PROTO_ROOT, demo_server, generate_server_stubs  # noqa: E402

CLIENT = """
import json, sys
import anyio
from PACKAGEdemo.process.v1 import MODULE as pb
from PACKAGEdemo.process.v1.process_connect import AsyncProcessClient, ProcessClient

url = sys.argv[1]
command = pb.StartRequest(process=pb.ProcessConfig(cmd="echo", args=["x"]))

async def run_async():
    async with AsyncProcessClient(url, timeout=10) as client:
        async with client.start(command) as call:
            count = len([r async for r in call])
        listed = await client.list_(pb.ListRequest())
    return [count, type(listed).__module__]

def run_sync():
    with ProcessClient(url, timeout=10) as client:
        with client.start(command) as call:
            count = len(list(call))
    return count

print(json.dumps([anyio.run(run_async), run_sync()]))
"""


def _section_yaml() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Message runtimes\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, re.S | re.M)
    by_runtime = {}
    for block in blocks:
        found = re.search(r"messages=([\w-]+)", block)
        assert found, block
        by_runtime[found.group(1)] = block
    return by_runtime


def test_both_configurations_are_shown() -> None:
    assert sorted(_section_yaml()) == ["google", "protobuf-py"]


@pytest.mark.parametrize("runtime", ["google", "protobuf-py"])
def test_buf_gen_yaml_as_written(runtime: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(PROTO_ROOT, work / "proto")
    (work / "buf.gen.yaml").write_text(_section_yaml()[runtime])
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
        "BUF_CACHE_DIR": str(tmp_path / "buf-cache"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["buf", "generate", "proto"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if runtime == "protobuf-py":
        # The package `gen` under src/, as the section says.
        path, package, module = work / "src", "gen.", "process_pb"
        assert (path / "gen" / "__init__.py").is_file()
    else:
        # `gen` on sys.path.
        path, package, module = work / "gen", "", "process_pb2"
    stubs = tmp_path / "stubs"
    generate_server_stubs(stubs)
    code = CLIENT.replace("PACKAGE", package).replace("MODULE", module)
    with demo_server(stubs=stubs) as url:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-c", code, url],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(path), *sys.path[1:]])},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    (count, listed_from), sync_count = json.loads(done.stdout)
    assert count == sync_count and count > 1
    assert listed_from == f"{package}demo.process.v1.{module}"
