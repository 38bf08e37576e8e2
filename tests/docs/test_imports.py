"""The import rules ``docs/architecture.md`` states hold in the code.

Every ``import`` of every module of the package (the hand-written
``runtime_async/`` in place of its generated copies, imports inside functions
included) is an edge of one graph, which must have no cycle, and whose edges
between rooms must go the documented way. Imports under ``TYPE_CHECKING`` are
left out: they run only for the type checker, so they make no cycle at run
time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "connect_python"
RUNTIMES = ("runtime_async", "runtime_sync")
#: The package's own modules outside any room: the vocabulary.
VOCABULARY = "vocabulary"
#: Entry points (``__main__``, the pytest plugin) and the package's face may
#: import anything.
FREE = "free"
#: Which rooms each room may import (its own always).
ALLOWED = {
    VOCABULARY: set(),
    "protocol": {VOCABULARY},
    "_http": {VOCABULARY},
    "interceptors": {VOCABULARY},
    "_io": {VOCABULARY, "_http"},
    "runtime_async": {VOCABULARY, "protocol", "_http", "_io", "interceptors"},
    "codegen": {FREE},
    "testing": {VOCABULARY, FREE, "protocol", "runtime_async"},
    "cli": {VOCABULARY, FREE, "runtime_async"},
}
#: The HTTP side of the runtime knows nothing of RPC.
HTTP_SIDE = ("_transport", "_pool", "_http11", "_http2", "_proxy", "_exchange")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        if rel.parts[1] in RUNTIMES or "__pycache__" in rel.parts:
            continue
        found[".".join(rel.parts).removesuffix(".__init__")] = path
    for path in sorted((ROOT / "runtime_async").glob("*.py")):
        name = "connect_python.runtime_async"
        found[name if path.stem == "__init__" else f"{name}.{path.stem}"] = path
    return found


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``module`` imports (``runtime_sync`` as ``runtime_async``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            head = ".".join([*base, *([node.module] if node.module else [])])
            names = [head, *(f"{head}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            name = name.replace(".runtime_sync", ".runtime_async")
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {module: _imports(module, path, known) for module, path in known.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "_pytest_plugin"):
        return FREE
    if len(parts) == 2 and parts[1] not in ALLOWED:
        return VOCABULARY
    return parts[1]


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (empty if there is none)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_graph_sees_the_rooms() -> None:
    rooms = {_room(module) for module in _graph()}
    assert rooms == {*ALLOWED, FREE}


def test_no_import_cycles() -> None:
    assert _cycle(_graph()) == []


def test_a_cycle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_imports_go_the_documented_way() -> None:
    wrong = []
    for module, imported in sorted(_graph().items()):
        room = _room(module)
        for target in sorted(imported):
            other = _room(target)
            if other != room and other not in ALLOWED.get(room, {other}):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_http_side_knows_nothing_of_rpc() -> None:
    wrong = []
    for module, imported in sorted(_graph().items()):
        if _room(module) == "runtime_async" and module.rpartition(".")[2].startswith(HTTP_SIDE):
            wrong += [
                f"{module} -> {t}" for t in imported if _room(t) in ("protocol", "interceptors")
            ]
    assert wrong == []


def test_importing_the_runtime_leaves_rarely_used_heavy_modules_unloaded() -> None:
    # A client process pays for every module the runtime imports, in memory
    # (peak RSS is one of the benchmark's figures). The email package (1.4 MiB)
    # parses only the HTTP-date form of Retry-After; the server sides of the
    # protocols serve only the testing kit.
    code = (
        "import sys, connect_python.runtime_async, connect_python.runtime_sync\n"
        "heavy = ('email', 'connect_python.protocol.connect_server', 'connect_python.testing')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
