"""The one ordering rule (``codegen/order.py``), checked against ruff itself on awkward names."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from connect_python.codegen.order import ruff_order

# Digits (with and without leading zeros), underscores against letters, case,
# and the three member types.
NAMES = [
    "v1", "v2", "v10", "v01", "v001", "v0", "v00", "v1a", "v1_a", "v10b", "item2_pb2",
    "item10_pb2", "Item3_pb2", "a_b", "ab", "aB", "Ab", "AB", "A_B", "A", "a", "_a", "__a",
    "x9", "x09", "X9", "GET_USER", "GETAWAY", "GetUser", "Getaway", "getaway", "get_user",
    "CAPS_pb2", "Alpha_pb2", "alpha_pb2", "Z1", "z1", "Z10", "z_10", "N2X", "n2x",
]  # fmt: skip


def _ruff_check(source: str, select: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "m.py"
    module.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            select,
            "--output-format",
            "concise",
            str(module),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_order_is_ruff_022(seed: int, tmp_path: Path) -> None:
    names = list(NAMES)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda n: ruff_order(n, fold_case=False))
    body = "".join(f'    "{n}",\n' for n in names)
    result = _ruff_check(f"__all__ = [\n{body}]\n", "RUF022", tmp_path)
    assert result.returncode == 0, result.stdout + "\n".join(names)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_import_order_is_ruff_isort(seed: int, tmp_path: Path) -> None:
    members = list(NAMES)
    modules = [f"pkg.{n}" for n in NAMES if n.isidentifier() and not n.startswith("_")]
    rng = random.Random(seed)
    rng.shuffle(members)
    rng.shuffle(modules)
    members.sort(key=ruff_order)
    modules.sort(key=lambda m: ruff_order(m, typed=False))
    names = "".join(f"    {n},\n" for n in members)
    statements = "".join(f"from {m} import (\n    x,\n)\n" for m in modules)
    source = f"from pkg import (\n{names})\n{statements}"
    # First party: packages in the checked directory (ruff looks for each module).
    for module in ("pkg", *modules):
        (tmp_path / module.replace(".", "/")).mkdir(parents=True, exist_ok=True)
    result = _ruff_check(source, "I", tmp_path)
    assert result.returncode == 0, result.stdout + "\n" + source


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("v2", "v10"),  # digits as numbers
        ("v01", "v1"),  # a leading zero compares digit by digit
        ("v0", "v00"),
        ("CONSTANT", "Class"),  # member types
        ("Class", "variable"),
        ("AB", "A"),  # a single capital is a class, not a constant
    ],
)
def test_ruff_order_examples(first: str, second: str) -> None:
    assert ruff_order(first) < ruff_order(second)
    assert ruff_order(first, fold_case=False) < ruff_order(second, fold_case=False)
