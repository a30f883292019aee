"""Load: concurrent clients editing and evaluating segments against one server.

``python -m bench.load`` (``--clients 50 --duration 60`` by default) starts everything itself on
loopback: a throw-away embedded database, one ``seggraph serve`` process with API keys on, and
a write key made by ``seggraph keys create``. It seeds a custom property with values for some
subscribers and a few segments, then runs the clients until the time is up. Each client loops:

- edits one of the seeded segments (reads its version, then ``updateSegment`` with
  ``expectedVersion``; a ``VERSION_CONFLICT`` is expected when two clients edit the same segment
  and is counted, not an error); now and then creates a segment and deletes the one it created
  before (so the number of segments stays steady);
- evaluates subscribers (``subscriber { segments }``, ``segment { evaluate }``).

At the end it checks that every acknowledged write is in the history (the entry of that version,
with the name that write gave), and that every segment's history has every version from 1 to
its current one. It reports errors (anything but a version conflict: must be 0), the request
rate, latency percentiles per kind of request, and the server's RSS sampled every second (it
must stay flat). Results: ``bench/results/load.md`` and ``load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from bench.server import Server, run_cli
from seggraph.embedded import EmbeddedDatabase

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "seggraph_load"
TIERS = ["GOLD", "SILVER", "BRONZE"]
SUBSCRIBERS = [f"cus_{i:04d}" for i in range(400)]

SEGMENT_FIELDS = "segment { id version name } userErrors { code message } currentVersion"
CREATE = (
    f"mutation($in: CreateSegmentInput!) {{ createSegment(input: $in) {{ {SEGMENT_FIELDS} }} }}"
)
UPDATE = (
    f"mutation($in: UpdateSegmentInput!) {{ updateSegment(input: $in) {{ {SEGMENT_FIELDS} }} }}"
)
VERSION = "query($id: ID!) { segment(id: $id) { version } }"
DELETE = """mutation($id: ID!) { deleteSegment(id: $id, expectedVersion: 1) {
  deletedId userErrors { code message } } }"""
SUBSCRIBER_SEGMENTS = """query($id: ID!) { subscriber(id: $id) {
  segments(includeNonMembers: true) { segment { id } result } } }"""
EVALUATE = """query($id: ID!, $sub: ID!) { segment(id: $id) {
  evaluate(subscriberId: $sub, explain: true) {
    result explanation { conditions { result } } } } }"""
CONDITIONS = [
    'custom.tier = "GOLD"',
    'custom.tier IN ("GOLD", "SILVER")',
    'custom.tier = "BRONZE" OR custom.seats > 10',
    "custom.seats BETWEEN 5 AND 20",
    'NOT custom.tier = "SILVER" AND custom.seats >= 3',
]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    acknowledged: list[tuple[str, int, str]] = field(default_factory=list)
    """(segment id, version, name) of every write the server acknowledged."""


class Client:
    def __init__(self, http: httpx.AsyncClient, tally: Tally) -> None:
        self.http = http
        self.tally = tally

    async def gql(self, kind: str, query: str, **variables: Any) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            response = await self.http.post(
                "/graphql", json={"query": query, "variables": variables}
            )
        except httpx.HTTPError as exc:
            self.tally.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.tally.latencies[kind].append(time.perf_counter() - started)
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code != 200 or body.get("errors"):
            self.tally.errors.append(f"{kind}: {response.status_code} {response.text[:300]}")
            return None
        data: dict[str, Any] = body["data"]
        return data

    def written(self, kind: str, payload: dict[str, Any]) -> None:
        errors = payload["userErrors"]
        if not errors:
            segment = payload["segment"]
            self.tally.acknowledged.append((segment["id"], segment["version"], segment["name"]))
            self.tally.outcomes[kind] += 1
        elif [e["code"] for e in errors] == ["VERSION_CONFLICT"]:
            self.tally.outcomes[kind + " conflict"] += 1
        else:
            self.tally.errors.append(f"{kind}: userErrors {errors}")


async def run_client(
    number: int,
    client: Client,
    segment_ids: list[str],
    deadline: float,
    seed: int,
    creates: float = 0.05,
) -> None:
    rng = random.Random(seed + number)
    own: list[tuple[str, str]] = []  # (id, name) of the segment this client created last
    n = 0
    while time.monotonic() < deadline:
        n += 1
        roll = rng.random()
        if roll < creates:
            # Create a segment, then delete the one this client created before: the number of
            # segments stays steady (so does the work of `subscriber { segments }`, which
            # evaluates every segment), and deletions are writes to check too.
            name = f"c{number}-{n}"
            data = await client.gql(
                "create", CREATE, **{"in": {"name": name, "conditionsText": rng.choice(CONDITIONS)}}
            )
            if data:
                client.written("create", data["createSegment"])
                if data["createSegment"]["segment"]:
                    own.append((data["createSegment"]["segment"]["id"], name))
            if len(own) > 1:
                old_id, old_name = own.pop(0)
                deleted = await client.gql("delete", DELETE, id=old_id)
                if deleted:
                    payload = deleted["deleteSegment"]
                    if payload["userErrors"]:
                        client.tally.errors.append(f"delete: userErrors {payload['userErrors']}")
                    else:
                        # the history's DELETED entry: version 2, the segment as it was
                        client.tally.acknowledged.append((old_id, 2, old_name))
                        client.tally.outcomes["delete"] += 1
        elif roll < creates + 0.40:
            segment_id = rng.choice(segment_ids)
            current = await client.gql("read version", VERSION, id=segment_id)
            if not current or not current["segment"]:
                continue
            change: dict[str, Any] = {
                "id": segment_id,
                "expectedVersion": current["segment"]["version"],
                "name": f"s{number}-{n}",
            }
            if rng.random() < 0.5:
                change["conditionsText"] = rng.choice(CONDITIONS)
            data = await client.gql("update", UPDATE, **{"in": change})
            if data:
                client.written("update", data["updateSegment"])
        elif roll < creates + 0.70:
            data = await client.gql(
                "subscriber segments", SUBSCRIBER_SEGMENTS, id=rng.choice(SUBSCRIBERS)
            )
            if data:
                client.tally.outcomes["subscriber segments"] += 1
        else:
            data = await client.gql(
                "evaluate", EVALUATE, id=rng.choice(segment_ids), sub=rng.choice(SUBSCRIBERS)
            )
            if data:
                client.tally.outcomes["evaluate"] += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def sample_memory(pid: int, samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - started, rss_mb(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return cov / var * 60 if var else 0.0


def verify(uri: str, acknowledged: list[tuple[str, int, str]]) -> dict[str, Any]:
    """Every acknowledged write is in the history; every segment's versions are complete."""
    from bson import ObjectId

    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    db = client[DATABASE]
    entries = list(
        db["segment_history"].find(
            {}, {"segment_id": 1, "version": 1, "action": 1, "snapshot.name": 1}
        )
    )
    history = {(h["segment_id"], h["version"]): h["snapshot"]["name"] for h in entries}
    deleted = {h["segment_id"] for h in entries if h["action"] == "DELETED"}
    lost = [w for w in acknowledged if history.get((w[0], w[1])) != w[2]]
    gaps = []
    for segment in db["segments"].find({}, {"version": 1}):
        versions = sorted(v for (s, v) in history if s == str(segment["_id"]))
        if versions != list(range(1, segment["version"] + 1)):
            gaps.append(str(segment["_id"]))
    latest: dict[str, int] = {}
    for segment_id, version, _ in acknowledged:
        latest[segment_id] = max(latest.get(segment_id, 0), version)
    behind = [
        s
        for s, v in latest.items()
        if s not in deleted
        and ((doc := db["segments"].find_one({"_id": ObjectId(s)})) is None or doc["version"] < v)
    ]
    client.close()
    return {
        "acknowledged_writes": len(acknowledged),
        "history_entries": len(history),
        "lost_writes": len(lost),
        "segments_with_gaps": len(gaps),
        "segments_behind_an_acknowledged_version": len(behind),
    }


