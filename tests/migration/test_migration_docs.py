"""The migration guide's examples (``docs/migration.md``), run as written.

Each ```python block starts with a comment saying what it is:
``# After.`` (connect-python: run with this project's generated demo client),
``# Before (connectrpc).`` (the official client: run with the official plugin's
generated client, which the demo server's stubs module also holds) or
``# Before (e2b_connect), not run.`` (that runtime was never published on its own).
Each runs as a script against the demo server (the official ``connectrpc`` ASGI app
under hypercorn), its ``http://127.0.0.1:8080`` replaced by the server's URL, with
warnings as errors; it must succeed and print.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support.demo import generate_client, running_demo

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migration.md"
URL = "http://127.0.0.1:8080"
AFTER = "# After."
CONNECTRPC = "# Before (connectrpc)."
E2B = "# Before (e2b_connect), not run."


def _blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in re.finditer(r"```python\n(.*?)```", text, re.S)
    ]


BLOCKS = _blocks()
RUN = [(line, code) for line, code in BLOCKS if not code.startswith(E2B)]


def test_every_block_says_what_it_is() -> None:
    kinds = [code.splitlines()[0] for _, code in BLOCKS]
    assert set(kinds) == {AFTER, CONNECTRPC, E2B}, kinds
    # Both guides show code before and after.
    assert kinds.count(E2B) >= 3 and kinds.count(CONNECTRPC) >= 3 and kinds.count(AFTER) >= 6
    assert all(URL in code for _, code in RUN)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    client = tmp_path_factory.mktemp("client")
    generate_client(client)
    with running_demo(tmp_path_factory) as (url, stubs):
        yield url, client, stubs


@pytest.mark.parametrize(("line", "code"), RUN, ids=[f"migration.md:{line}" for line, _ in RUN])
def test_example_runs(line: int, code: str, demo: tuple[str, Path, Path], tmp_path: Path) -> None:
    url, client, stubs = demo
    generated = client if code.startswith(AFTER) else stubs
    script = tmp_path / "example.py"
    script.write_text(code.replace(URL, url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The project itself comes from the environment (its editable install, or
    # the source tree a worktree's PYTHONPATH points at).
    path = [str(generated), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    returncode = result.returncode
    if code.startswith(CONNECTRPC) and returncode == -signal.SIGABRT and not result.stderr:
        # The official client's native transport (pyqwest 0.x under connectrpc
        # 0.13) aborts the interpreter at exit in about one run of seven, after
        # the script ran to its end (its output is checked below). The guide
        # mentions it; it is not this project's to fix.
        returncode = 0
    assert returncode == 0, f"migration.md:{line}\n{result.stderr}"
    assert result.stderr == ""
    assert result.stdout.strip(), f"migration.md:{line} printed nothing"
