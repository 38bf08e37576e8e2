"""Turn raw runs into figures: a summary, a Markdown table of ratios and a chart.

Ratios compare runs of the same round (the clients of a round run back to
back, so they share the machine's state): the reported ratio is the median of
the per-round ratios, the spread their minimum and maximum.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["render_markdown", "summarize", "write_chart", "write_outputs"]

OURS = ("ours-asyncio", "ours-trio", "ours-sync")
PEER = {
    "ours-asyncio": "official-async",
    "ours-trio": "official-async",
    "ours-sync": "official-sync",
    "httpcore-async": "official-async",
    "httpcore-sync": "official-sync",
}
GOOD = ("ok", "truncated")
FLAVOUR_LABEL = {"http1": "HTTP/1.1", "h2c": "h2c"}
#: Unary client CPU over h2c may be at most this many times that over HTTP/1.1.
H2_COST_TARGET = 1.3


def _metrics(run: dict[str, Any]) -> dict[str, float] | None:
    if run.get("status") not in GOOD or not run.get("ops"):
        return None
    latency = run.get("latency", {})
    return {
        "throughput": run["ops"] / run["seconds"],
        "cpu_per_1k": run["cpu_seconds"] / run["ops"] * 1000,
        "p50_ms": latency.get("p50", math.nan) * 1000,
        "p99_ms": latency.get("p99", math.nan) * 1000,
        "peak_rss_mb": run["peak_rss_kib"] / 1024,
    }


def _spread(values: list[float]) -> dict[str, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _headline(workload: str, ours: dict[str, float], peer: dict[str, float]) -> float:
    """This project's advantage as one number (higher is better)."""
    if workload == "watch":
        # Events are paced by the server: compare how fast each is delivered.
        return peer["p50_ms"] / ours["p50_ms"]
    return ours["throughput"] / peer["throughput"]


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = document["runs"]
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_key[(run["workload"], run["flavour"], run["client"])].append(run)

    figures: dict[str, Any] = {}
    for (workload, flavour, client), group in sorted(by_key.items()):
        good = [m for m in (_metrics(r) for r in group) if m is not None]
        statuses: dict[str, int] = defaultdict(int)
        for r in group:
            statuses[r.get("status", "error")] += 1
        reasons = sorted({str(r.get("reason")) for r in group if r.get("reason")})
        entry: dict[str, Any] = {"statuses": dict(statuses), "reasons": reasons}
        if good:
            for name in good[0]:
                entry[name] = _spread([m[name] for m in good])
            entry["api"] = next((r.get("api") for r in group if r.get("api")), None)
        figures[f"{workload}/{flavour}/{client}"] = entry
    for skipped in document.get("skipped", []):
        key = f"{skipped['workload']}/{skipped['flavour']}/{skipped['client']}"
        figures[key] = {"statuses": {"unsupported": 1}, "reasons": [skipped["reason"]]}

    # Paired ratios, round by round.
    per_round: dict[tuple[str, str, str, int], dict[str, float]] = {}
    for run in runs:
        metrics = _metrics(run)
        if metrics is not None:
            per_round[(run["workload"], run["flavour"], run["client"], run["round"])] = metrics
    ratios: dict[str, Any] = {}
    rounds = sorted({run["round"] for run in runs if run.get("round") is not None})
    workloads = sorted({(run["workload"], run["flavour"]) for run in runs})
    for workload, flavour in workloads:
        for client, peer in PEER.items():
            if f"{workload}/{flavour}/{client}" not in figures:
                continue
            series: dict[str, list[float]] = defaultdict(list)
            for r in rounds:
                ours = per_round.get((workload, flavour, client, r))
                theirs = per_round.get((workload, flavour, peer, r))
                if ours is None or theirs is None:
                    continue
                series["headline"].append(_headline(workload, ours, theirs))
                for name in ("throughput", "cpu_per_1k", "p50_ms", "p99_ms", "peak_rss_mb"):
                    series[name].append(ours[name] / theirs[name])
            ratios[f"{workload}/{flavour}/{client}"] = {
                "peer": peer,
                **{name: _spread(values) for name, values in series.items()},
            }
        # trio against asyncio, same project.
        series_t: list[float] = []
        for r in rounds:
            a = per_round.get((workload, flavour, "ours-asyncio", r))
            t = per_round.get((workload, flavour, "ours-trio", r))
            if a is not None and t is not None:
                series_t.append(_headline(workload, t, a))
        if series_t:
            ratios[f"{workload}/{flavour}/trio-vs-asyncio"] = {"headline": _spread(series_t)}
    # The cost of HTTP/2 itself: unary client CPU over h2c ÷ over HTTP/1.1, same client.
    for client in OURS:
        series_h: list[float] = []
        for r in rounds:
            h1 = per_round.get(("unary_seq", "http1", client, r))
            h2 = per_round.get(("unary_seq", "h2c", client, r))
            if h1 is not None and h2 is not None:
                series_h.append(h2["cpu_per_1k"] / h1["cpu_per_1k"])
        if series_h:
            ratios[f"unary_seq/h2c-vs-http1/{client}"] = {"cpu_per_1k": _spread(series_h)}
    return {"figures": figures, "ratios": ratios}


