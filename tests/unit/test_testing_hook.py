"""Tests reach the runtime's internals through one documented hook only.

The hook is ``tests/_support/concurrency`` (see its docstring): an async half,
``shim_async.py``, and its sync half, which must be exactly what the unasync
transform makes of it. Every other test and benchmark module uses public API,
or is the unit test of a sans-IO module it imports by name (the protocol and
HTTP rooms, the error and code tables).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from connect_python.codegen.unasync import transform_source

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "tests" / "_support" / "concurrency"
#: Generated or build output, not written by hand.
SKIP = ("tests/_sync", "tests/_generated", "_gen", "__pycache__", "benchmarks/results")
#: Private modules no test may import, whatever the name imported from them.
FORBIDDEN_MODULES = ("connect_python._io", "connect_python._cancel")
#: Private modules and names a test imports on purpose, and why.
ALLOWED = {
    "tests/runtime/test_deadline_errors.py: connect_python.runtime_async._deadlines": (
        "the unit test of the rule that turns a reset at the deadline into"
        " DEADLINE_EXCEEDED: over the network that race can't be made to happen on demand"
    ),
    "tests/unit/test_proxy_choice.py: connect_python._io.proxy": (
        "the unit test of the sans-IO proxy choice (environment variables, NO_PROXY rules)"
    ),
    "tests/unit/test_grpc_status.py: connect_python.protocol.grpc_status._status_class": (
        "the unit test of the module that builds google.rpc.Status in a pool of its own"
    ),
    "tests/runtime/test_read_ahead.py: connect_python._io.async_net": (
        "what asyncio's transport reads ahead of the client is only seen inside the"
        " network stream: its bound, and the idle check of input read ahead"
    ),
    "tests/runtime/test_read_ahead.py: connect_python._io.async_net._READ_AHEAD_CHUNKS": (
        "the bound the read-ahead test checks against"
    ),
    "tests/sync_only/test_socket_waits.py: connect_python._io": (
        "the unit test of the sync flavour's socket waits: the poll set a thread keeps"
        " between waits, which no call shows"
    ),
    "tests/sync_only/test_socket_waits.py: connect_python._io.sync_net": (
        "a connection's interrupt and a stale cancel, against one socket stream"
    ),
    "tests/sync_only/test_socket_waits.py: connect_python._io.sync_waits": (
        "the unit test of wait_socket itself: socket and direction changes, a wait inside"
        " a wait (a signal handler's), a forked child's wake fd"
    ),
}


def test_the_sync_half_is_the_transform_of_the_async_half() -> None:
    source = (HOOK / "shim_async.py").read_text(encoding="utf-8")
    assert (HOOK / "shim_sync.py").read_text(encoding="utf-8") == transform_source(source)


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_the_hook_hands_out_the_runtime_primitives(flavour: str) -> None:
    hook = importlib.import_module(f"_support.concurrency.shim_{flavour}")
    pair = [
        importlib.import_module(f"connect_python._io.shim_{flavour}"),
        importlib.import_module(f"connect_python._io.{flavour}_net"),
    ]
    assert hook.__all__
    for name in hook.__all__:
        origin = [getattr(module, name) for module in pair if hasattr(module, name)]
        assert origin == [getattr(hook, name)], name


def _python_files() -> list[Path]:
    files = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(part in rel for part in SKIP) or path.is_relative_to(HOOK):
                continue
            files.append(path)
    return files


def _private_imports(path: Path) -> list[str]:
    """The imports in ``path`` of private runtime modules or private names."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
            names = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if not module.startswith("connect_python"):
                continue
            parts = module.split(".")
            # runtime_async._client and the like: the runtimes' private modules.
            in_runtime = len(parts) > 2 and parts[1] in ("runtime_async", "runtime_sync")
            private = module.startswith(FORBIDDEN_MODULES) or (
                in_runtime and parts[2].startswith("_")
            )
            if private and f"{path.relative_to(ROOT)}: {module}" not in ALLOWED:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}")
                continue
            for name in names:
                where = f"{path.relative_to(ROOT)}: {module}.{name}"
                if name.startswith("_") and not name.endswith("__") and where not in ALLOWED:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module}.{name}")
    return found


def test_no_test_imports_private_runtime_names() -> None:
    files = _python_files()
    assert len(files) > 50
    found = [hit for path in files for hit in _private_imports(path)]
    assert found == [], "\n".join(found)
