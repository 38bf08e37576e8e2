"""Sync twins of the async tests, made by the project's unasync transform.

Every ``test_*.py`` under the async test folders is transformed into
``tests/_sync/<folder>/`` (gitignored) before collection, so each async test
also runs against the sync runtime. A file whose first line is
``# unasync: skip`` tests something only the async flavour has (task
cancellation, cancel scopes) and gets no twin.

Tests that need concurrency primitives in both flavours (a background task,
sleep, an event, the clock, a lock, a call scope) import them from the one
testing hook, ``_support.concurrency.shim_async``; the transform turns that
import into ``_support.concurrency.shim_sync`` (see ``tests/_support/concurrency``).
The conformance client's sync runner is made by the same transform
(``tests/conformance/client.py``).
"""

from __future__ import annotations

from pathlib import Path

from connect_python.codegen.unasync import transform_source

TESTS = Path(__file__).resolve().parent
ASYNC_FOLDERS = (
    "runtime",
    "transport",
    "generator_e2e",
    "reliability",
    "testing_kit",
    "hooks",
    "network",
    "interop",
)
OUT = TESTS / "_sync"
HEADER = "# GENERATED from the async test of the same name by tests/twins.py -- do not edit.\n"


def generate_sync_twins() -> list[Path]:
    """Write the sync twins; returns the files written."""
    written: list[Path] = []
    keep: set[Path] = set()
    for folder in ASYNC_FOLDERS:
        src = TESTS / folder
        if not src.is_dir():
            continue
        for path in sorted(src.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.startswith("# unasync: skip"):
                continue
            if not (path.name.startswith("test_") or path.name in ("conftest.py", "helpers.py")):
                continue
            target = (
                OUT
                / folder
                / (path.stem + "_sync.py" if path.name.startswith("test_") else path.name)
            )
            result = HEADER + transform_source(text, filename=str(path), used=set())
            keep.add(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_text(encoding="utf-8") != result:
                target.write_text(result, encoding="utf-8")
            written.append(target)
        init = OUT / folder / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.touch()
        keep.add(init)
    (OUT / "__init__.py").touch()
    keep.add(OUT / "__init__.py")
    if OUT.exists():
        for stale in OUT.rglob("*.py"):
            if stale not in keep:
                stale.unlink()
    return written