# -- Markdown -------------------------------------------------------------------


def _fmt_ratio(spread: dict[str, float] | None) -> str:
    if not spread or not spread.get("n"):
        return ""
    median, low, high = spread["median"], spread["min"], spread["max"]
    if spread["n"] == 1:
        return f"{median:.2f}"
    return f"{median:.2f} ({low:.2f}-{high:.2f})"


def _status_note(figures: dict[str, Any], key: str) -> str:
    entry = figures.get(key)
    if entry is None:
        return "n/a"
    statuses = entry["statuses"]
    if statuses.get("unsupported"):
        return "not supported yet" if key.split("/")[2].startswith("ours") else "not supported"
    failed = sum(n for s, n in statuses.items() if s not in GOOD)
    total = sum(statuses.values())
    if failed:
        return f"failed {failed}/{total}"
    return ""


def _cell(
    summary: dict[str, Any],
    workload: str,
    flavour: str,
    client: str,
    metric: str,
    target: float | None = None,
) -> str:
    figures, ratios = summary["figures"], summary["ratios"]
    key = f"{workload}/{flavour}/{client}"
    ratio = ratios.get(key, {}).get(metric)
    text = _fmt_ratio(ratio)
    if text:
        if target is not None and metric == "headline":
            text += " ✓" if ratio["median"] >= target else " ✗"
        return text
    mine = _status_note(figures, key)
    if mine:
        return mine
    peer = PEER.get(client)
    theirs = _status_note(figures, f"{workload}/{flavour}/{peer}") if peer else ""
    if theirs:
        return f"∞ (official {theirs})" if metric == "headline" else f"official {theirs}"
    return "n/a"


def _fmt_num(spread: dict[str, float] | None, digits: int = 0) -> str:
    if not spread or not spread.get("n"):
        return "—"
    median = spread["median"]
    if digits == 0:
        return f"{median:,.0f}"
    return f"{median:,.{digits}f}"


def _load(meta: dict[str, Any]) -> str:
    load = meta.get("load_average")
    if not load:
        return "unknown"
    return f"{load[0]:.1f} at the start, {load[1]:.1f} at the end"


