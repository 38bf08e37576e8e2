"""The official Connect conformance suite, client mode, in three modes.

Each test runs the runner (``connectconformance`` v1.0.5) against our client
program (``client.py``) in one mode: asyncio, trio or sync. The runner starts its
reference servers in-process on loopback, feeds the client 8,930 test cases
(``config-all.yaml``: the Connect, gRPC and gRPC-Web protocols) and fails when a
case fails that is not listed in the mode's ``known-failing-<mode>.txt``, or
when a listed case passes. The summary line gives the cases of each protocol
(Connect's alone are ``config.yaml``'s 3,416).

Set-up (``setup.sh``, run by ``scripts/test.sh``; run here too when the generated
code is missing) installs the runner into ``.cache/go-bin`` and generates the
suite's Python code into ``_gen/`` with protoc and this project's plugin.

The runner is found through ``$CONNECTCONFORMANCE``, ``.cache/go-bin``, then
``PATH``. Without one the tests fail, unless ``REQUIRE_CONFORMANCE=0``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG = HERE / "config-all.yaml"
CLIENT = HERE / "client.py"
SETUP = HERE / "setup.sh"
GENERATED = HERE / "_gen" / "connectrpc" / "conformance" / "v1" / "service_connect.py"
#: The same client generated for protobuf-py messages (by setup.sh).
GENERATED_PB = HERE / "_gen" / "protobuf_py" / GENERATED.relative_to(HERE / "_gen")
MODES = ("asyncio", "trio", "sync")
#: The message runtimes of the generated code (message_runtime.py).
MESSAGES = ("google", "protobuf-py")
#: Longest run of one mode (it takes well under a minute on two cores).
RUN_TIMEOUT = 900
#: How much of the runner's output a failure shows.
REPORT_CHARS = 20_000
TOTALS = re.compile(r"^\d+ passed, \d+ failed$", re.MULTILINE)
EXPECTED = re.compile(r"^\(Another (\d+) failed as expected", re.MULTILINE)
CASES = re.compile(r"^Total cases: (\d+)$", re.MULTILINE)
#: The runner's announcement of each server configuration's cases.
GROUP = re.compile(
    r"^Running (\d+) tests with .* for server config \{\w+, PROTOCOL_(\w+),", re.MULTILINE
)

pytestmark = pytest.mark.conformance


def _required() -> bool:
    return os.environ.get("REQUIRE_CONFORMANCE", "1") != "0"


def find_runner() -> str | None:
    """The runner binary, or ``None``."""
    explicit = os.environ.get("CONNECTCONFORMANCE")
    if explicit:
        return explicit
    cached = ROOT / ".cache" / "go-bin" / "connectconformance"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("connectconformance")


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason} (set REQUIRE_CONFORMANCE=0 to skip the conformance suite)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def runner() -> str:
    """The runner, with the suite's generated code in place."""
    path = find_runner()
    if not GENERATED.is_file() or not GENERATED_PB.is_file() or path is None:
        if shutil.which("go") is None:
            _unavailable("connectconformance is not set up and Go is not installed")
        env = dict(os.environ, PYTHON=sys.executable)
        setup = subprocess.run(
            ["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=1200
        )
        if setup.returncode != 0:
            _unavailable(f"tests/conformance/setup.sh failed:\n{setup.stdout}{setup.stderr}")
        path = find_runner()
    if path is None:
        _unavailable("connectconformance not found")
    assert path is not None
    return path


@pytest.mark.parametrize("messages", MESSAGES)
@pytest.mark.parametrize("mode", MODES)
def test_conformance(
    runner: str, mode: str, messages: str, capsys: pytest.CaptureFixture[str]
) -> None:
    known_failing = HERE / f"known-failing-{mode}.txt"
    command = [
        runner,
        "--conf",
        str(CONFIG),
        "--mode",
        "client",
        "-v",
        # Must be the flag's only pattern: the runner reads one @file and
        # drops any other pattern given to the same flag.
        "--known-failing",
        f"@{known_failing}",
        "--",
        sys.executable,
        str(CLIENT),
        "--mode",
        mode,
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            env={**os.environ, "CONFORMANCE_MESSAGES": messages},
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        pytest.fail(
            f"conformance ({mode}) timed out after {RUN_TIMEOUT}s:\n{output[-REPORT_CHARS:]}"
        )
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    totals = TOTALS.findall(output)
    summary = totals[-1] if totals else "no totals reported"
    expected = EXPECTED.findall(output)
    cases = CASES.findall(output)
    summary = (
        f"{cases[-1] if cases else '?'} cases ({per_protocol(output)}): {summary}, "
        f"{expected[-1] if expected else 0} known-failing"
    )
    with capsys.disabled():
        print(f"\nconformance {mode} ({messages}): {summary} ({elapsed:.1f}s)", flush=True)
    if proc.returncode != 0:
        pytest.fail(
            f"conformance ({mode}) failed: exit {proc.returncode}, {summary}\n"
            f"--- runner report (stdout) ---\n{proc.stdout[-REPORT_CHARS:]}\n"
            f"--- stderr (runner and client logs) ---\n{proc.stderr[-REPORT_CHARS // 4 :]}"
        )
    assert totals, f"the runner printed no totals:\n{proc.stdout[-REPORT_CHARS:]}"


def per_protocol(output: str) -> str:
    """The number of cases of each protocol, from the runner's output."""
    counts: dict[str, int] = {}
    for count, protocol in GROUP.findall(output):
        name = protocol.lower().replace("_", "-")
        counts[name] = counts.get(name, 0) + int(count)
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "?"


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
