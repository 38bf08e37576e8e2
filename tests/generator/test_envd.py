"""A check on real, unmodified protos: envd's process and filesystem services.

They are read from ``<repo>/../shared/envd`` (never copied into this
repository); the test fails if that directory is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ._helpers import (
    ENVD,
    connect_tree,
    import_all,
    mypy_strict,
    protoc,
    ruff_check,
    ruff_format_check,
)

FILES = ("process/process.proto", "filesystem/filesystem.proto")


def test_envd_protos(plugin: Path, tmp_path: Path, mypy_cache: Path) -> None:
    assert ENVD.is_dir(), f"the envd reference protos are missing: expected them in {ENVD}"
    for name in FILES:
        assert (ENVD / name).is_file(), f"{ENVD / name} is missing"
    result = protoc(FILES, tmp_path, plugin=plugin, include=ENVD)
    assert result.returncode == 0, result.stderr
    assert set(connect_tree(tmp_path)) == {
        "process/process_connect.py",
        "filesystem/filesystem_connect.py",
    }
    files = sorted(tmp_path.rglob("*_connect.py"))
    modules = ["process.process_connect", "filesystem.filesystem_connect"]
    checks = {
        "import": import_all(tmp_path, modules),
        "mypy --strict": mypy_strict(tmp_path, files, mypy_cache),
        "ruff check": ruff_check(tmp_path, files, 88),
        "ruff format --check": ruff_format_check(tmp_path, files, 88),
    }
    failed = {k: v.stdout + v.stderr for k, v in checks.items() if v.returncode != 0}
    assert not failed, failed

    # The API envd's users call, as the generated modules describe it.
    code = (
        "import inspect, json\n"
        "from process import process_connect as p\n"
        "from filesystem import filesystem_connect as f\n"
        "out = {}\n"
        "for cls in (p.AsyncProcessClient, p.ProcessClient, f.AsyncFilesystemClient,"
        " f.FilesystemClient):\n"
        "    out[cls.__name__] = sorted(n for n in dir(cls) if not n.startswith('_'))\n"
        "out['paths'] = [p.PROCESS_START.path, p.PROCESS_STREAM_INPUT.path,"
        " f.FILESYSTEM_WATCH_DIR.path]\n"
        "print(json.dumps(out))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    api = json.loads(shown.stdout)
    process_methods = [
        "close_stdin",
        "connect",
        "list_",
        "send_input",
        "send_signal",
        "start",
        "stream_input",
        "update",
    ]
    assert api["AsyncProcessClient"] == ["aclose", *process_methods]
    assert api["ProcessClient"] == ["close", *process_methods]
    fs_methods = [
        "create_watcher",
        "get_watcher_events",
        "list_dir",
        "make_dir",
        "move",
        "remove",
        "remove_watcher",
        "stat",
        "watch_dir",
    ]
    assert api["AsyncFilesystemClient"] == ["aclose", *fs_methods]
    assert api["FilesystemClient"] == ["close", *fs_methods]
    assert api["paths"] == [
        "/process.Process/Start",
        "/process.Process/StreamInput",
        "/filesystem.Filesystem/WatchDir",
    ]
