"""The benchmark harness in smoke mode: every client, every workload, a few
hundred operations, one round, against the real connect-go benchmark server.

Checks that the harness works and its outputs are well formed, and that this
project's clients complete every workload they support. No timing assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._workloads import CLIENTS, WORKLOADS  # noqa: E402

STATUSES = {"ok", "truncated", "unsupported", "error", "timeout"}


def _check_measured(run: dict[str, Any]) -> None:
    assert run["ops"] > 0, run
    assert run["seconds"] > 0, run
    assert run["cpu_seconds"] >= 0, run
    assert run["peak_rss_kib"] > 1000, run
    latency = run["latency"]
    assert latency["n"] > 0, run
    assert 0 <= latency["p50"] <= latency["p99"] <= latency["max"], run


def test_smoke_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    # The progress display went to stderr, one line per run.
    assert "r1 unary_seq" in proc.stderr

    document = json.loads((tmp_path / "results.json").read_text())
    meta = document["meta"]
    assert meta["mode"] == "smoke"
    assert meta["rounds"] == 1

    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in document["runs"]:
        assert run["status"] in STATUSES, run
        seen[(run["workload"], run["flavour"], run["client"])] = run
    for skipped in document["skipped"]:
        assert skipped["status"] == "unsupported" and skipped["reason"]
        seen[(skipped["workload"], skipped["flavour"], skipped["client"])] = skipped

    for workload in WORKLOADS:
        for flavour in workload.flavours:
            for client in CLIENTS:
                if not client.default or client.shape not in workload.shapes:
                    continue
                run = seen.get((workload.name, flavour, client.name))
                assert run is not None, (workload.name, flavour, client.name)
                if run["status"] in ("ok", "truncated"):
                    _check_measured(run)
                    assert run["params"] == workload.smoke
                elif run["status"] == "unsupported":
                    assert run["reason"]
                if client.kind == "ours":
                    # Our clients either complete a workload or say it is not
                    # supported yet; they never fail.
                    assert run["status"] in ("ok", "truncated", "unsupported"), run
                    if run["status"] == "unsupported":
                        assert workload.name == "bidi", run

    summary = document["summary"]
    assert summary["figures"] and summary["ratios"]
    ratio = summary["ratios"]["unary_seq/http1/ours-asyncio"]
    assert ratio["peer"] == "official-async"
    assert ratio["throughput"]["median"] > 0

    markdown = (tmp_path / "results.md").read_text()
    assert "| workload | HTTP | target | asyncio | trio | sync |" in markdown
    for workload in WORKLOADS:
        assert workload.title in markdown

    png = (tmp_path / "ratios.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000
