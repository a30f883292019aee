"""Two revisions of seggraph under the same load, taking turns in short bursts:

    python -m bench.compare BASE [NEW] [--pairs 12] [--seconds 1.5] [--subscribers 2000]

A small change cannot be seen by running the bench twice: this shared machine's speed drifts
by a quarter between runs, more than most changes are worth. Here both revisions serve at the
same time, on one embedded database holding the stage-2 data set (``--subscribers``
subscribers, the 102 bench segments), and the load generator (``bench.loadgen``, 8
connections) alternates between them in bursts of ``--seconds``, swapping which goes first at
each pair. Each query's answer is the ratio of requests per second, NEW over BASE, per pair:
its median and how many pairs NEW won. A burst next to its pair sees the same machine. Beside
it, each server's CPU per request (from ``/proc``, over each burst), which the load
generator's and the database's share of the two cores move less than the rate.

``BASE`` and ``NEW`` are git revisions (``NEW`` defaults to the working tree, uncommitted
changes included); each is checked out into a temporary worktree and served with its ``src``
and ``plugins/*/src`` first on ``PYTHONPATH``, with this environment's installed packages.
Revisions whose dependencies differ from the installed ones cannot be compared this way.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson

from . import loadgen
from . import server as srv
from . import service_data as data
from .accounting import cpu_seconds
from .service import SEGMENT_PAGE, SUBSCRIBER_SEGMENTS, TRIVIAL, _create_segments
from .workload import subscribers

WORKING_TREE = "working tree"


@contextmanager
def checkout(revision: str, into: Path) -> Iterator[Path]:
    """The source tree of ``revision`` (the repository itself for the working tree)."""
    if revision == WORKING_TREE:
        yield srv.ROOT
        return
    git = ["git", "-C", str(srv.ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", "-q", str(into), revision], check=True)
    try:
        yield into
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(into)], check=False)


def python_path(tree: Path) -> str:
    return ":".join([str(tree / "src"), *sorted(str(p) for p in tree.glob("plugins/*/src"))])


#: Seconds of each burst's warm-up (not counted in its requests per second).
WARMUP = 0.5


def burst(server: srv.Server, body: Path, seconds: float) -> tuple[float, float]:
    """Requests per second of one burst of the load generator, and the server's CPU per
    request (µs; over the warm-up too, whose requests are estimated at the burst's rate)."""
    assert server.process is not None
    before = cpu_seconds(server.process.pid)
    answer = subprocess.run(
        loadgen.command(server.url, body, connections=8, seconds=seconds, warmup=WARMUP),
        capture_output=True,
        text=True,
        cwd=srv.ROOT,
        check=True,
    )
    cpu = cpu_seconds(server.process.pid) - before
    rps: float = orjson.loads(answer.stdout)["rps"]
    return rps, cpu / (rps * (seconds + WARMUP)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the git revision to compare against")
    parser.add_argument("new", nargs="?", default=WORKING_TREE, help="default: the working tree")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--subscribers", type=int, default=2000)
    args = parser.parse_args()

    population = subscribers(args.subscribers)
    with tempfile.TemporaryDirectory(prefix="seggraph-compare-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        uri = stack.enter_context(
            srv.embedded_with_billing(root / "db", data.billing_objects(population))
        )
        servers: dict[str, srv.Server] = {}
        for label, revision in (("base", args.base), ("new", args.new)):
            tree = stack.enter_context(checkout(revision, root / label))
            server = srv.Server(
                root / f"{label}-unused",
                PYTHONPATH=python_path(tree),
                SEGGRAPH_MONGODB_URI=uri,
            )
            servers[label] = stack.enter_context(server)
        _create_segments(servers["base"], data)
        member = min(data.expected_billing_members(population))
        queries = {
            "trivial query": {"query": TRIVIAL},
            "subscriber { segments }": {"query": SUBSCRIBER_SEGMENTS, "variables": {"id": member}},
            "a page of 100 segments": {"query": SEGMENT_PAGE},
        }
        print(f"base: {args.base}; new: {args.new}; {args.pairs} pairs of {args.seconds:g} s")
        for name, query in queries.items():
            body = root / "body.json"
            body.write_bytes(orjson.dumps(query))
            rates: dict[str, list[float]] = {"base": [], "new": []}
            cpus: dict[str, list[float]] = {"base": [], "new": []}
            for pair in range(args.pairs):
                order = ["base", "new"] if pair % 2 == 0 else ["new", "base"]
                for label in order:
                    rate, cpu = burst(servers[label], body, args.seconds)
                    rates[label].append(rate)
                    cpus[label].append(cpu)
            ratios = [new / base for base, new in zip(rates["base"], rates["new"], strict=True)]
            cpu_ratios = [new / base for base, new in zip(cpus["base"], cpus["new"], strict=True)]
            print(
                f"{name}: base {statistics.median(rates['base']):,.0f} req/s, "
                f"new {statistics.median(rates['new']):,.0f} req/s (medians); new/base per "
                f"pair: median {statistics.median(ratios):.3f}, new higher in "
                f"{sum(r > 1 for r in ratios)} of {len(ratios)}; server CPU per request: base "
                f"{statistics.median(cpus['base']):.0f} µs, new "
                f"{statistics.median(cpus['new']):.0f} µs, new/base per pair median "
                f"{statistics.median(cpu_ratios):.3f}"
            )


if __name__ == "__main__":
    main()
