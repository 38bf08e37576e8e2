"""Build hook: writes the generated runtime packages before every build.

Runs for wheels, sdists and editable installs. The transform itself lives in
``src/connect_python/codegen/unasync.py`` (standard library only), loaded here
by path because the package is not installed yet.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class UnasyncBuildHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        path = root / "src" / "connect_python" / "codegen" / "unasync.py"
        spec = importlib.util.spec_from_file_location("_connect_python_unasync", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        module.build_generated(root)
