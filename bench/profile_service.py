"""Where a GraphQL request's time goes in the server, under the stage-2 load (py-spy):

    .venv/bin/python -m bench.profile_service [--subscribers 2000] [--seconds 10]

Builds a small copy of the stage-2 data set (billing objects imported, the 100 page
segments, 20 of them tagged ``bench-20``), serves it with ``seggraph serve``, and for each
stage-2 query runs the load generator while ``py-spy record`` samples the server process.
Each sample is classified by the innermost frame: waiting in the event loop (for the
database or the network), or running Python in seggraph, a provider, Strawberry/graphql-core,
PyMongo/BSON, uvicorn/Starlette, or elsewhere. Writes ``bench/results/profile-service.md``.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from . import loadgen
from . import server as srv
from . import service_data as data
from .service import SEGMENT_PAGE, SUBSCRIBER_SEGMENTS, TRIVIAL, _create_segments
from .workload import subscribers

RESULTS = Path(__file__).resolve().parent / "results" / "profile-service.md"
PY_SPY = Path(sys.executable).with_name("py-spy")

#: (label, substring of a frame's file) in order: the first match names the sample's owner.
OWNERS = (
    ("seggraph: evaluation core", "seggraph/evaluation/"),
    ("seggraph: GraphQL executor (plain fields)", "seggraph/api/execution.py"),
    ("seggraph: providers (plugins)", "seggraph_"),
    ("seggraph: API, services, store", "seggraph/"),
    ("PyMongo / BSON", "pymongo/"),
    ("PyMongo / BSON", "bson/"),
    ("Strawberry / graphql-core", "strawberry/"),
    ("Strawberry / graphql-core", "graphql/"),
    ("uvicorn / Starlette", "uvicorn/"),
    ("uvicorn / Starlette", "starlette/"),
    ("asyncio", "asyncio/"),
)
IDLE = "waiting in the event loop (database, network)"


def classify(stack: str) -> str:
    frames = stack.split(";")
    innermost = frames[-1]
    if innermost.startswith("Runner.run (") or innermost.startswith("run_forever"):
        return IDLE
    for frame in reversed(frames):
        for label, marker in OWNERS:
            if marker in frame and label != "asyncio":
                return label
    return "other Python"


def summarise(
    raw: Path,
) -> tuple[int, collections.Counter[str], collections.Counter[str], collections.Counter[str]]:
    owners: collections.Counter[str] = collections.Counter()
    seggraph_frames: collections.Counter[str] = collections.Counter()
    database_callers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        owner = classify(stack)
        owners[owner] += samples
        if owner == "PyMongo / BSON":
            ours = [f for f in stack.split(";") if "seggraph/" in f or "seggraph_" in f]
            database_callers[ours[-1] if ours else "?"] += samples
        if owner != IDLE:
            seen = set()
            for frame in stack.split(";"):
                if ("seggraph/" in frame or "seggraph_" in frame) and frame not in seen:
                    seen.add(frame)
                    seggraph_frames[frame] += samples
    return total, owners, seggraph_frames, database_callers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--keep-raw",
        type=Path,
        default=None,
        help="a directory to keep py-spy's raw (collapsed) stacks in, one file per query",
    )
    args = parser.parse_args()
    if args.keep_raw is not None:
        args.keep_raw.mkdir(parents=True, exist_ok=True)
    population = subscribers(args.subscribers)
    lines = [
        "# Where a request's time goes",
        "",
        f"`python -m bench.profile_service`: {args.subscribers:,} subscribers, the stage-2 "
        f"queries, {args.connections} connections for {args.seconds:g} s each, py-spy sampling "
        "the server at 200 Hz. A sample belongs to the innermost frame's owner; waiting in the "
        "event loop is the time the server had nothing to run (database round trips, network).",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="seggraph-profile-") as tmp:
        root = Path(tmp)
        srv.import_billing(root / "db", data.billing_objects(population))
        with srv.Server(root / "db") as server:
            _create_segments(server, data)
            member = min(data.expected_billing_members(population))
            assert server.process is not None
            for name, query, variables in (
                ("trivial query", TRIVIAL, {}),
                ("subscriber { segments } over 20 segments", SUBSCRIBER_SEGMENTS, {"id": member}),
                ("a page of 100 segments", SEGMENT_PAGE, {}),
            ):
                body = root / "body.json"
                body.write_bytes(orjson.dumps({"query": query, "variables": variables}))
                raw = root / "profile.txt"
                load = subprocess.Popen(
                    loadgen.command(
                        server.url,
                        body,
                        connections=args.connections,
                        seconds=args.seconds + 2,
                        warmup=1,
                    ),
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=Path(__file__).resolve().parent.parent,
                )
                time.sleep(1.5)
                subprocess.run(
                    [
                        str(PY_SPY),
                        "record",
                        "-r",
                        "200",
                        "-d",
                        str(int(args.seconds)),
                        "-f",
                        "raw",
                        "-o",
                        str(raw),
                        "-p",
                        str(server.process.pid),
                    ],
                    check=True,
                    capture_output=True,
                )
                out, _ = load.communicate()
                result = orjson.loads(out)
                total, owners, frames, callers = summarise(raw)
                if args.keep_raw is not None:
                    slug = "".join(c if c.isalnum() else "-" for c in name.split(" over ")[0])
                    (args.keep_raw / f"{slug.strip('-')}.txt").write_bytes(raw.read_bytes())
                print(f"{name}: {result['rps']:,.0f} req/s, {total} samples")
                lines += [
                    f"## {name}",
                    "",
                    f"{result['rps']:,.0f} requests/s, p50 {result['p50_ms']:.2f} ms; "
                    f"{total:,} samples, {total / max(result['rps'] * args.seconds, 1):.2f} "
                    "per request.",
                    "",
                    "| where | share of samples |",
                    "|---|---:|",
                    *(f"| {owner} | {n / total:.0%} |" for owner, n in owners.most_common()),
                    "",
                    "Busiest seggraph functions (share of samples with the function on the "
                    "stack, outside the event loop's wait):",
                    "",
                    *(f"- {n / total:.0%} `{frame}`" for frame, n in frames.most_common(12)),
                    "",
                    "PyMongo / BSON time by the seggraph frame that called it:",
                    "",
                    *(f"- {n / total:.0%} `{frame}`" for frame, n in callers.most_common(8)),
                    "",
                ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
