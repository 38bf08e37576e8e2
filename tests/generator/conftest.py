"""Fixtures for the generator tests: plugin runs, cached per session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._helpers import VARIANTS, Variant, fixture_files, plugin_wrapper, protoc


@dataclass(frozen=True)
class Generated:
    """The result of running protoc with this plugin for one variant."""

    variant: Variant
    root: Path  # what goes on sys.path
    out: Path  # protoc's output directory (root / variant.prefix_dir)
    process: subprocess.CompletedProcess[str]

    @property
    def connect_files(self) -> list[Path]:
        return sorted(self.out.rglob("*_connect.py"))


@pytest.fixture(scope="session")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plugin_wrapper(tmp_path_factory.mktemp("plugin"))


@pytest.fixture(scope="session")
def generate(tmp_path_factory: pytest.TempPathFactory, plugin: Path) -> Callable[[str], Generated]:
    """``generate(variant_name)``: protoc (``_pb2``, ``.pyi``, ``_connect``) into a temp dir."""
    cache: dict[str, Generated] = {}

    def run(name: str) -> Generated:
        if name not in cache:
            variant = VARIANTS[name]
            root = tmp_path_factory.mktemp(f"gen-{name}")
            out = root / variant.prefix_dir if variant.prefix_dir else root
            # _pb2 modules for every fixture (a variant's files import others)...
            pb2 = protoc(fixture_files(), out, plugin=plugin, connect=False)
            assert pb2.returncode == 0, pb2.stderr
            # ...and this plugin for the variant's files only.
            process = protoc(
                variant.files, out, plugin=plugin, options=variant.options, python=False
            )
            if process.returncode == 0:
                for proto, target in variant.moved.items():
                    stem = proto[: -len(".proto")]
                    for suffix in (".py", ".pyi"):
                        dest = root / (target + suffix)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(str(out / (stem + "_pb2" + suffix)), dest)
            cache[name] = Generated(variant, root, out, process)
        return cache[name]

    return run


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")
