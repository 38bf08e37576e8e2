"""Write ``tests/reliability/RESULTS.md`` from the figures of the last run.

Usage: ``python tests/reliability/results.py [--mode release|ci] [--out PATH]``.
Reads ``.cache/reliability/results.jsonl`` (appended to by every run of the
suite, see ``accounting.record``) and renders the latest run of the given mode
(default ``release``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
JSONL = ROOT / ".cache" / "reliability" / "results.jsonl"
FLAVOURS = ("asyncio", "trio", "sync")

FIXED_BUGS = {
    "R3": "R3 (HTTP/2, every flavour, fixed in c467660): an HTTP/2 connection "
    "that went silent while a call waited on it stayed in the pool when that call was "
    "ended by its caller (a cancel scope, a CancelToken, a task cancellation) rather than "
    "by its own deadline: only a passed deadline sent the liveness PING, so the next call "
    "went to the dead connection and failed at its deadline. Seen as the scope "
    "scenarios' `half_open` failures on h2c and h2-tls and soak rounds with `HalfOpen`. "
    "Test: `test_h2_connection_silent_until_the_caller_cancelled_is_not_reused`.",
    "R4": "R4 (HTTP/2, every flavour, fixed in c467660): the liveness PING at "
    "a deadline was sent only if nothing at all arrived on the connection while the call "
    "waited, so a connection that went silent after another call's answer arrived during "
    "that wait stayed in the pool. Seen as soak rounds with `HalfOpen` whose healthy "
    "call failed. Test: "
    "`test_h2_connection_that_went_silent_after_other_calls_answered_is_not_reused`.",
    "R1": "R1 (HTTP/2, every flavour, fixed with the liveness probe PING): an "
    "HTTP/2 connection that went silent (the peer gone without FIN or RST) while a stream "
    "was receiving on it stayed in the pool: the stream ended at its deadline, and the "
    "next call was sent on the same dead connection and timed out too. Now a deadline "
    "that passes while nothing came from the peer makes the connection send a PING; the "
    "next call waits briefly for its ACK, else the connection is retired.",
    "R2": "R2 (sync, fixed in 3ff804a): the wake descriptor (eventfd) of a thread whose "
    "call ended at its deadline outlived the thread until the cyclic garbage collector "
    "ran (a reference cycle through the waker's own bound method). Back with b222580 "
    "(the call's frame named the raised deadline error in a local: a cycle through its "
    "traceback) and fixed again in the same session; back once more on bidi calls with "
    "7c07585 (a helper re-raised the exception its frame still held; seen after the "
    "release run as a CI-size `h2c-stall_down` leak, sync, fixed in 7fdce9e); the test "
    "covers server streams and bidi calls too.",
    "R6": "R6 (HTTP/2, every flavour, fixed in f782a06; seen once in a release soak, "
    "asyncio h2c, seed 4036350872 round 289): a stream its caller left while the "
    "server's answer was still coming was reset, and then no call waited on the "
    "connection: when the connection died (the proxy's `HalfOpen` cut met those late "
    "bytes) nothing sent the liveness PING, and the next call was lost on the dead "
    "connection at its deadline. Reproduced alone by leaving a fast server stream with "
    "the cut armed for the next bytes: the next call failed in 9 of 18 runs (h2c and "
    "h2-tls, three flavours, three times). Now every RST_STREAM goes with the probe PING "
    "(one at a time, and only when welcome under a gRPC server's ping policy) and the "
    "next call waits briefly for its ACK, as after a deadline. Tests: "
    "`test_h2_connection_that_went_silent_after_a_stream_was_abandoned_is_not_reused`, "
    "`tests/transport/test_h2_state.py::test_a_reset_sends_the_liveness_probe_once_until_its_ack`.",
}


def key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What an entry is the figure of: a later entry with the same key replaces it."""
    kind = entry["kind"]
    if kind in ("scenario", "scope"):
        return (kind, entry["fault"], entry["route"], entry["flavour"])
    if kind == "fuzz":
        return (kind, entry["test"])
    return (kind, entry["flavour"])


def load(mode: str, jsonl: Path = JSONL) -> list[dict[str, Any]]:
    """The latest figure of each part (scenario, soak, load, fuzz property) in ``mode``."""
    if not jsonl.is_file():
        raise SystemExit(f"no {jsonl}: run the suite first")
    entries = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    entries = [e for e in entries if e.get("mode") == mode]
    if not entries:
        raise SystemExit(f"no {mode}-mode figures in {jsonl}: run the suite first")
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: e["time"]):
        latest[key(entry)] = entry
    return list(latest.values())


def outcomes(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in ordered)


