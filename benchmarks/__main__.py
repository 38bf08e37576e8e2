"""Command line: ``python -m benchmarks {run,build,server,report,profile}``.

- ``run``: build (cached), start the connect-go server, run every client on
  every workload for several rounds, write ``results.json``, ``results.md``
  and ``ratios.png`` (default ``benchmarks/results/``). ``--smoke``: a few
  hundred operations per workload, one round, output under
  ``benchmarks/results/tmp/smoke`` unless ``--out`` is given.
- ``build``: only build the server and generate the Python code.
- ``server``: run the benchmark server in the foreground (prints its URL).
- ``report``: re-render the Markdown and chart from a ``results.json``.
- ``profile``: run one client on one workload under a profiler.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks._workloads import CLIENTS, WORKLOADS, client_named, workload_named

RESULTS = Path(__file__).resolve().parent / "results"


def _names(value: str | None, known: list[str]) -> list[str] | None:
    if not value:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks._runner import run_benchmark

    workloads = _names(args.workloads, [w.name for w in WORKLOADS])
    clients = _names(args.clients, [c.name for c in CLIENTS])
    smoke = args.smoke
    rounds = args.rounds if args.rounds is not None else (1 if smoke else 3)
    out = Path(args.out) if args.out else (RESULTS / "tmp" / "smoke" if smoke else RESULTS)
    time_limit = args.time_limit if args.time_limit is not None else (20.0 if smoke else 5.0)
    document = run_benchmark(
        smoke=smoke,
        rounds=rounds,
        workloads=[workload_named(n) for n in workloads] if workloads else None,
        clients=[client_named(n) for n in clients] if clients else None,
        out_dir=out,
        time_limit=time_limit,
        build=not args.no_build,
        runtime=args.runtime,
    )
    print(f"wrote {out}/results.json, results.md, ratios.png", file=sys.stderr)
    print((out / "results.md").read_text().split("## Client CPU")[0])
    errors = [r for r in document["runs"] if r.get("status") in ("error", "timeout")]
    ours_errors = [r for r in errors if r["client"].startswith("ours")]
    return 1 if ours_errors and args.strict else 0


def cmd_build(args: argparse.Namespace) -> int:
    from benchmarks._build import build

    result = build()
    print(json.dumps({k: str(v) for k, v in result.__dict__.items()}, indent=2))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    import subprocess

    from benchmarks._build import build_server

    binary = build_server()
    print("serving until stdin closes (Ctrl-D)", file=sys.stderr)
    return subprocess.call([str(binary)])


def cmd_report(args: argparse.Namespace) -> int:
    from benchmarks import _report

    path = Path(args.results)
    document = json.loads(path.read_text())
    document["summary"] = _report.summarize(document)
    _report.write_outputs(document, Path(args.out) if args.out else path.parent)
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from benchmarks import _build
    from benchmarks._runner import RunSpec, Server, run_one

    built = _build.build()
    gen_dirs = {"official": built.gen_official, "ours": built.gen_ours}
    workload = workload_named(args.workload)
    client = client_named(args.client)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    server = Server(built.server)
    try:
        result = run_one(
            RunSpec(1, workload, args.flavour, client),
            server.url,
            gen_dirs,
            args.smoke,
            60.0,
            {"profile": args.profiler, "profile_out": str(out)},
        )
    finally:
        server.close()
    summary = {k: result.get(k) for k in ("status", "ops", "seconds", "cpu_seconds", "reason")}
    print(json.dumps(summary), file=sys.stderr)
    print(f"profile written to {out}", file=sys.stderr)
    if args.profiler == "cprofile" and result.get("ops"):
        from benchmarks._profile_summary import summarize_profile

        print(summarize_profile(out, int(result["ops"])))
    return 0 if result.get("status") in ("ok", "truncated") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the benchmark")
    run.add_argument("--smoke", action="store_true", help="a few hundred operations, one round")
    run.add_argument("--rounds", type=int, default=None, help="rounds (default 3; smoke 1)")
    run.add_argument("--workloads", help="comma-separated workload names (default all)")
    run.add_argument(
        "--clients", help="comma-separated client names (default all but httpcore-sync)"
    )
    run.add_argument("--out", help="output directory (default benchmarks/results)")
    run.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per run before it stops early (default 5; smoke 20)",
    )
    run.add_argument("--no-build", action="store_true", help="use the cached build")
    run.add_argument(
        "--runtime",
        choices=["head", "worktree"],
        default="head",
        help="measure this project as committed (head: a git archive of HEAD, the "
        "default, so edits during a run change nothing) or as in the working tree",
    )
    run.add_argument(
        "--strict", action="store_true", help="exit 1 if a run of this project's client failed"
    )
    run.set_defaults(func=cmd_run)

    sub.add_parser("build", help="build the server and generate code").set_defaults(func=cmd_build)
    sub.add_parser("server", help="run the benchmark server").set_defaults(func=cmd_server)

    report = sub.add_parser("report", help="re-render results.md and ratios.png")
    report.add_argument("results", help="path to results.json")
    report.add_argument("--out", help="output directory (default: next to results.json)")
    report.set_defaults(func=cmd_report)

    prof = sub.add_parser("profile", help="profile one client on one workload")
    prof.add_argument("client", choices=[c.name for c in CLIENTS])
    prof.add_argument("workload", choices=[w.name for w in WORKLOADS])
    prof.add_argument("flavour", choices=["http1", "h2c"])
    prof.add_argument("--profiler", choices=["pyinstrument", "cprofile"], default="pyinstrument")
    prof.add_argument("--out", default=str(RESULTS / "tmp" / "profile.txt"))
    prof.add_argument("--smoke", action="store_true", help="smoke-sized workload")
    prof.set_defaults(func=cmd_profile)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
