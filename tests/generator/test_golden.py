"""Golden tests: protoc and buf, run with this plugin, write exactly the committed files.

The golden files live in ``tests/generator/golden/<variant>/`` with a
``.golden`` suffix (so no linter or test runner mistakes them for code of
this repository). Regenerate them after an intended change with::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/generator/test_golden.py

and review the diff.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ._helpers import (
    VARIANTS,
    buf_generate,
    connect_tree,
    golden_tree,
    import_all,
    module_name,
    write_golden,
)
from .conftest import Generated

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    lines: list[str] = []
    for rel in sorted(set(expected) | set(actual)):
        a, b = expected.get(rel, ""), actual.get(rel, "")
        if a != b:
            lines += difflib.unified_diff(
                a.splitlines(), b.splitlines(), f"golden/{rel}", f"generated/{rel}", lineterm=""
            )
    text = "\n".join(lines)
    return text[:6000] + ("\n... (diff truncated)" if len(text) > 6000 else "")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_protoc_matches_golden(variant: str, generate: Callable[[str], Generated]) -> None:
    gen = generate(variant)
    assert gen.process.returncode == 0, gen.process.stderr
    assert "Traceback" not in gen.process.stderr
    actual = connect_tree(gen.out)
    assert actual, "the plugin wrote no _connect.py files"
    if UPDATE:
        write_golden(variant, actual)
    expected = golden_tree(variant)
    assert expected, f"no golden files for {variant}: run with UPDATE_GOLDEN=1"
    assert actual == expected, (
        f"generated code differs from golden/{variant} (UPDATE_GOLDEN=1 to accept):\n"
        + _diff(expected, actual)
    )


@pytest.mark.parametrize("variant", ["default", "import_prefix", "decorator"])
def test_buf_matches_golden(variant: str, tmp_path: Path) -> None:
    v = VARIANTS[variant]
    out = tmp_path / "out"
    result = buf_generate(v.files, out, tmp_path / "work", options=v.options)
    assert result.returncode == 0, result.stderr
    actual = connect_tree(out)
    expected = golden_tree(variant)
    assert actual == expected, f"buf output differs from golden/{variant}:\n" + _diff(
        expected, actual
    )


def test_buf_with_protoc_builtins_gives_importable_code(tmp_path: Path) -> None:
    """The whole buf workflow: _pb2 and .pyi from protoc's built-in generators, then us."""
    v = VARIANTS["default"]
    out = tmp_path / "out"
    result = buf_generate(v.files, out, tmp_path / "work", python=True)
    assert result.returncode == 0, result.stderr
    assert connect_tree(out) == golden_tree("default")
    modules = [module_name(out, p) for p in sorted(out.rglob("*_connect.py"))]
    imported = import_all(out, modules)
    assert imported.returncode == 0, imported.stderr


def test_every_fixture_with_services_is_generated(generate: Callable[[str], Generated]) -> None:
    gen = generate("default")
    names = set(connect_tree(gen.out))
    assert names == {
        "clash/bridge_connect.py",
        "dotted/my_service/v1_connect.py",  # protoc's module rule: '-' -> '_', '.' -> package
        "editions/ed2023_connect.py",
        "editions/ed2024_connect.py",
        "greet/v1/greet_connect.py",  # greet/v1/messages.proto has no services: no module
        "layout/v1/layout_connect.py",
        "legacy/legacy_connect.py",
        "naming/v1/naming_connect.py",
        "no_package_connect.py",
        "order/order_connect.py",  # order/v2/x.proto and the other imported files: no services
    }
    # Each _connect.py sits next to the _pb2.py protoc wrote for the same file.
    for rel in names:
        assert (gen.out / rel.replace("_connect.py", "_pb2.py")).is_file(), rel
