"""The benchmark run: start the server, schedule the runs interleaved, collect.

For each round, each workload and each HTTP flavour, every client runs once,
one after the other (A B C A B C ...), in its own child process; the order of
the clients rotates from round to round so no client always follows the same
one. The server is one connect-go process for the whole run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from benchmarks._workloads import CLIENTS, WORKLOADS, Client, Workload

__all__ = ["Plan", "RunSpec", "plan_runs", "run_benchmark"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunSpec:
    round: int
    workload: Workload
    flavour: str
    client: Client


@dataclass
class Plan:
    runs: list[RunSpec]
    skipped: list[dict[str, Any]]


def plan_runs(rounds: int, workloads: list[Workload], clients: list[Client]) -> Plan:
    runs: list[RunSpec] = []
    skipped: list[dict[str, Any]] = []
    for workload in workloads:
        for client in clients:
            if client.shape not in workload.shapes:
                continue
            reason = client.unsupported.get(workload.name)
            if reason is not None:
                for flavour in workload.flavours:
                    skipped.append(
                        {
                            "client": client.name,
                            "workload": workload.name,
                            "flavour": flavour,
                            "status": "unsupported",
                            "reason": reason,
                        }
                    )
    for r in range(rounds):
        for workload in workloads:
            eligible = [
                c
                for c in clients
                if c.shape in workload.shapes and workload.name not in c.unsupported
            ]
            shift = r % len(eligible) if eligible else 0
            ordered = eligible[shift:] + eligible[:shift]
            for flavour in workload.flavours:
                for client in ordered:
                    runs.append(RunSpec(r + 1, workload, flavour, client))
    return Plan(runs, skipped)


class Server:
    """The connect-go benchmark server as a child process."""

    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server exited before printing its URL")
        self.url: str = json.loads(line)["url"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _versions() -> dict[str, str]:
    names = ["connect-python-client", "connectrpc", "pyqwest", "httpcore", "h2", "anyio", "trio"]
    names += ["protobuf"]
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def _go_version() -> str:
    try:
        return subprocess.run(
            ["go", "version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "unknown"


def _commit() -> str:
    """The project's commit, marked ``+dirty`` if the runtime has local changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "runtime_async", "src"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def run_one(
    spec: RunSpec,
    url: str,
    gen_dirs: dict[str, Path],
    smoke: bool,
    time_limit: float,
    extra: dict[str, Any] | None = None,
    runtime_path: Path | None = None,
) -> dict[str, Any]:
    child = {
        "client": spec.client.name,
        "workload": spec.workload.name,
        "flavour": spec.flavour,
        "round": spec.round,
        "url": url,
        "params": spec.workload.params(smoke),
        "time_limit": time_limit,
        "gen_dir": str(gen_dirs["official" if spec.client.kind == "official" else "ours"]),
        **(extra or {}),
    }
    env = dict(os.environ)
    paths = [str(ROOT)] if runtime_path is None else [str(runtime_path), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONHASHSEED", "0")
    base = {
        "client": spec.client.name,
        "workload": spec.workload.name,
        "flavour": spec.flavour,
        "round": spec.round,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._worker", json.dumps(child)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=time_limit + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**base, "status": "timeout", "reason": f"no result after {time_limit + 60:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line[len("BENCH_RESULT ") :])
            return result
    tail = (proc.stderr or proc.stdout)[-2000:]
    return {**base, "status": "error", "reason": f"child exited {proc.returncode}", "log": tail}


def _fmt_rate(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


class Progress:
    """One line per finished run on stderr, with elapsed time and an estimate."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.stream = stream

    def report(self, spec: RunSpec, result: dict[str, Any]) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done)
        status = result.get("status")
        if status in ("ok", "truncated") and result.get("ops"):
            rate = result["ops"] / result["seconds"]
            cpu = result["cpu_seconds"] / result["ops"] * 1000
            what = f"{_fmt_rate(rate):>9} {spec.workload.unit}/s  cpu {cpu:6.3f} s/1k"
            if status == "truncated":
                what += "  (time limit)"
        else:
            what = f"{status}: {str(result.get('reason', ''))[:70]}"
        width = len(str(self.total))
        self.stream.write(
            f"[{self.done:>{width}}/{self.total} {elapsed:5.0f}s, ~{left:4.0f}s left] "
            f"r{spec.round} {spec.workload.name:<13} {spec.flavour:<5} "
            f"{spec.client.name:<15} {what}\n"
        )
        self.stream.flush()


def run_benchmark(
    *,
    smoke: bool,
    rounds: int,
    workloads: list[Workload] | None,
    clients: list[Client] | None,
    out_dir: Path,
    time_limit: float,
    build: bool = True,
    runtime: str = "head",
) -> dict[str, Any]:
    from benchmarks import _build

    started = time.time()
    load_before = os.getloadavg()
    # Everything a run uses lives in its own directory: another run, a test or
    # a build in the same tree cannot change it midway.
    _build.BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=_build.BENCH_CACHE))
    snapshot: Path | None = None
    runtime_desc = "working tree (editable install)"
    if runtime == "head":
        snapshot = workdir / "runtime"
        try:
            runtime_desc = f"commit {_build.snapshot_runtime(snapshot)} (git archive HEAD)"
        except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
            print(f"no snapshot of HEAD ({exc}); using the working tree", file=sys.stderr)
            snapshot = None
    try:
        return _run_benchmark(
            smoke=smoke,
            rounds=rounds,
            workloads=workloads,
            clients=clients,
            out_dir=out_dir,
            time_limit=time_limit,
            build=build,
            snapshot=snapshot,
            gen_dir=workdir / "gen",
            runtime_desc=runtime_desc,
            started=started,
            load_before=load_before,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_benchmark(
    *,
    smoke: bool,
    rounds: int,
    workloads: list[Workload] | None,
    clients: list[Client] | None,
    out_dir: Path,
    time_limit: float,
    build: bool,
    snapshot: Path | None,
    gen_dir: Path,
    runtime_desc: str,
    started: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    from benchmarks import _build, _report

    runtime_path = None if snapshot is None else snapshot / "src"
    if build:
        server_binary = _build.build_server()
    else:
        cached = sorted(_build.BENCH_CACHE.glob("benchserver-*"))
        if not cached:
            raise SystemExit("no built server: run without --no-build first")
        server_binary = cached[-1]
    plugin = None if snapshot is None else snapshot / "protoc-gen-connect-python"
    official, ours, ours_error = _build.build_python(plugin, gen_dir)
    if ours_error is not None:
        print(
            f"this project's plugin failed, using the low-level API: {ours_error}", file=sys.stderr
        )
    gen_dirs = {"official": official, "ours": ours}
    chosen_workloads = workloads or list(WORKLOADS)
    chosen_clients = clients or [c for c in CLIENTS if c.default]
    plan = plan_runs(rounds, chosen_workloads, chosen_clients)
    server = Server(server_binary)
    print(
        f"benchmark server (connect-go) at {server.url}; {len(plan.runs)} runs, "
        f"{rounds} round(s){', smoke mode' if smoke else ''}",
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(len(plan.runs), sys.stderr)
    results: list[dict[str, Any]] = []
    try:
        for spec in plan.runs:
            result = run_one(
                spec, server.url, gen_dirs, smoke, time_limit, runtime_path=runtime_path
            )
            results.append(result)
            progress.report(spec, result)
    finally:
        server.close()
    document = {
        "meta": {
            "mode": "smoke" if smoke else "full",
            "rounds": rounds,
            "time_limit_s": time_limit,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(time.time() - started, 1),
            # Other work on the machine shows here (1-minute load, start and end).
            "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "commit": _commit(),
            "runtime": runtime_desc,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
            "go": _go_version(),
            "versions": _versions(),
            "server": "connect-go (benchmarks/server), HTTP/1.1 + h2c on one loopback port",
            "ours_api_generated_error": ours_error,
            "workloads": {
                w.name: {
                    "title": w.title,
                    "unit": w.unit,
                    "latency": w.latency,
                    "params": w.params(smoke),
                    "flavours": list(w.flavours),
                    "targets": w.targets,
                }
                for w in chosen_workloads
            },
            "clients": {
                c.name: {"label": c.label, "kind": c.kind, "shape": c.shape} for c in chosen_clients
            },
        },
        "runs": results,
        "skipped": plan.skipped,
    }
    document["summary"] = _report.summarize(document)
    _report.write_outputs(document, out_dir)
    return document
