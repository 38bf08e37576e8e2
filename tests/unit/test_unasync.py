from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from connect_python.codegen.unasync import (
    RUNTIME_RULES,
    UnasyncError,
    transform_source,
    transform_tree,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async def f():\n    await g()\n", "def f():\n    g()\n"),
        ("async with a as b:\n    pass\n", "with a as b:\n    pass\n"),
        ("async for x in y:\n    pass\n", "for x in y:\n    pass\n"),
        ("x = await(y)\n", "x = (y)\n"),
        ("class AsyncFoo(AsyncBar):\n    pass\n", "class Foo(Bar):\n    pass\n"),
        ("_AsyncPrivate = 1\n", "_Private = 1\n"),
        ("Asyncio = 1\nAsync = 2\n", "Asyncio = 1\nAsync = 2\n"),
        ("await x.aclose()\n", "x.close()\n"),
        ("def __aenter__(self): pass\n", "def __enter__(self): pass\n"),
        ("raise StopAsyncIteration\n", "raise StopIteration\n"),
        (
            "from connect_python._io.shim_async import Lock\n",
            "from connect_python._io.shim_sync import Lock\n",
        ),
        (
            '"""Use ``async with AsyncClient()`` then ``await c.aclose()``."""\n',
            '"""Use ``with Client()`` then ``c.close()``."""\n',
        ),
        ("# async for m in call: await call.aclose()\n", "# for m in call: call.close()\n"),
        ('s = """a\nasync with AsyncX\nb"""\n', 's = """a\nwith X\nb"""\n'),
    ],
)
def test_rules(source: str, expected: str) -> None:
    assert transform_source(source) == expected


def test_leftover_or_broken_output_fails() -> None:
    with pytest.raises(UnasyncError):
        transform_source("x = async_thing = 1\nasync = 3\n")
    with pytest.raises(UnasyncError):
        transform_source("def f(:\n")


def test_unused_rule_fails(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("async def f():\n    await g()\n")
    with pytest.raises(UnasyncError, match="never used"):
        transform_tree(src, tmp_path / "out", required_rules=["aclose"])
    transform_tree(src, tmp_path / "out", required_rules=[])
    assert (tmp_path / "out" / "a.py").read_text() == "def f():\n    g()\n"


def test_runtime_uses_every_runtime_rule(tmp_path: Path) -> None:
    # Raises if a rule is dead or the runtime no longer compiles after the transform.
    written = transform_tree(
        ROOT / "runtime_async", tmp_path / "sync", required_rules=RUNTIME_RULES
    )
    assert written


def test_sync_runtime_imports_without_anyio() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'anyio' or name.startswith(('anyio.', 'trio', 'sniffio')):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import connect_python.runtime_sync as rs\n"
        "assert 'anyio' not in sys.modules, 'anyio imported'\n"
        "client = rs.ConnectClient('http://127.0.0.1:1')\n"
        "client.close()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_generated_runtime_is_current() -> None:
    # The in-tree build outputs match what the transform makes from runtime_async/ now.
    for name in ("runtime_async", "runtime_sync"):
        module = importlib.import_module(f"connect_python.{name}")
        assert module.__file__ is not None
    sync_client = (ROOT / "src/connect_python/runtime_sync/_client.py").read_text()
    source = (ROOT / "runtime_async/_client.py").read_text()
    assert sync_client.endswith(transform_source(source))
