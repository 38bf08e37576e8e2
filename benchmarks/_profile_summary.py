"""Summaries of a cProfile dump: own time by layer, and the top functions.

The layers are what a reader can act on: the event loop, anyio, h11/h2,
httpcore, this project's runtime, protobuf, system calls.
"""

from __future__ import annotations

import pstats
from collections import defaultdict
from pathlib import Path

__all__ = ["layer_of", "summarize_profile"]

_LAYERS = (
    ("connect_python/runtime_async/", "connect_python runtime (runtime_async)"),
    ("connect_python/runtime_sync/", "connect_python runtime (runtime_sync)"),
    ("connect_python/_io/", "connect_python I/O room (concurrency pair, sockets)"),
    ("connect_python/", "connect_python sans-IO"),
    ("connectbench/", "generated client"),
    ("benchmarks/", "benchmark loop"),
    ("/anyio/", "anyio"),
    ("/sniffio/", "sniffio"),
    ("/h11/", "h11"),
    ("/h2/", "h2"),
    ("/hpack/", "hpack"),
    ("/hyperframe/", "hyperframe"),
    ("/httpcore/", "httpcore"),
    ("/trio/", "trio"),
    ("/asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("/google/protobuf/", "protobuf"),
    ("/connectrpc/", "connectrpc"),
    ("/pyqwest/", "pyqwest"),
)


def layer_of(filename: str, name: str) -> str:
    if filename == "~":
        if any(k in name for k in ("socket", "select", "epoll", "poll")):
            return "system calls"
        if "_asyncio" in name or "get_running_loop" in name:
            return "asyncio"
        if "protobuf" in name or "upb" in name or "FromString" in name or "Serialize" in name:
            return "protobuf"
        return "builtins"
    for marker, layer in _LAYERS:
        if marker in filename:
            return layer
    return "other"


def summarize_profile(path: Path, ops: int, top: int = 25) -> str:
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    layers: dict[str, float] = defaultdict(float)
    rows = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in raw.items():
        total += tt
        layers[layer_of(filename, name)] += tt
        rows.append((tt, ct, nc, f"{Path(filename).name}:{line}({name})", filename))
    lines = [f"total own time {total:.3f} s over {ops} ops = {total / ops * 1e6:.0f} us/op", ""]
    lines.append("own time by layer:")
    for layer, tt in sorted(layers.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {tt / total * 100:5.1f}%  {tt / ops * 1e6:7.1f} us/op  {layer}")
    lines.append("")
    lines.append(f"top {top} functions by own time (calls per op, own us/op, cumulative us/op):")
    for tt, ct, nc, label, filename in sorted(rows, reverse=True)[:top]:
        layer = layer_of(filename, label)
        lines.append(
            f"  {tt / total * 100:5.1f}%  {nc / ops:6.1f}  {tt / ops * 1e6:7.1f}  "
            f"{ct / ops * 1e6:8.1f}  {label}  [{layer}]"
        )
    return "\n".join(lines)
