"""The demo server of ``examples/run_demo.py`` (the official ``connectrpc`` ASGI
app under hypercorn), for the tests that run documented commands against it
(the root conftest's ``demo_url`` fixture runs one per test module).

Importing this module puts ``examples/`` on ``sys.path``; ``run_demo``'s
generators are re-exported for the tests that also need a client.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .protos import TESTS_DIR

sys.path.insert(0, str(TESTS_DIR.parent / "examples"))

from run_demo import demo_server, generate_client, generate_server_stubs

__all__ = ["generate_client", "running_demo"]


@contextmanager
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The demo server, running: (its URL, the directory of its stubs)."""
    stubs = tmp_path_factory.mktemp("demo-stubs")
    generate_server_stubs(stubs)
    with demo_server(stubs=stubs) as url:
        yield url, stubs