async def seed(http: httpx.AsyncClient, segments: int) -> list[str]:
    async def must(query: str, **variables: Any) -> dict[str, Any]:
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    for key, kind, enum_values in (("tier", "ENUM", TIERS), ("seats", "NUMBER", [])):
        await must(
            """mutation($in: CreateCustomPropertyInput!) { createCustomProperty(input: $in) {
                 userErrors { message } } }""",
            **{"in": {"key": key, "label": key, "type": kind, "enumValues": enum_values}},
        )
    rng = random.Random(7)
    values: list[dict[str, Any]] = [
        {"key": "tier", "subscriberId": s, "value": rng.choice(TIERS)} for s in SUBSCRIBERS[::2]
    ] + [{"key": "seats", "subscriberId": s, "value": rng.randint(1, 30)} for s in SUBSCRIBERS]
    await must(
        """mutation($v: [CustomPropertyValueInput!]!) { setCustomPropertyValues(values: $v) {
             written userErrors { message } } }""",
        v=values,
    )
    ids = []
    for i in range(segments):
        data = await must(
            CREATE, **{"in": {"name": f"seed {i}", "conditionsText": CONDITIONS[i % 5]}}
        )
        assert not data["createSegment"]["userErrors"], data
        ids.append(data["createSegment"]["segment"]["id"])
    return ids


