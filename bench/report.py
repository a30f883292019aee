"""Results: ``results.json`` (everything), ``results.md`` (the tables) and ``chart.png``.

A run that did only some stages keeps the other stages' sections of the previous
``results.json``, so the files always describe the latest run of every stage.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .service import VARIED, VARIED_NAME

RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("core", "graphql", "bulk")


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def merge(out_dir: Path, fresh: dict[str, Any]) -> dict[str, Any]:
    path = out_dir / "results.json"
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            merged = {}
    merged.update(fresh)
    merged["generated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    merged["machine"] = machine()
    return merged


def write(out_dir: Path, results: dict[str, Any]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(json_path)
    md_path = out_dir / "results.md"
    md_path.write_text(markdown(results), encoding="utf-8")
    written = [json_path, md_path]
    chart_path = out_dir / "chart.png"
    if chart(results, chart_path):
        written.append(chart_path)
    return written


# --- Markdown ------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Benchmark results", ""]
    m = results.get("machine", {})
    lines += [
        f"Generated {results.get('generated_at', '?')} by `./run bench` on Python "
        f"{m.get('python', '?')}, {m.get('platform', '?')}, {m.get('cpus', '?')} CPUs. "
        "Ratios are measured in the same run; absolute times depend on the machine.",
        "",
    ]
    core = results.get("core")
    if core:
        lines += _core_markdown(core)
    for stage, title in (("graphql", "GraphQL under load"), ("bulk", "Bulk membership")):
        section = results.get(stage)
        lines += [f"## {title}", ""]
        if not section:
            lines += ["Not run yet.", ""]
        elif section.get("status") == "skipped":
            lines += [f"Skipped: {section['reason']}.", ""]
        elif stage == "graphql":
            lines += _graphql_markdown(section)
        else:
            lines += _bulk_markdown(section)
    return "\n".join(lines).rstrip() + "\n"


def _graphql_markdown(section: dict[str, Any]) -> list[str]:
    load, server = section["load"], section["server"]
    lines = [
        f"{server['command']}, event loop {server['loop']}, HTTP parser {server['http']}; load "
        f"from {load['client']}: {load['connections']} keep-alive connections, each sending "
        f"its next request when the last is answered, {load['warmup']:g} s of warm-up then "
        f"{load['seconds']:g} s measured per query"
        + (
            f", in {load['rounds']} turns of {load['seconds'] / load['rounds']:g} s: a server's "
            "queries take turns, so that a drift in the machine's speed falls on all of them "
            "alike."
            if load.get("rounds", 1) > 1
            else "."
        ),
        "",
        *_rows_markdown(section),
    ]
    ok = "met" if section["meets_target"] else "NOT met"
    lines += [f"Target: {section['target']}: {ok}.", ""]
    by_query = {row["query"]: row for row in section.get("detail", [])}
    varied = by_query.get(VARIED_NAME)
    one = by_query.get("subscriber { segments } over 20 segments")
    if varied is not None and one is not None and "p50_vs_trivial" in varied:
        lines += [
            "The same question about a different subscriber each request (the first "
            f"{VARIED:,} subscribers by id, each connection going through them from its own "
            "place, so that no two requests at once ask about the same one) takes "
            f"{varied['p50_vs_trivial']:.2f}× the trivial query's p50, against "
            f"{one['p50_vs_trivial']:.2f}× with one subscriber asked again and again. Requests "
            "asking at once share one provider call whoever they ask about, but each "
            "subscriber in it is read and derived on its own, where the one subscriber's "
            "values serve every request of the call.",
            "",
        ]
    lines += _costs_markdown(section, by_query)
    if "memory_provider_ratio" in section:
        billing = by_query["subscriber { segments } over 20 segments"]
        memory = by_query["subscriber { segments } over 20 segments, in-memory provider"]
        lines += [
            "The in-memory provider rows come from a second server over the same database "
            "whose only provider answers the same billing keys from memory "
            "(`bench/memory_server.py`; no custom-properties provider either, so its trivial "
            "query makes no database read), "
            "each ratio against that server's own trivial query. There `subscriber { segments }` "
            f"takes {memory['p50_ms']:.2f} ms at p50 against {billing['p50_ms']:.2f} ms with "
            "the billing provider: the difference is the billing provider's database reads; "
            "what remains is seggraph's own work (GraphQL, one read of the segments' write "
            "token, evaluating the 20 segments).",
            "",
        ]
    if "floor_ratio" in section:
        floor = by_query["subscriber { segments } over 20 segments, evaluation answers kept"]
        lines += [
            "The rows with the evaluation's answers kept come from a third server over the "
            "same database, the same application with the evaluation's answers kept after the "
            "first request (`bench/floor_server.py`): its `subscriber { segments }` reads no "
            "segment, calls no provider and evaluates nothing, and still takes "
            f"{floor['p50_vs_trivial']:.2f}× its trivial query at p50 "
            f"({floor['rps_vs_trivial']:.2f}× in requests per second). That is the cost of the "
            "request's shape alone (HTTP, two GraphQL fields with arguments, a list of 20 "
            "results) in this stack, the floor under the target's ratio: "
            + (
                f"the target leaves {1.5 - floor['p50_vs_trivial']:.2f}× of a trivial request "
                "for everything that answers the question (the segments' freshness read, the "
                "providers' reads, evaluating the 20 segments)."
                if floor["p50_vs_trivial"] < 1.5
                else "above the target before anything answers the question."
            ),
            "",
        ]
    return lines


def _costs_markdown(section: dict[str, Any], by_query: dict[str, Any]) -> list[str]:
    """The table of what each request cost by process (``bench.accounting``), and what the
    target leaves of the server's CPU against what the database operations alone take."""
    rows = [row for row in section.get("detail", []) if "cost" in row]
    if not rows:
        return []
    lines = [
        "What a request cost, by process (`bench/accounting.py`): CPU over each query's turns "
        "divided by the requests answered in them (warm-up included), from `/proc`; database "
        "operations from the database's `serverStatus` counters. The server is one process, "
        "so its CPU per request is what its latency under this load follows; the database "
        "and the load generator share the machine's cores with it.",
        "",
        "| query | server CPU µs / request | server CPU × trivial | database CPU µs / request "
        "| load generator CPU µs / request | database operations / request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cost = row["cost"]
        lines.append(
            f"| {row['query']} | {cost['server_cpu_us']:,.0f} | "
            f"{cost['server_cpu_vs_trivial']:.2f} | {cost['database_cpu_us']:,.0f} | "
            f"{cost['client_cpu_us']:,.0f} | {cost['database_operations']:.2f} |"
        )
    lines.append("")
    operation = section.get("client_cpu_per_operation_us")
    trivial = by_query.get("trivial query (baseline)", {}).get("cost")
    subscriber = by_query.get("subscriber { segments } over 20 segments", {}).get("cost")
    if operation and trivial and subscriber:
        extra_ops = subscriber["database_operations"] - trivial["database_operations"]
        allowed = 0.5 * trivial["server_cpu_us"]
        probed = section.get("client_cpu_probe_operations", 2000)  # results before it was kept
        lines += [
            f"PyMongo's async client spends {operation:,.0f} µs of CPU on the least database "
            f"operation (a `find_one` by `_id`, {probed:,} "
            "in a loop in the bench process, this run). "
            f"`subscriber {{ segments }}` makes {extra_ops:.2f} operations a request more than "
            "the trivial query (concurrent requests share some reads), so at least "
            f"{extra_ops * operation:,.0f} µs of its server's CPU go to the database client "
            f"alone; it spends {subscriber['server_cpu_us'] - trivial['server_cpu_us']:,.0f} "
            "µs more than the trivial query in all, where 1.5× the trivial query's "
            f"{trivial['server_cpu_us']:,.0f} µs would leave {allowed:,.0f} µs.",
            "",
        ]
    return lines


def _bulk_markdown(section: dict[str, Any]) -> list[str]:
    segments = section["segments"]
    return [
        f"{section['subscribers']:,} subscribers imported into the billing provider "
        f"({section['import_seconds']:.0f} s), with support tickets. Segments:",
        "",
        f"- billing: `{segments['billing']}`",
        f"- support ticket tags: `{segments['tags']}`",
        *(
            [f"- both ticket tags (fewer candidates): `{segments['both tags']}`"]
            if "both tags" in segments
            else []
        ),
        "",
        "`expected` is the count the bench derives from the data it generated; `agrees` "
        "compares it with the service's answer.",
        "",
        *_rows_markdown(section),
    ]


def _core_markdown(core: dict[str, Any]) -> list[str]:
    config = core["config"]
    summary = core["summary"]
    answers = core["seggraph_answers"]
    lines = [
        "## The evaluation core against peer engines",
        "",
        f"{config['subscribers']:,} synthetic subscribers (seed {config['seed']}), one segment:",
        "",
        f"    {core['segment']}",
        "",
        f"Timing: {config['timing']}; {config['repeats']} rounds (a fast engine takes several "
        "passes a round; a slow one stops after its time budget).",
        "",
        "| engine | kind | µs / subscriber | × hand-written predicate | members | "
        "disagreements with seggraph | passes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in core["engines"]:
        lines.append(
            f"| {row['name']} ({row['package']}) | {row['kind']} | "
            f"{_fmt(row['us_per_subscriber'], 3)} | {_fmt(row['ratio_to_predicate'])} | "
            f"{row['members']:,} | {row['disagreements_with_seggraph']:,} | {row['passes']} |"
        )
    truth = answers["truth"]
    lines += [
        "",
        f"seggraph's answers: {truth.get('TRUE', 0):,} TRUE, {truth.get('FALSE', 0):,} FALSE, "
        f"{truth.get('UNKNOWN', 0):,} UNKNOWN ("
        + ", ".join(f"{count:,} {cause}" for cause, count in answers["unknown_causes"].items())
        + "); only TRUE is a member.",
        "",
        "**Targets** (issue 7):",
        "",
    ]
    if "seggraph_speedup_vs_fastest_pure_python_peer" in summary:
        ok = "met" if summary["meets_peer_target"] else "NOT met"
        lines.append(
            f"- seggraph is {_fmt(summary['seggraph_speedup_vs_fastest_pure_python_peer'])}× "
            f"faster than the fastest pure-Python peer ({summary['fastest_pure_python_peer']}); "
            f"target ≥ {_fmt(summary['target_speedup'], 0)}×: {ok}."
        )
    ok = "met" if summary["meets_predicate_target"] else "NOT met"
    lines.append(
        f"- seggraph takes {_fmt(summary['seggraph_vs_predicate'])}× the hand-written "
        f"predicate's time; target ≤ {_fmt(summary['target_vs_predicate'], 0)}×: {ok}."
    )
    if "seggraph_speedup_vs_native_peer" in summary:
        lines.append(
            f"- Against {summary['native_peer']} (Rust behind ctypes and JSON): seggraph is "
            f"{_fmt(summary['seggraph_speedup_vs_native_peer'])}× faster."
        )
    agree = (
        "Every engine agrees with seggraph on every subscriber."
        if summary["counts_agree"]
        else "Some engines disagree with seggraph: see the table and results.json."
    )
    lines += ["", agree, "", "**How each peer expresses the segment, and where it differs:**", ""]
    for row in core["engines"]:
        lines.append(f"- **{row['name']}**: {row['expression']}.")
        for difference in row["differences"]:
            lines.append(f"  - {difference}")
    for skipped in core.get("skipped_peers", []):
        lines.append(f"- **{skipped['peer']}**: not run ({skipped['reason']}).")
    lines.append("")
    return lines


def _rows_markdown(section: dict[str, Any]) -> list[str]:
    rows = section.get("rows", [])
    if not rows:
        return ["No rows.", ""]
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [
            _fmt(value)
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int) and not isinstance(value, bool)
            else str(value)
            for value in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


# --- chart ---------------------------------------------------------------------------------------

_COLOURS = {
    "seggraph": "#1b7f3b",
    "baseline": "#7a7a7a",
    "peer, pure Python": "#3b6fb6",
    "peer, Rust via FFI": "#c2682b",
}


def chart(results: dict[str, Any], path: Path) -> bool:
    """A horizontal bar per engine (µs per subscriber, log scale), labelled with the time and
    the ratio to the hand-written predicate. ``False`` when matplotlib is missing."""
    core = results.get("core")
    if not core:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        print("chart: matplotlib is not installed (pip install -e '.[bench]'); no chart")
        return False
    rows = sorted(core["engines"], key=lambda row: row["us_per_subscriber"], reverse=True)
    names = [row["name"] for row in rows]
    values = [row["us_per_subscriber"] for row in rows]
    colours = [_COLOURS.get(row["kind"], "#999999") for row in rows]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.8), dpi=120)
    bars = ax.barh(names, values, color=colours)
    ax.set_xscale("log")
    ax.set_xlim(min(values) / 1.5, max(values) * 8)
    ax.set_xlabel("µs per subscriber (log scale; lower is faster)")
    subscribers = core["config"]["subscribers"]
    ax.set_title(
        f"One segment over {subscribers:,} subscribers: time per subscriber\n"
        "(label: µs, and × the hand-written Python predicate measured in the same run)",
        fontsize=11,
    )
    for bar, row in zip(bars, rows, strict=True):
        ax.text(
            bar.get_width() * 1.08,
            bar.get_y() + bar.get_height() / 2,
            f"{row['us_per_subscriber']:.2f} µs  ({row['ratio_to_predicate']:.1f}×)",
            va="center",
            fontsize=9,
        )
    ax.legend(
        handles=[Patch(color=colour, label=kind) for kind, colour in _COLOURS.items()],
        loc="upper right",
        fontsize=8,
        frameon=False,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
