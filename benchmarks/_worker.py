"""One measured run in a child process: one client, one workload, one flavour.

Usage: ``python -m benchmarks._worker '<spec JSON>'``. The child builds the
client, makes one warm-up call (connection set up, code paths imported), then
measures wall time and its own CPU time (``resource.getrusage``, all threads:
the official client's Rust threads count too) around the workload. It prints
one line ``BENCH_RESULT <JSON>`` on stdout.

Spec keys: client, workload, flavour, url, params, time_limit, gen_dir, and
optionally profile ("pyinstrument" or "cprofile") with profile_out (a path).
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._workloads import client_named

_CLASSES = {
    ("ours", "async"): "AsyncOurs",
    ("ours", "sync"): "SyncOurs",
    ("official", "async"): "AsyncOfficial",
    ("official", "sync"): "SyncOfficial",
    ("raw_httpcore", "async"): "AsyncRaw",
    ("raw_httpcore", "sync"): "SyncRaw",
}


def _rss_kib() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    if not sorted_values:
        return math.nan
    index = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(samples: Sequence[float]) -> dict[str, float | int]:
    values = sorted(samples)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": quantile(values, 0.50),
        "p90": quantile(values, 0.90),
        "p99": quantile(values, 0.99),
        "max": values[-1],
        "mean": sum(values) / len(values),
    }


class _Profiler:
    def __init__(self, kind: str | None, out: str | None, is_async: bool) -> None:
        self.kind = kind
        self.out = out
        self.is_async = is_async
        self._prof: Any = None

    def start(self) -> None:
        if self.kind == "pyinstrument":
            from pyinstrument import Profiler

            self._prof = Profiler(
                interval=0.0005, async_mode="enabled" if self.is_async else "disabled"
            )
            self._prof.start()
        elif self.kind == "cprofile":
            import cProfile

            # Wall-clock timer (a CPU-time timer costs a system call per
            # event and skews the picture); on a busy machine the time inside
            # send()/recv()/epoll can include being preempted.
            self._prof = cProfile.Profile()
            self._prof.enable()

    def stop(self) -> None:
        if self._prof is None or self.out is None:
            return
        if self.kind == "pyinstrument":
            self._prof.stop()
            Path(self.out).write_text(self._prof.output_text(unicode=False, show_all=False))
            Path(self.out).with_suffix(".html").write_text(self._prof.output_html())
        else:
            self._prof.disable()
            self._prof.dump_stats(self.out)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.clients._common import (
        Recorder,
        Unsupported,
        run_async_workload,
        run_sync_workload,
    )

    client = client_named(spec["client"])
    sys.path.insert(0, spec["gen_dir"])
    module = importlib.import_module(f"benchmarks.clients.{client.module}")
    cls = getattr(module, _CLASSES[(client.module, client.shape)])
    workload: str = spec["workload"]
    params: dict[str, int] = spec["params"]
    profiler = _Profiler(spec.get("profile"), spec.get("profile_out"), client.shape == "async")
    result: dict[str, Any] = {
        "client": client.name,
        "workload": workload,
        "flavour": spec["flavour"],
        "round": spec.get("round"),
        "params": params,
    }
    measured: dict[str, Any] = {}

    def finish(rec: Recorder, wall: float, cpu: float) -> None:
        # The peak up to the workload's end: sorting its samples afterwards is
        # the harness's work, not the client's.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        measured.update(
            peak_rss_kib=peak,
            ops=rec.ops,
            seconds=wall,
            cpu_seconds=cpu,
            truncated=rec.truncated,
            latency=latency_summary(rec.samples),
            notes=rec.notes,
        )

    async def amain() -> None:
        adapter = cls(spec["url"], spec["flavour"], Path(spec["gen_dir"]))
        result["api"] = adapter.api
        result["why_low_level"] = adapter.why_low_level
        try:
            await adapter.warmup()
            result["rss_setup_kib"] = _rss_kib()
            gc.collect()
            rec = Recorder(time.perf_counter() + spec["time_limit"])
            cpu0, t0 = _cpu(), time.perf_counter()
            profiler.start()
            try:
                await run_async_workload(adapter, workload, params, rec)
            finally:
                profiler.stop()
            t1, cpu1 = time.perf_counter(), _cpu()
            finish(rec, t1 - t0, cpu1 - cpu0)
        finally:
            await adapter.aclose()

    def smain() -> None:
        adapter = cls(spec["url"], spec["flavour"], Path(spec["gen_dir"]))
        result["api"] = adapter.api
        result["why_low_level"] = adapter.why_low_level
        try:
            adapter.warmup()
            result["rss_setup_kib"] = _rss_kib()
            gc.collect()
            rec = Recorder(time.perf_counter() + spec["time_limit"])
            cpu0, t0 = _cpu(), time.perf_counter()
            profiler.start()
            try:
                run_sync_workload(adapter, workload, params, rec)
            finally:
                profiler.stop()
            t1, cpu1 = time.perf_counter(), _cpu()
            finish(rec, t1 - t0, cpu1 - cpu0)
        finally:
            adapter.close()

    try:
        if client.shape == "sync":
            smain()
        elif client.backend == "trio":
            import trio

            trio.run(amain)
        else:
            import asyncio

            asyncio.run(amain())
        result["status"] = "truncated" if measured.get("truncated") else "ok"
        if client.kind == "ours":
            import connect_python

            result["runtime_path"] = str(Path(connect_python.__file__).parent)
    except Unsupported as exc:
        result["status"] = "unsupported"
        result["reason"] = str(exc)
    except BaseException as exc:
        result["status"] = "error"
        lines = traceback.format_exception(exc)
        result["reason"] = f"{type(exc).__name__}: {exc}"[:500]
        result["traceback"] = "".join(lines)[-4000:]
    result.update(measured)
    result.setdefault("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return result


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = run(spec)
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