def bug_tags(entry: dict[str, Any]) -> list[str]:
    """The known bugs an entry's broken invariants are the signature of."""
    lost = any(b.startswith("the first healthy call") for b in entry["broken"])
    if entry["kind"] == "scope" and entry["fault"] == "half_open" and entry["route"] != "h1":
        return ["R3"] if lost else []
    return []


def soak_tag(line: str) -> str:
    """The known bug a soak's broken invariant is the signature of ("": none)."""
    if "healthy call failed" not in line:
        return ""
    if "HalfOpen" in line and "deadline_exceeded" in line.lower():
        return "R6"
    if "HalfClose" in line and "the server closed the connection" in line:
        return "H1"
    return ""


#: Found by the release run and not explained or fixed yet: reported.
OPEN_FINDINGS: dict[str, str] = {}

#: Failures of the suite's own machinery, not of the client.
HARNESS_ISSUES = {
    "H1": "H1 (the fault proxy, fixed): `FaultProxy.heal()` cleared the faults of every "
    "connection, but a fault whose cut was already decided for bytes in flight (a "
    "`HalfClose` or `Stall` waiting for the bytes before its cut to be forwarded) was "
    "carried out after `heal()` returned, so the round's healthy call met a FIN or a "
    "stall (about 1 round in 2,000). Also, a connection accepted just before `heal()` "
    "could miss it (it joined the proxy's set one step after taking the faults). Now an "
    "action checks that its fault is still attached when it is carried out, and a "
    "connection joins the set in the step that gives it its faults. Test: "
    "`test_faultproxy.py::test_a_fault_decided_before_heal_is_not_carried_out_after`.",
    "L1": "L1 (the load test's offered rate, changed): in a release run a trio stream's "
    "message came 1.03 s later than its peers' (bound 1 s) while the client got 0.41 of "
    "a core (machine load 4.2). 1,000 streams then sent a message every 0.5 s: 2,000 "
    "wake-ups a second at about 400 µs of client CPU each (the streams' opening "
    "counted), more than such a client has. Reproduced with the cores kept busy on "
    "purpose: at 0.15 to 0.3 of a core asyncio and trio both passed the bound (0.56 to "
    "1.28 s later than peers) with every stream behind (late p99 0.4 to 1.4 s): the "
    "backlog waits in the server's queue, which orders the streams its own way. With "
    "the client keeping up, the worst was 23 to 69 ms. The streams now send a message "
    "every 1 s (1,000 a second, about a third of a core), and the client's CPU per "
    "message is a figure of the run.",
}


