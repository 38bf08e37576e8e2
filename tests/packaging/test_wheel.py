"""The built distributions carry both runtimes and the templates, and the
metadata a package index shows (checked by twine as an upload would be)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sdist_and_wheel_from_sdist(tmp_path: Path) -> None:
    # `python -m build` makes the sdist, then builds the wheel *from the sdist*,
    # so the build hook must work from an unpacked sdist too.
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    for flavour in ("runtime_async", "runtime_sync"):
        for module in ("__init__", "_client", "_calls", "_transport"):
            assert f"connect_python/{flavour}/{module}.py" in names
    assert any(n.startswith("connect_python/codegen/templates/") for n in names)
    assert "connect_python/py.typed" in names
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert "runtime_async/_client.py" in members
    assert "hatch_build.py" in members
    assert {"LICENSE", "CHANGELOG.md", "README.md"} <= members

    # What the index shows: checked as an upload checks it (the README renders).
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    with zipfile.ZipFile(wheel) as whl:
        (meta,) = (n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        headers = whl.read(meta).decode().split("\n\n", 1)[0].splitlines()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in whl.namelist())
        (entry_points,) = (n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))
        # The testing kit's fixtures reach a user's pytest through this entry point.
        assert "[pytest11]\nconnect_python = connect_python._pytest_plugin" in (
            whl.read(entry_points).decode()
        )
    fields: dict[str, list[str]] = {}
    for line in headers:
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    version: dict[str, str] = {}
    exec((ROOT / "src/connect_python/_version.py").read_text(), version)
    assert fields["Name"] == ["connect-python-client"]
    assert fields["Version"] == [version["__version__"]]
    assert wheel.name == f"connect_python_client-{version['__version__']}-py3-none-any.whl"
    assert fields["License-Expression"] == ["Apache-2.0"]
    assert "Typing :: Typed" in fields["Classifier"]
    assert {u.split(",")[0] for u in fields["Project-URL"]} >= {"Source", "Issues", "Changelog"}

    # Import the wheel's code (not the source tree) with no event loop running.
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = (
        "import connect_python\n"
        "import connect_python.runtime_async as ra\n"
        "import connect_python.runtime_sync as rs\n"
        f"assert connect_python.__file__.startswith({str(unpacked)!r}), connect_python.__file__\n"
        "assert rs.ConnectClient and ra.AsyncConnectClient\n"
        "c = rs.ConnectClient('http://127.0.0.1:9')\n"
        "c.close()\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
