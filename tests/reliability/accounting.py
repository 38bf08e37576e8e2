"""What a scenario leaves behind: descriptors, threads, tasks, memory; and the
Go test server's per-tag request counters (``tests/server/stats.go``).

Plain functions (no awaiting), shared by the async scenarios and their sync
twins.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sniffio

__all__ = [
    "RECORDED",
    "Resources",
    "ServerStats",
    "flavour",
    "mode",
    "record",
    "resources",
    "runqueue_waits",
    "server_cpu_seconds",
    "server_stats",
]

#: Worker threads of the event loops' own thread pools (DNS look-ups and the like):
#: they idle for a while after use by design, so they are not counted as leaks.
POOL_THREAD_PREFIXES = ("asyncio_", "AnyIO worker thread", "Trio thread", "ThreadPoolExecutor")


def flavour() -> str:
    """``asyncio``, ``trio`` or ``sync`` (no event loop in this thread)."""
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return "sync"


def _tasks() -> int:
    lib = flavour()
    if lib == "asyncio":
        return len(asyncio.all_tasks())
    if lib == "trio":
        import trio

        count = 0
        root = trio.lowlevel.current_root_task()
        stack = [] if root is None else [root]
        while stack:
            task = stack.pop()
            count += 1
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return count
    return 0


@dataclass(frozen=True)
class Resources:
    fds: int
    threads: frozenset[int]
    thread_names: dict[int, str]
    tasks: int
    rss: int
    fd_targets: dict[str, str]

    def leaks(self, baseline: Resources) -> list[str]:
        """What this snapshot holds beyond ``baseline`` (empty: nothing)."""
        found = []
        if self.fds > baseline.fds:
            new = Counter(self.fd_targets.values()) - Counter(baseline.fd_targets.values())
            found.append(f"{self.fds - baseline.fds} file descriptors (new: {dict(new)})")
        extra = [
            self.thread_names[t]
            for t in self.threads - baseline.threads
            if not self.thread_names[t].startswith(POOL_THREAD_PREFIXES)
        ]
        if extra:
            found.append(f"threads {sorted(extra)}")
        if self.tasks > baseline.tasks:
            found.append(f"{self.tasks - baseline.tasks} tasks")
        return found


def _fd_targets() -> dict[str, str]:
    targets = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        targets[fd] = target.split(":", 1)[0] if target.startswith(("socket", "pipe")) else target
    return targets


def resources() -> Resources:
    threads = {t.ident: t.name for t in threading.enumerate() if t.ident is not None}
    with open("/proc/self/statm", encoding="ascii") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    targets = _fd_targets()
    return Resources(
        fds=len(targets),
        fd_targets=targets,
        threads=frozenset(threads),
        thread_names=threads,
        tasks=_tasks(),
        rss=rss,
    )


def runqueue_waits() -> dict[str, int]:
    """How long (ns) each thread of this process has waited for a CPU while
    ready to run, so far (Linux ``schedstat``; empty where there is none).

    A loaded machine shows here: when many threads wake at one deadline, each
    waits its turn for a core, and the last to end is late by about the sum of
    those waits (they also take turns holding the GIL), much more than one
    sleeping thread's own delay shows."""
    waits: dict[str, int] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return waits
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as f:
                waits[tid] = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waits


@dataclass(frozen=True)
class ServerStats:
    """Requests of one tag as the server counted them."""

    started: int
    active: int
    ended: int
    cancelled: int
    replayed: int


def _ask_stats(http_url: str, query: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{http_url}/_reliability/stats?{query}", timeout=5) as r:
        data: dict[str, Any] = json.loads(r.read())
    return data


def server_stats(http_url: str, tag: str, *, forget: bool = False) -> ServerStats:
    """The server's counters for ``tag`` (asked directly, not through the proxy)."""
    data = _ask_stats(http_url, f"tag={tag}" + ("&forget=1" if forget else ""))
    return ServerStats(**{k: int(data[k]) for k in ServerStats.__dataclass_fields__})


def server_cpu_seconds(http_url: str) -> float:
    """CPU time (user + system) the server process has used so far."""
    return float(_ask_stats(http_url, "tag=")["cpu_seconds"])


# -- figures -----------------------------------------------------------------------------

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_DIR = os.path.join(_ROOT, ".cache", "reliability")
#: Figures recorded during this run, printed by the terminal summary.
RECORDED: list[dict[str, Any]] = []
#: Names this test run in ``results.jsonl``.
RUN_ID = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def _commit() -> str:
    """The checked-out commit (``+`` when the tree has changes), ``""`` outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", _ROOT, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", _ROOT, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+" if dirty else "")


#: The code the figures are of.
COMMIT = _commit()


def record(kind: str, data: dict[str, Any]) -> None:
    """Keep one run's figures: for the end-of-run summary and in
    ``.cache/reliability/results.jsonl`` (what ``RESULTS.md`` is made from)."""
    entry = {
        "kind": kind,
        "run": RUN_ID,
        "mode": mode(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loadavg": round(os.getloadavg()[0], 1),
        "commit": COMMIT,
        **data,
    }
    RECORDED.append(entry)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "results.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def mode() -> str:
    """``ci`` (default) or ``release`` (``RELIABILITY=release``: the long runs)."""
    value = os.environ.get("RELIABILITY", "ci")
    if value not in ("ci", "release"):
        raise ValueError(f"RELIABILITY must be 'ci' or 'release', not {value!r}")
    return value


def summary_lines() -> list[str]:
    """The figures of this run (printed once): soak and load in full, fault
    scenarios added up per flavour."""
    global _summarised
    if _summarised or not RECORDED:
        return []
    _summarised = True
    lines = [f"reliability figures ({mode()} mode, run {RUN_ID}; all in {RESULTS_DIR}):"]
    for flavour_name, s in sorted(scenario_totals(RECORDED).items()):
        lines.append(
            f"  scenarios {flavour_name}: {s['scenarios']} run, {s['calls']} calls, "
            f"outcomes {json.dumps(s['outcomes'], sort_keys=True)}, "
            f"invariants broken: {s['broken']}"
        )
    for entry in RECORDED:
        if entry["kind"] == "scenario":
            continue
        shown = {k: v for k, v in entry.items() if k not in ("run", "mode", "time", "kind")}
        lines.append(f"  {entry['kind']}: {json.dumps(shown, sort_keys=True)}")
    return lines


def scenario_totals(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fault scenarios added up per flavour."""
    totals: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry["kind"] != "scenario":
            continue
        t = totals.setdefault(
            entry["flavour"], {"scenarios": 0, "calls": 0, "outcomes": Counter(), "broken": 0}
        )
        t["scenarios"] += 1
        t["calls"] += entry["calls"]
        t["outcomes"].update(entry["outcomes"])
        t["broken"] += len(entry["broken"])
    for t in totals.values():
        t["outcomes"] = dict(t["outcomes"])
    return totals


_summarised = False