def load_section(loads: list[dict[str, Any]]) -> list[str]:
    """The load table, and what limited the unary bursts."""
    out = [
        "## Load",
        "",
        "Streams: 1,000 server streams at once (64 threads in sync) over one pool, a "
        "message every 1 s each (*client CPU / message*: what carrying them cost the "
        "client, the streams' opening included; *CPU share*: of one core). Bursts: unary "
        "calls back to back from every task (thread), aiming at 10,000 calls/s. *Later "
        "than peers*: how much later than the median of the messages arriving in the same"
        " 0.5 s a message came, beyond how long a ready task (thread) waited for its turn"
        " meanwhile (*loop lag*); over 1 s is starvation. Where the messages/s stay below"
        " those offered, the client did not get the CPU to keep up and every stream falls"
        " behind.",
        "",
        "| flavour | rounds | streams at once | messages/s (offered) | first message p99 "
        "| late p99 / max | later than peers (max) | loop lag max "
        "| client CPU / message, CPU share | connections | RSS growth | failures |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in loads:
        out.append(
            f"| {e['flavour']} | {e['rounds']} | {e['concurrent_streams']} "
            f"| {e['stream_messages_per_s']} ({e.get('offered_messages_per_s', '-')}) "
            f"| {e['first_message_p99_ms']} ms "
            f"| {e['late_p99_ms']} / {e['late_max_ms']} ms | {e.get('unfair_max_ms', '-')} ms "
            f"| {e.get('loop_lag_max_ms', '-')} ms "
            f"| {e.get('stream_client_us_per_message', '-')} µs, "
            f"{e.get('stream_client_cpu_share', '-')} | {e['connections']} "
            f"| {e['rss_growth_mb']} MiB | {len(e['failures'])} |"
        )
    out += [
        "",
        "| flavour | burst tasks | unary calls | calls/s (target) | unary p99 "
        "| client CPU / call | server CPU / call | CPU share: client, server "
        "| ceiling: client on one core | ceiling: this machine |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in loads:
        if "client_us_per_call" not in e:
            continue  # recorded before the bursts' costs were
        out.append(
            f"| {e['flavour']} | {e['burst_tasks']} | {e['unary_calls']} "
            f"| {e['unary_calls_per_s']} ({e['unary_target_per_s']}) | {e['unary_p99_ms']} ms "
            f"| {e['client_us_per_call']} µs | {e['server_us_per_call']} µs "
            f"| {e['burst_client_cpu_share']}, {e['burst_server_cpu_share']} "
            f"| {e['ceiling_client_one_core_per_s']}/s | {e['ceiling_machine_per_s']}/s |"
        )
    out += ["", *burst_verdict(loads), ""]
    return out


def burst_verdict(loads: list[dict[str, Any]]) -> list[str]:
    """Whether the bursts reached the target rate, and the CPU arithmetic of why not."""
    bursts = [e for e in loads if "client_us_per_call" in e]
    if not bursts:
        return []
    target = bursts[0]["unary_target_per_s"]
    rates = sorted(e["unary_calls_per_s"] for e in bursts)
    costs = sorted(e["client_us_per_call"] for e in bursts)
    if rates[0] >= target:
        return [f"The bursts reached the {target:,} calls/s target in every flavour."]
    need = [c * target / 1e6 for c in costs]
    return [
        f"**The {target:,} calls/s target is not reached**: the bursts made {rates[0]:,} to "
        f"{rates[-1]:,} calls/s. The client's CPU per call was measured at {costs[0]} to "
        f"{costs[-1]} µs; at {target:,} calls/s that is {need[0]:.1f} to {need[-1]:.1f} s of "
        "CPU per second, more than the one core a Python process's calls run on (the GIL "
        "runs one thread's Python code at a time; the sync flavour's threads too). "
        f"{target:,} calls/s from one process needs the client's CPU per call under "
        f"{1e6 / target:.0f} µs. *Ceiling: client on one core* is 1 s divided by the "
        "client's CPU per call; *ceiling: this machine* also shares the machine's cores "
        "between client and server (the Go server's CPU per call is in the table). The "
        "calls/s reached are below those ceilings where the run got less than a full core "
        "(*CPU share*, during the bursts): the machine was shared.",
    ]


def render(entries: list[dict[str, Any]], note: str = "") -> str:
    first = min(e["time"] for e in entries)
    runs = ", ".join(f"`{r}`" for r in sorted({e["run"] for e in entries}))
    mode = entries[0]["mode"]
    out = [
        "# Reliability results",
        "",
        f"{'CI' if mode == 'ci' else mode.capitalize()}-mode run(s) {runs}, from {first} UTC, "
        f"on {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()}. Made by "
        "`python tests/reliability/results.py` from `.cache/reliability/results.jsonl`; "
        "see the README's *Reliability* section for what each part does.",
        "",
    ]
    commits = sorted({e["commit"] for e in entries if e.get("commit")})
    if commits:
        out += [
            "Code: commit " + ", ".join(f"`{c}`" for c in commits) + " (`+`: with changes "
            "not committed).",
            "",
        ]
    loads_seen = sorted({e["loadavg"] for e in entries if "loadavg" in e})
    if loads_seen:
        out += [
            f"Machine load average (1 min) when figures were recorded: "
            f"{loads_seen[0]:g} to {loads_seen[-1]:g}.",
            "",
        ]
    if note:
        out += [note, ""]
    broken: list[str] = []
    known: set[str] = set()
    scenarios = [e for e in entries if e["kind"] == "scenario"]
    if scenarios:
        calls = sum(e["calls"] for e in scenarios)
        out += [
            "## Fault scenarios",
            "",
            f"{len(scenarios)} scenarios, {calls} calls. Each cell: the outcomes of one "
            "scenario's calls (one fault, mixed traffic, then the invariants).",
            "",
            "| fault | route | " + " | ".join(FLAVOURS) + " |",
            "|---|---|" + "---|" * len(FLAVOURS),
        ]
        table: dict[tuple[str, str], dict[str, str]] = {}
        for e in scenarios:
            cell = outcomes(e["outcomes"])
            if e["broken"]:
                cell += " **(" + "; ".join(e["broken"]) + ")**"
                broken += [f"{e['fault']}/{e['route']}/{e['flavour']}: {b}" for b in e["broken"]]
            table.setdefault((e["fault"], e["route"]), {})[e["flavour"]] = cell
        for (fault, route), cells in table.items():
            row = [cells.get(f, "") for f in FLAVOURS]
            out.append(f"| {fault} | {route} | " + " | ".join(row) + " |")
        out.append("")
    soaks = [e for e in entries if e["kind"] == "soak"]
    if soaks:
        out += [
            "## Soak",
            "",
            "| flavour | seed | seconds | rounds | calls | faults injected | outcomes "
            "| unary p50 / p99 | RSS growth | server: started / cancelled / replayed "
            "| process held up / CPU queue (max) | broken |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in soaks:
            faults = sum(e["faults_injected"].values())
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(e["faults_injected"].items()))
            server = e["server"]
            for line in e["broken"]:
                tag = soak_tag(line)
                known.update(tag.split(" or ") if tag else [])
                broken.append(f"soak/{e['flavour']}: {line}" + (f" ({tag})" if tag else ""))
            out.append(
                f"| {e['flavour']} | {e['seed']} | {e['seconds']:g} | {e['rounds']} "
                f"| {e['calls']} | {faults} ({kinds}) | {outcomes(e['outcomes'])} "
                f"| {e['unary_p50_ms']} / {e['unary_p99_ms']} ms | {e['rss_growth_mb']} MiB "
                f"| {server['started']} / {server['cancelled']} / {server['replayed']} "
                f"| {e.get('process_stall_max_ms', '-')} / {e.get('cpu_queue_max_ms', '-')} ms "
                f"| {len(e['broken'])} |"
            )
        out += [
            "",
            "Replay a soak: `RELIABILITY_SEED=<seed>` (and the same mode). A call may end "
            "within its deadline + 100 ms plus how long the process could not run meanwhile: "
            "*held up* is the longest delay of the watchdog's 10 ms sleeps, *CPU queue* how "
            "long the process's threads waited, added up, for a core after a deadline (Linux "
            "run-queue wait); calls that share a deadline end one after the other on a busy "
            "machine.",
            "",
        ]
    scopes = [e for e in entries if e["kind"] == "scope"]
    if scopes:
        out += [
            "## Scope cancellation",
            "",
            "Each kind of call cut by the caller's cancel scope (0.3 s) while the peer is "
            "silent, then a healthy call (async flavours: cancel scopes exist only there). "
            "Each cell: the invariants broken (none: ok).",
            "",
            "| fault | route | asyncio | trio |",
            "|---|---|---|---|",
        ]
        scope_table: dict[tuple[str, str], dict[str, str]] = {}
        for e in scopes:
            tags = bug_tags(e)
            known.update(tags)
            cell = "ok" if not e["broken"] else "**" + "; ".join(e["broken"]) + "**"
            if tags:
                cell += " (" + ", ".join(tags) + ")"
            scope_table.setdefault((e["fault"], e["route"]), {})[e["flavour"]] = cell
            broken += [
                f"scope {e['fault']}/{e['route']}/{e['flavour']}: {b}"
                + (f" ({', '.join(tags)})" if tags else "")
                for b in e["broken"]
            ]
        for (fault, route), by_flavour in scope_table.items():
            row = [by_flavour.get(f, "") for f in ("asyncio", "trio")]
            out.append(f"| {fault} | {route} | " + " | ".join(row) + " |")
        out.append("")
    loads = [e for e in entries if e["kind"] == "load"]
    if loads:
        out += load_section(loads)
        for e in loads:
            broken += [f"load/{e['flavour']}: {f}" for f in e["failures"] + e["leaks"]]
            if e.get("unfair_max_ms", 0) > 1000:
                broken.append(
                    f"load/{e['flavour']}: a stream's message came "
                    f"{e['unfair_max_ms'] / 1000:.2f} s later than its peers' (bound: 1 s)"
                )
    fuzz = [e for e in entries if e["kind"] == "fuzz"]
    if fuzz:
        out += ["## Fuzzing", "", "| property | examples | result |", "|---|---|---|"]
        for e in fuzz:
            out.append(f"| {e['test']} | {e['examples']} | {e['result']} |")
        out.append("")
    out += ["## Invariants broken", ""]
    out += [f"- {b}" for b in broken] or ["None."]
    out.append("")
    out += [
        "## Bugs found",
        "",
        "The broken invariants above are the signature of: "
        + (", ".join(sorted(known)) or "none")
        + " (tagged in each line). Each fixed bug of the client has a focused test in "
        "`tests/reliability/test_regressions.py`.",
        "",
        "Found by the suite, open (reported):",
        "",
    ]
    out += [f"- {text}" for tag, text in OPEN_FINDINGS.items() if tag in known] or ["- none"]
    out += ["", "Found by the suite and fixed (their tests assert the fix):", ""]
    out += [f"- {text}" for text in FIXED_BUGS.values()]
    out += ["", "Issues of the suite itself (not the client):", ""]
    out += [f"- {text}" for text in HARNESS_ISSUES.values()]
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="release", choices=("release", "ci"))
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--jsonl", default=str(JSONL), help="the recorded figures")
    parser.add_argument("--note", default="", help="a paragraph to add under the title")
    args = parser.parse_args(argv)
    text = render(load(args.mode, Path(args.jsonl)), args.note)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
