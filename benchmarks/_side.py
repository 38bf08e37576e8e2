"""The frame of the side benchmarks (``interceptor_cost``, ``message_runtimes``):
their options, the built connect-go server around the measurement, and the
Markdown table it returns printed and written to ``--out``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmarks._build import BuildResult, build
from benchmarks._runner import Server

__all__ = ["run_table"]


def run_table(
    description: str,
    argv: list[str] | None,
    measure: Callable[[BuildResult, str, argparse.Namespace], str],
    *,
    rounds: int,
    messages: int,
) -> int:
    """Parse ``--rounds/--calls/--messages/--out``, build, start the server and
    run ``measure(built, server URL, options)``; returns the exit status."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    built = build()
    server = Server(built.server)
    try:
        table = measure(built, server.url, args)
    finally:
        server.close()
    print(table, end="")
    if args.out is not None:
        args.out.write_text(table, encoding="utf-8")
    return 0
