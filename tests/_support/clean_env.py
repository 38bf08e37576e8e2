"""The environment for a clean virtual environment's processes (the tests that
install into one): without the development venv (its ``PYTHONPATH``,
``VIRTUAL_ENV`` and ``bin`` on ``PATH``); pip's settings and cache stay."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["clean_env"]


def clean_env() -> dict[str, str]:
    """A copy of this process's environment, the development venv taken out."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    dev_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != dev_bin)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env
