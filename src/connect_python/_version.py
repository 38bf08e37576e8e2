"""The package's version: the one place it is written (pyproject.toml reads
it from here at build time; ``__version__`` and the User-Agent use it)."""

from __future__ import annotations

__version__ = "0.1.0"