async def load(url: str, key: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so no
    # request races the server closing its connection.
    limits = httpx.Limits(
        max_connections=args.clients + 10,
        max_keepalive_connections=args.clients,
        keepalive_expiry=3.0,
    )
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        segment_ids = await seed(http, args.segments)
        tally = Tally()
        samples: list[tuple[float, float]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(pid, samples, stop))
        started = time.monotonic()
        deadline = started + args.duration
        await asyncio.gather(
            *(
                run_client(i, Client(http, tally), segment_ids, deadline, args.seed, args.creates)
                for i in range(args.clients)
            )
        )
        elapsed = time.monotonic() - started
        stop.set()
        await sampler
    requests = sum(len(v) for v in tally.latencies.values())
    warm = [s for s in samples if s[0] >= min(10.0, args.duration / 3)]
    return {
        "clients": args.clients,
        "duration_setting_s": args.duration,
        "duration_s": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:10],
        "outcomes": dict(sorted(tally.outcomes.items())),
        "latency_ms": {
            kind: {
                "count": len(values),
                "p50": round(percentile(values, 0.50) * 1000, 1),
                "p95": round(percentile(values, 0.95) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
                "max": round(max(values) * 1000, 1),
            }
            for kind, values in sorted(tally.latencies.items())
        },
        "rss_mb": {
            "start": round(samples[0][1], 1),
            "after_warm_up": round(warm[0][1], 1) if warm else None,
            "max": round(max(s[1] for s in samples), 1),
            "end": round(samples[-1][1], 1),
            "slope_after_warm_up_mb_per_min": round(slope_per_minute(warm), 2),
            "samples": [(round(t, 1), round(m, 1)) for t, m in samples],
        },
        "acknowledged": tally.acknowledged,
    }


def markdown(result: dict[str, Any]) -> str:
    rss, checks = result["rss_mb"], result["verification"]
    lines = [
        "# Load: concurrent clients editing and evaluating",
        "",
        f"`python -m bench.load --clients {result['clients']} --duration "
        f"{result.get('duration_setting_s', result['duration_s']):g}`: one `seggraph serve` "
        "(API keys on, embedded database), "
        f"{result['clients']} concurrent clients over loopback, each looping over: edit a "
        "seeded segment with `expectedVersion` (40%), create a segment and delete the one it "
        "created before (5%), `subscriber { segments }` (30%), "
        "`segment { evaluate(explain: true) }` (25%).",
        "",
        f"- machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        f"- requests: {result['requests']} in {result['duration_s']} s "
        f"= **{result['requests_per_s']} requests/s**",
        f"- errors: **{result['errors']}** (anything but a version conflict)",
        f"- acknowledged writes: {checks['acknowledged_writes']}; **lost: "
        f"{checks['lost_writes']}** (each found in the history with its version and name); "
        f"segments whose history has a gap: {checks['segments_with_gaps']}; segments behind an "
        f"acknowledged version: {checks['segments_behind_an_acknowledged_version']}",
        "- outcomes: " + ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()),
        f"- server RSS: {rss['start']} MB at the start, {rss['after_warm_up']} MB after warm-up, "
        f"{rss['max']} MB at most, {rss['end']} MB at the end; slope after warm-up "
        f"**{rss['slope_after_warm_up_mb_per_min']} MB/min**",
        "",
        "| request | count | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, row in result["latency_ms"].items():
        lines.append(
            f"| {kind} | {row['count']} | {row['p50']} | {row['p95']} | {row['p99']} | "
            f"{row['max']} |"
        )
    samples = rss["samples"]
    step = max(1, len(samples) // 12)
    lines += [
        "",
        "Server RSS over the run (MB): " + ", ".join(f"{t:.0f}s {m}" for t, m in samples[::step]),
        "",
        "Version conflicts are expected (clients edit the same segments) and are not errors: "
        "the loser is told `VERSION_CONFLICT` with the current version and writes nothing.",
        "",
        f"The clients, the server and the embedded database share the machine's CPUs; with "
        f"{result['clients']} clients always waiting on an answer, a request spends about "
        f"clients / rate = {result['clients'] / result['requests_per_s']:.2f} s in the system "
        "(Little's law), which is what the medians show: latency here is queueing for CPU, the "
        "throughput is the figure to compare between runs.",
    ]
    if result["error_samples"]:
        lines += ["", "Errors (first ten):", ""] + [f"- `{e}`" for e in result["error_samples"]]
    if result.get("server_log_problems"):
        lines += ["", "Server log, errors:", ""] + [
            f"- `{line}`" for line in result["server_log_problems"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--segments", type=int, default=20, help="seeded segments (default 20)")
    parser.add_argument(
        "--creates", type=float, default=0.05, help="share of iterations that create (0.05)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="seggraph-load-") as tmp:
        database = EmbeddedDatabase(Path(tmp) / "db")
        uri = database.start()
        try:
            with Server(
                Path(tmp) / "data",
                log=Path(tmp) / "serve.log",
                SEGGRAPH_MONGODB_URI=uri,
                SEGGRAPH_DATABASE=DATABASE,
                SEGGRAPH_AUTH="true",  # keys on: writes and reads as a client makes them
            ) as server:
                key = run_cli(
                    ["keys", "create", "--mode", "test", "--role", "write", "--name", "bench-load"],
                    server.env,
                    timeout=120,
                ).strip()
                assert server.process is not None
                result = asyncio.run(load(server.url, key, server.process.pid, args))
            result["verification"] = verify(uri, result.pop("acknowledged"))
        finally:
            database.stop()
        log = (Path(tmp) / "serve.log").read_text(errors="replace").splitlines()
        result["server_log_problems"] = [
            line for line in log if "ERROR" in line or "Traceback" in line
        ][:20]

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "load.md").write_text(markdown(result))
    print(markdown(result))
    checks = result["verification"]
    ok = result["errors"] == 0 and not (
        checks["lost_writes"]
        or checks["segments_with_gaps"]
        or checks["segments_behind_an_acknowledged_version"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
