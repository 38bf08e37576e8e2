"""``docs/architecture.md`` names real code, and names all of it.

Every name the document quotes in backticks is looked up in the code as it is:

- a path (``runtime_async/_client.py``, ``protocol/``) exists under the
  repository root or under ``src/connect_python``;
- a dotted name resolves by import and attribute look-up: ``connect_python.x``,
  a room-relative name (``runtime_async._client.AsyncConnectClient.unary``,
  ``protocol.connect.ConnectCall``), or ``Class.member`` for a class the
  package defines (an attribute only set in ``__init__`` or only annotated in
  a ``Protocol`` counts);
- a bare identifier (``open_exchange``) is defined somewhere in the package: a
  module, class, function, method or attribute.

Quoted text that is not a name (``b""``, ``connect-timeout-ms``, ``await x``)
is not checked. And the map is complete: every module of every room (the
package's top level, ``runtime_async/``, ``protocol/``, ``_http/``, ``_io/``,
``interceptors/``, ``cli/``, ``codegen/``) is named in the document. README links to it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import keyword
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "connect_python"
DOC = ROOT / "docs" / "architecture.md"
#: Rooms a dotted name may start with (they live in ``connect_python``).
ROOMS = ("runtime_async", "runtime_sync", "protocol", "_http", "_io", "codegen")
#: Folders whose every module the document must name: every room.
MAPPED = (
    PKG,
    ROOT / "runtime_async",
    *(PKG / room for room in ("protocol", "_http", "_io", "interceptors", "cli", "codegen")),
)
CODE = re.compile(r"`([^`\n]+)`")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _quoted() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    # Fenced blocks are examples, not references.
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return sorted({m.group(1).strip().removesuffix("()") for m in CODE.finditer(text)})


@cache
def _index() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Every name the package defines, and the members of each class (by name)."""
    names: set[str] = set()
    members: dict[str, set[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        names.add(path.stem)
        names.add(path.parent.name)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                names.add(node.name)
                own = members.setdefault(node.name, set())
                for item in ast.walk(node):
                    for target in _targets(item):
                        own.add(target)
                        names.add(target)
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        own.add(item.name)
            for target in _targets(node):
                names.add(target)
    return frozenset(names), {k: frozenset(v) for k, v in members.items()}


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    else:
        return []
    out = []
    for target in targets:
        for leaf in ast.walk(target):
            if isinstance(leaf, ast.Name):
                out.append(leaf.id)
            elif (
                isinstance(leaf, ast.Attribute)
                and isinstance(leaf.value, ast.Name)
                and leaf.value.id == "self"
            ):
                out.append(leaf.attr)
    return out


def _import_prefix(parts: list[str]) -> tuple[Any, list[str]]:
    """The longest importable module prefix of ``parts`` and the rest."""
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        return module, parts[cut:]
    raise LookupError(".".join(parts))


def _has_member(obj: Any, name: str) -> bool:
    if hasattr(obj, name):
        return True
    if isinstance(obj, type):
        _, members = _index()
        return any(name in members.get(cls.__name__, ()) for cls in obj.__mro__)
    return False


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] in ROOMS:
        parts = ["connect_python", *parts]
    if parts[0] == "connect_python":
        obj, rest = _import_prefix(parts)
    else:
        # ``Class.member``: the class, from the module that defines it.
        obj = _find_class(parts[0])
        if obj is None:
            return False
        rest = parts[1:]
    for name in rest:
        if not _has_member(obj, name):
            return False
        obj = getattr(obj, name, None)
        if obj is None:  # an annotated or instance attribute: nothing deeper to check
            return name == rest[-1]
    return True


def _find_class(name: str) -> type | None:
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts or "templates" in path.parts:
            continue
        rel = path.relative_to(PKG.parent).with_suffix("")
        module_name = ".".join(rel.parts).removesuffix(".__init__")
        if f"class {name}" not in path.read_text(encoding="utf-8"):
            continue
        module = importlib.import_module(module_name)
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    return None


def _is_path(token: str) -> bool:
    return "/" in token and " " not in token and (token.endswith((".py", "/", ".md")))


def test_the_document_exists_and_quotes_code() -> None:
    assert len(_quoted()) > 40


@pytest.mark.parametrize("token", _quoted() if DOC.is_file() else [])
def test_every_quoted_name_exists(token: str) -> None:
    if _is_path(token):
        assert (ROOT / token).exists() or (PKG / token).exists(), token
    elif all(IDENT.match(part) for part in token.split(".")) and "." in token:
        assert _resolve(token), token
    elif IDENT.match(token):
        if keyword.iskeyword(token) or hasattr(builtins, token):
            return
        names, _ = _index()
        assert token in names, token
    # Anything else (``b""``, header names, code fragments) is prose.


def test_every_module_is_on_the_map() -> None:
    quoted = _quoted()
    text = " ".join(quoted)
    missing = []
    for folder in MAPPED:
        for path in sorted(folder.glob("*.py")):
            if path.name == "__init__.py":
                continue
            room = folder.name
            named = (
                f"{room}/{path.name}" in quoted
                or f"{room}.{path.stem}" in text
                or f"/{room}/{path.name}" in text
            )
            if not named:
                missing.append(f"{room}/{path.name}")
    assert missing == [], f"modules docs/architecture.md does not name: {missing}"


def test_readme_links_to_it() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
