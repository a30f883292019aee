"""``python -m bench`` (or ``./run bench``): every benchmark of issue 7, in one command.

Stages:

1. ``core``: the evaluation core against peer engines on 100,000 synthetic subscribers;
2. ``graphql``: the GraphQL service under load: a trivial query, ``subscriber { segments }``
   over 20 segments, a page of 100 segments (skipped, with the reason, when the schema lacks
   ``subscriber(id) { segments }``);
3. ``bulk``: member counts over the subscribers, pushed down and evaluated in-process (skipped
   when the schema has no member count).

Results go to ``bench/results/``: ``results.json``, ``results.md`` and ``chart.png``.
``--profile`` also writes a pyinstrument profile of the core's hot path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import core, report, service


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="seggraph's benchmarks (issue 7); see bench/README.md"
    )
    parser.add_argument(
        "--stages",
        default=",".join(report.STAGES),
        help="comma-separated stages to run: core, graphql, bulk (default: all)",
    )
    parser.add_argument(
        "-n",
        "--subscribers",
        type=int,
        default=100_000,
        help="synthetic subscribers for the core stage (default: 100000)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="passes per engine; the best counts (default: 5)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="stop repeating an engine after this many seconds of passes (default: 30)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated peers to run (e.g. growthbook,unleash); seggraph and the "
        "predicate always run",
    )
    parser.add_argument(
        "--service-subscribers",
        type=int,
        default=100_000,
        help="subscribers imported for the graphql and bulk stages (default: 100000)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
        help="graphql stage: keep-alive connections of the load generator (default: 8)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="graphql stage: seconds of load per query, after 2 s of warm-up (default: 10)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="graphql stage: the queries take turns this many times, splitting --seconds "
        "(default: 5; 1 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 10000 subscribers and 2 rounds for the core, 2000 subscribers and "
        "3 s per query for the service; results in bench/results/quick/",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the core's hot path with pyinstrument (results/profile-core.txt)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stages = [stage.strip() for stage in args.stages.split(",") if stage.strip()]
    unknown = sorted(set(stages) - set(report.STAGES))
    if unknown:
        print(f"unknown stage(s): {', '.join(unknown)}; choose from {', '.join(report.STAGES)}")
        return 2
    out_dir: Path = args.out or (report.RESULTS / "quick" if args.quick else report.RESULTS)
    config = core.Config(
        subscribers=10_000 if args.quick else args.subscribers,
        repeats=2 if args.quick else args.repeats,
        budget_seconds=args.budget,
        only=tuple(name.strip() for name in args.only.split(",") if name.strip()),
    )
    fresh: dict[str, Any] = {}
    if "core" in stages:
        fresh["core"] = core.run(config)
    if "graphql" in stages or "bulk" in stages:
        service_config = service.ServiceConfig(
            subscribers=2_000 if args.quick else args.service_subscribers,
            connections=args.connections,
            seconds=3.0 if args.quick else args.seconds,
            warmup=1.0 if args.quick else 2.0,
            rounds=1 if args.quick else args.rounds,
        )
        fresh.update(service.run_service(service.capabilities(), stages, service_config))
    if args.profile:
        from . import profiling

        profiling.profile_core(out_dir, config.subscribers)
    results = report.merge(out_dir, fresh)
    for path in report.write(out_dir, results):
        print(f"wrote {path}")
    summary = results.get("core", {}).get("summary")
    if summary and "core" in stages:
        print(
            f"core: seggraph {summary['seggraph_us']:.3f} µs/subscriber = "
            f"{summary['seggraph_vs_predicate']:.2f}× the hand-written predicate"
            + (
                f", {summary['seggraph_speedup_vs_fastest_pure_python_peer']:.2f}× faster than "
                f"{summary['fastest_pure_python_peer']}"
                if "fastest_pure_python_peer" in summary
                else ""
            )
            + ("; all counts agree" if summary["counts_agree"] else "; COUNTS DISAGREE")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
