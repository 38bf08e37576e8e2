"""The generated modules are finished code: they import, and ruff and mypy --strict pass.

Checked as emitted, in a temp directory next to protoc's ``_pb2`` modules and
``.pyi`` stubs, for every variant of options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ._helpers import VARIANTS, import_all, module_name, mypy_strict, ruff_check, ruff_format_check
from .conftest import Generated

ALL = sorted(VARIANTS)


def _ok(gen: Generated) -> Generated:
    assert gen.process.returncode == 0, gen.process.stderr
    assert gen.connect_files
    return gen


@pytest.mark.parametrize("variant", ALL)
def test_imports(variant: str, generate: Callable[[str], Generated]) -> None:
    gen = _ok(generate(variant))
    modules = [module_name(gen.root, p) for p in gen.connect_files]
    result = import_all(gen.root, modules)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variant", ALL)
def test_ruff_check(variant: str, generate: Callable[[str], Generated]) -> None:
    gen = _ok(generate(variant))
    result = ruff_check(gen.root, gen.connect_files, gen.variant.line_length)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ALL)
def test_ruff_format(variant: str, generate: Callable[[str], Generated]) -> None:
    gen = _ok(generate(variant))
    result = ruff_format_check(gen.root, gen.connect_files, gen.variant.line_length)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ALL)
def test_mypy_strict(variant: str, generate: Callable[[str], Generated], mypy_cache: Path) -> None:
    gen = _ok(generate(variant))
    result = mypy_strict(gen.root, gen.connect_files, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