def render_markdown(document: dict[str, Any]) -> str:
    meta = document["meta"]
    summary = document["summary"]
    workloads = meta["workloads"]
    lines: list[str] = []
    api = "clients generated by `protoc-gen-connect-python`"
    if meta.get("ours_api_generated_error"):
        api = (
            "the low-level runtime API (`AsyncConnectClient` + `MethodInfo`; "
            "the plugin was not usable)"
        )
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines += [
        "# Benchmark results",
        "",
        f"{meta['mode']} run of {meta['started']} (runtime: "
        f"{meta.get('runtime', meta.get('commit', '?'))}): "
        f"{meta['rounds']} rounds, "
        f"{meta['duration_s']:.0f} s, {meta['machine']}, Python {meta['python']}, "
        f"{meta['go']}, load average {_load(meta)}. Server: {meta['server']}. "
        f"This project measured through {api}. "
        f"Versions: {versions}.",
        "",
        "Every figure is the median over rounds; (low-high) is the spread of the per-round "
        "values. Each round runs all clients back to back, each in its own process; ratios "
        "are paired within a round.",
        "",
        "## Throughput: this project ÷ official `connectrpc` (higher is better)",
        "",
        "Asyncio and trio are compared with the official async client, sync with the official "
        "sync client. ✓/✗: the issue's target. The last column is the raw httpcore baseline "
        "(no RPC layer) against the official async client. For *watch* the ratio is the "
        "official client's median delivery delay ÷ ours (the server paces the events).",
        "",
        "| workload | HTTP | target | asyncio | trio | sync | trio ÷ asyncio "
        "| raw httpcore (async) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, info in workloads.items():
        for flavour in info["flavours"]:
            target = info["targets"].get(flavour)
            tgt = f"≥ {target:.1f}" if target is not None else "—"
            trio_vs = (
                _fmt_ratio(
                    summary["ratios"].get(f"{name}/{flavour}/trio-vs-asyncio", {}).get("headline")
                )
                or "n/a"
            )
            row = [
                info["title"],
                FLAVOUR_LABEL[flavour],
                tgt,
                _cell(summary, name, flavour, "ours-asyncio", "headline", target),
                _cell(summary, name, flavour, "ours-trio", "headline", target),
                _cell(summary, name, flavour, "ours-sync", "headline", target),
                trio_vs,
                _cell(summary, name, flavour, "httpcore-async", "headline"),
            ]
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "## Client CPU per operation and peak RSS: this project ÷ official (lower is better)",
        "",
        "CPU is the client process's own user + system time (all threads) during the workload, "
        "per 1,000 operations: the steadiest figure on a shared 2-core machine.",
        "",
        "| workload | HTTP | CPU asyncio | CPU trio | CPU sync | RSS asyncio | RSS sync |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, info in workloads.items():
        for flavour in info["flavours"]:
            row = [
                info["title"],
                FLAVOUR_LABEL[flavour],
                _cell(summary, name, flavour, "ours-asyncio", "cpu_per_1k"),
                _cell(summary, name, flavour, "ours-trio", "cpu_per_1k"),
                _cell(summary, name, flavour, "ours-sync", "cpu_per_1k"),
                _cell(summary, name, flavour, "ours-asyncio", "peak_rss_mb"),
                _cell(summary, name, flavour, "ours-sync", "peak_rss_mb"),
            ]
            lines.append("| " + " | ".join(row) + " |")
    h2_cost = [
        summary["ratios"].get(f"unary_seq/h2c-vs-http1/{client}", {}).get("cpu_per_1k")
        for client in OURS
    ]
    if any(h2_cost):
        cells = []
        for spread in h2_cost:
            text = _fmt_ratio(spread) or "n/a"
            if spread and spread.get("n"):
                text += " ✓" if spread["median"] <= H2_COST_TARGET else " ✗"
            cells.append(text)
        lines += [
            "",
            "## The cost of HTTP/2: unary client CPU over h2c ÷ over HTTP/1.1 (lower is better)",
            "",
            f"Same client, paired within a round. Target: at most {H2_COST_TARGET:.1f}.",
            "",
            "| asyncio | trio | sync |",
            "|---|---|---|",
            "| " + " | ".join(cells) + " |",
        ]
    lines += [
        "",
        "## Absolute figures",
        "",
        "Median over rounds. Latency: per call (unary), gap between consecutive messages "
        "(server streams), delivery delay from the server's send to the client's receive "
        "(watch), the whole call (client stream), per round trip (bidi).",
        "",
        "| workload | HTTP | client | ops/s | (low-high) | p50 ms | p99 ms | CPU s/1k ops "
        "| peak RSS MB | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    clients = meta["clients"]
    figures = summary["figures"]
    for name, info in workloads.items():
        for flavour in info["flavours"]:
            for client, cinfo in clients.items():
                key = f"{name}/{flavour}/{client}"
                entry = figures.get(key)
                if entry is None:
                    continue
                statuses = ", ".join(f"{s} {n}" for s, n in sorted(entry["statuses"].items()))
                tp = entry.get("throughput")
                spread = f"{tp['min']:,.0f}-{tp['max']:,.0f}" if tp and tp.get("n") else "—"
                row = [
                    info["title"],
                    FLAVOUR_LABEL[flavour],
                    cinfo["label"],
                    _fmt_num(tp),
                    spread,
                    _fmt_num(entry.get("p50_ms"), 3),
                    _fmt_num(entry.get("p99_ms"), 3),
                    _fmt_num(entry.get("cpu_per_1k"), 3),
                    _fmt_num(entry.get("peak_rss_mb"), 1),
                    statuses,
                ]
                lines.append("| " + " | ".join(row) + " |")
    notes: dict[str, list[str]] = defaultdict(list)
    for key, entry in figures.items():
        bad = {s for s in entry["statuses"] if s not in ("ok",)}
        if bad and entry["reasons"]:
            workload, flavour, client = key.split("/")
            for reason in entry["reasons"]:
                label = clients.get(client, {}).get("label", client)
                notes[reason].append(f"{label} ({workload}, {FLAVOUR_LABEL[flavour]})")
    truncated = [key for key, entry in figures.items() if entry["statuses"].get("truncated")]
    if notes or truncated:
        lines += ["", "## Runs that did not complete", ""]
        for reason, where in sorted(notes.items()):
            lines.append(f"- {'; '.join(where)}: {reason}")
        if truncated:
            lines.append(
                f"- stopped at the per-run time limit ({meta['time_limit_s']:.0f} s; figures "
                f"use the operations done): {', '.join(truncated)}"
            )
    lines.append("")
    return "\n".join(lines)


# -- chart ------------------------------------------------------------------------


def write_chart(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = document["meta"]
    summary = document["summary"]
    groups: list[tuple[str, str, float | None]] = []
    for name, info in meta["workloads"].items():
        for flavour in info["flavours"]:
            groups.append((name, flavour, info["targets"].get(flavour)))
    series = [
        ("ours-asyncio", "asyncio ÷ official async", "#1f77b4"),
        ("ours-trio", "trio ÷ official async", "#2ca02c"),
        ("ours-sync", "sync ÷ official sync", "#ff7f0e"),
    ]
    width = 0.26
    fig, ax = plt.subplots(figsize=(max(8.0, 1.0 * len(groups) + 2), 5.2), dpi=110)
    ratios = summary["ratios"]
    ymin, ymax = 0.05, 20.0
    for i, (client, label, color) in enumerate(series):
        xs, heights, lows, highs = [], [], [], []
        for g, (name, flavour, _target) in enumerate(groups):
            x = g + (i - 1) * width
            spread = ratios.get(f"{name}/{flavour}/{client}", {}).get("headline")
            if spread and spread.get("n"):
                xs.append(x)
                heights.append(spread["median"])
                lows.append(spread["median"] - spread["min"])
                highs.append(spread["max"] - spread["median"])
            else:
                mine = _status_note(summary["figures"], f"{name}/{flavour}/{client}")
                peer = _status_note(summary["figures"], f"{name}/{flavour}/{PEER[client]}")
                if mine == "n/a":
                    text = ""
                elif mine.startswith("not"):
                    text = "not supported yet"
                elif mine.startswith("failed"):
                    text = "failed"
                elif peer.startswith("failed"):
                    text = "official failed"
                else:
                    text = ""
                if text:
                    ax.text(
                        x,
                        ymin * 1.15,
                        text,
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color=color,
                    )
        ax.bar(
            xs,
            heights,
            width,
            label=label,
            color=color,
            yerr=[lows, highs],
            capsize=2,
            error_kw={"elinewidth": 0.8},
        )
    for g, (_name, _flavour, target) in enumerate(groups):
        if target is not None:
            ax.hlines(
                target,
                g - 1.5 * width,
                g + 1.5 * width,
                colors="black",
                linestyles="dashed",
                linewidth=1.2,
            )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylim(ymin, ymax)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{n}\n{FLAVOUR_LABEL[f]}" for n, f, _t in groups], fontsize=8)
    ax.set_ylabel("throughput ratio, this project ÷ official (log)")
    ax.set_title(
        f"connect-python vs connectrpc {meta['versions'].get('connectrpc', '')}, "
        f"connect-go server, {meta['mode']} run, median of {meta['rounds']} rounds "
        "(dashed: target)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _finite(value: Any) -> Any:
    """NaN is not JSON: write null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_outputs(document: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(document), indent=1, allow_nan=False)
    (out_dir / "results.json").write_text(text + "\n")
    (out_dir / "results.md").write_text(render_markdown(document))
    write_chart(document, out_dir / "ratios.png")
