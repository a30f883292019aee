"""Stages 2 and 3: the GraphQL service under load, and bulk membership.

Both need queries of the API: stage 2 (``graphql``) ``subscriber(id) { segments { ... } }``,
stage 3 (``bulk``) a segment's member count. Each looks for its query in ``schema.graphql`` (the
committed SDL, kept in step with the code by ``seggraph export-schema``) and, when it is not
there, is skipped with the reason printed and recorded in the results.

When they run, they share one data set: the synthetic subscribers' Stripe-shaped billing
objects imported (``seggraph import billing``) into the embedded database in a throw-away
directory, support tickets posted to the support-tickets provider, and 102 segments created
through the API. Then ``seggraph serve`` (uvicorn with uvloop and httptools, one process) is
loaded from a separate process (``bench.loadgen``) with a trivial query, ``subscriber {
segments }`` over 20 segments and a page of 100 segments; and member counts are asked of a
segment the database can answer (pushed down) and of one it cannot (evaluated in-process),
and of the first again with push-down off. Every count is checked against the count the bench
derives from the data it generated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from graphql import GraphQLField, GraphQLObjectType, build_schema, get_named_type

from . import accounting, loadgen

SCHEMA = Path(__file__).resolve().parent.parent / "schema.graphql"


@dataclass(frozen=True)
class Capabilities:
    """What the schema offers the service stages, with a reason when it lacks something."""

    subscriber_segments: bool
    subscriber_reason: str
    member_count: str | None  # "Type.field" of the count, when there is one
    member_count_reason: str


def _object_fields(field: GraphQLField) -> dict[str, GraphQLField]:
    named = get_named_type(field.type)
    return dict(named.fields) if isinstance(named, GraphQLObjectType) else {}


def _find_member_count(schema: Any) -> str | None:
    """A field whose name says it counts members (``memberCount``, ``membersCount``,
    ``segmentMemberCount``…), or a ``members``-like connection with a ``totalCount``."""
    for type_name in ("Query", "Segment"):
        owner = schema.type_map.get(type_name)
        if not isinstance(owner, GraphQLObjectType):
            continue
        for name, field in owner.fields.items():
            lowered = name.casefold()
            if "member" in lowered and "count" in lowered:
                return f"{type_name}.{name}"
            if "member" in lowered and "totalCount" in _object_fields(field):
                return f"{type_name}.{name}.totalCount"
    return None


def capabilities(schema_path: Path = SCHEMA) -> Capabilities:
    if not schema_path.exists():
        reason = f"{schema_path.name} not found (run: ./run seggraph export-schema)"
        return Capabilities(False, reason, None, reason)
    schema = build_schema(schema_path.read_text(encoding="utf-8"))
    query = schema.query_type
    subscriber = query.fields.get("subscriber") if query is not None else None
    if subscriber is None:
        subscriber_ok, subscriber_reason = False, "schema.graphql has no Query.subscriber yet"
    elif "id" not in subscriber.args:
        subscriber_ok, subscriber_reason = False, "Query.subscriber takes no `id` argument"
    elif "segments" not in _object_fields(subscriber):
        subscriber_ok, subscriber_reason = False, "Query.subscriber has no `segments` field yet"
    else:
        subscriber_ok = True
        subscriber_reason = "Query.subscriber(id) { segments } is in the schema"
    count = _find_member_count(schema)
    count_reason = (
        f"{count} is in the schema"
        if count
        else "schema.graphql has no segment member count yet (a Query or Segment field named "
        "like memberCount, or a members connection with totalCount)"
    )
    return Capabilities(subscriber_ok, subscriber_reason, count, count_reason)


def skipped(stage: str, reason: str) -> dict[str, Any]:
    print(f"{stage}: SKIPPED — {reason}")
    return {"status": "skipped", "reason": reason}


@dataclass
class ServiceConfig:
    #: Subscribers in the billing provider (the directory bulk questions walk).
    subscribers: int = 100_000
    #: Load per query: keep-alive connections, measured seconds, warm-up seconds.
    connections: int = 8
    seconds: float = 10.0
    warmup: float = 2.0
    #: The queries of one server take turns this many times, each turn ``seconds / rounds``
    #: long: a drift in the shared machine's speed then falls on every query alike instead of
    #: on whichever ran during it (see ``_measure_in_turns``).
    rounds: int = 5


TICKETS_TOKEN = "bench-support-token"
#: How long the bench waits for one member count (an evaluated one walks every subscriber).
COUNT_TIMEOUT = 1200.0

TRIVIAL = "{ __typename }"
SUBSCRIBER_SEGMENTS = (
    'query($id: ID!) { subscriber(id: $id) { segments(tags: ["bench-20"], '
    "includeNonMembers: true) { segment { id } result } } }"
)
SEGMENT_PAGE = (
    '{ segments(first: 100, filter: {tags: ["bench"]}) '
    "{ totalCount nodes { id name tags version } } }"
)
CREATE = (
    "mutation($name: String!, $text: String!, $tags: [String!]!) { createSegment(input: "
    "{name: $name, conditionsText: $text, tags: $tags}) { segment { id } userErrors { message } } }"
)
COUNT = "query($id: ID!) { segment(id: $id) { memberCount { members unknown strategy } } }"
#: The row asking ``subscriber { segments }`` about a different subscriber each request, and
#: how many subscribers it goes through.
VARIED_NAME = "subscriber { segments } over 20 segments, a different subscriber each request"
VARIED = 1000


def run_service(
    found: Capabilities, stages: Sequence[str], config: ServiceConfig
) -> dict[str, dict[str, Any]]:
    """Stages 2 and 3 on one data set: the subscribers' billing objects imported into a
    throw-away embedded database, support tickets posted, segments created, then the load
    (stage 2) and the counts (stage 3)."""
    out: dict[str, dict[str, Any]] = {}
    want_graphql = "graphql" in stages
    want_bulk = "bulk" in stages
    if want_graphql and not found.subscriber_segments:
        out["graphql"] = skipped("graphql", f"{found.subscriber_reason}; issue 7 part 2 waits")
        want_graphql = False
    if want_bulk and found.member_count is None:
        out["bulk"] = skipped("bulk", f"{found.member_count_reason}; issue 7 part 3 waits")
        want_bulk = False
    if not (want_graphql or want_bulk):
        return out
    from . import server as srv
    from . import service_data as data
    from .workload import subscribers

    population = subscribers(config.subscribers)
    with tempfile.TemporaryDirectory(prefix="seggraph-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "db"
        print(f"service: importing {len(population):,} subscribers' billing objects…", flush=True)
        import_seconds = srv.import_billing(
            data_dir, data.billing_objects(population), batch_size=2000
        )
        ticket_list = data.tickets(population)
        with srv.Server(data_dir, SEGGRAPH_SUPPORT_TICKETS_TOKEN=TICKETS_TOKEN) as server:
            print(
                f"service: server on {server.url}; posting {len(ticket_list):,} tickets, "
                "creating segments…",
                flush=True,
            )
            for i in range(0, len(ticket_list), 1000):
                answer = server.client.post(
                    "/support-tickets/tickets",
                    json={"tickets": ticket_list[i : i + 1000]},
                    headers={"authorization": f"Bearer {TICKETS_TOKEN}"},
                )
                if answer.status_code != 200:
                    raise RuntimeError(f"posting tickets: {answer.status_code} {answer.text}")
            ids = _create_segments(server, data)
            if want_graphql:
                out["graphql"] = _load(server, ids, population, config)
            if want_bulk:
                expected_billing = data.expected_billing_members(population)
                expected_tags = data.expected_tag_members(ticket_list)
                expected_both = data.expected_both_tags_members(ticket_list)
                rows = [
                    _count(server, "tags", ids["tags"], expected_tags, len(population)),
                    _count(server, "both tags", ids["both tags"], expected_both, len(population)),
                    _count(server, "billing", ids["billing"], expected_billing, len(population)),
                ]
        if want_bulk:
            with srv.Server(data_dir, SEGGRAPH_PUSHDOWN="false") as server:
                rows.append(
                    _count(
                        server, "tags", ids["tags"], expected_tags, len(population), pushdown=False
                    )
                )
            out["bulk"] = {
                "status": "ok",
                "subscribers": len(population),
                "import_seconds": import_seconds,
                "segments": {
                    "billing": data.BILLING_SEGMENT,
                    "tags": data.TAGS_SEGMENT,
                    "both tags": data.BOTH_TAGS_SEGMENT,
                },
                "rows": rows,
            }
            for row in rows:
                print(
                    f"bulk: {row['segment']}: {row['members']} members ({row['strategy']}, "
                    f"{row['seconds']:.2f} s, expected {row['expected']:,})"
                    + (f" — {row['error']}" if row["error"] else "")
                )
    return out


def _create_segments(server: Any, data: Any) -> dict[str, str]:
    def create(name: str, text: str, tags: list[str]) -> str:
        payload = server.graphql(CREATE, {"name": name, "text": text, "tags": tags})
        result = payload["createSegment"]
        if result["userErrors"]:
            raise RuntimeError(f"createSegment {name}: {result['userErrors']}")
        segment_id: str = result["segment"]["id"]
        return segment_id

    ids = {
        "billing": create("Bench high value (billing)", data.BILLING_SEGMENT, ["bench-bulk"]),
        "tags": create("Bench ticket tags", data.TAGS_SEGMENT, ["bench-bulk"]),
        "both tags": create("Bench both ticket tags", data.BOTH_TAGS_SEGMENT, ["bench-bulk"]),
    }
    for name, text, tags in data.page_segments(100):
        create(name, text, tags)
    return ids


def _load(
    server: Any, ids: dict[str, str], population: Sequence[Any], config: ServiceConfig
) -> dict[str, Any]:
    from .server import loop_and_parser
    from .service_data import expected_billing_members

    member = min(expected_billing_members(population))  # a subscriber in many segments
    # The same question about a different subscriber each request (every connection at its
    # own place in the list): no two requests at once read the same subscriber's values.
    everyone = [{"id": s.id} for s in sorted(population, key=lambda s: s.id)[:VARIED]]
    queries: list[tuple[str, str, dict[str, Any] | list[dict[str, Any]]]] = [
        ("trivial query (baseline)", TRIVIAL, {}),
        ("subscriber { segments } over 20 segments", SUBSCRIBER_SEGMENTS, {"id": member}),
        ("a page of 100 segments", SEGMENT_PAGE, {}),
        (VARIED_NAME, SUBSCRIBER_SEGMENTS, everyone),
    ]
    # Check each answer once before loading the server with it.
    answer = server.graphql(SUBSCRIBER_SEGMENTS, {"id": member})
    if len(answer["subscriber"]["segments"]) != 20:
        raise RuntimeError(f"expected 20 segment results, got {answer}")
    page = server.graphql(SEGMENT_PAGE)
    if len(page["segments"]["nodes"]) != 100:
        raise RuntimeError(f"expected a page of 100 segments, got {len(page['segments']['nodes'])}")
    database = _Database.of(server)
    assert server.process is not None
    try:
        with tempfile.TemporaryDirectory(prefix="seggraph-load-") as tmp:
            meter = database.meter(server.process.pid)
            rows = _measure_in_turns(server.url, queries, config, Path(tmp), meter)
            memory = _memory_rows(database, member, population, config, Path(tmp))
            floor = _floor_rows(database, member, config, Path(tmp))
        operation_us = accounting.client_cpu_per_operation(database.uri)
    finally:
        database.close()
    table = _with_ratios(rows) + _with_ratios(memory) + _with_ratios(floor)
    subscriber, memory_subscriber, floor_subscriber = rows[1], memory[1], floor[1]
    return {
        "status": "ok",
        "server": {"command": "seggraph serve (uvicorn, one process)", **loop_and_parser()},
        "load": {
            "connections": config.connections,
            "seconds": config.seconds,
            "warmup": config.warmup,
            "rounds": config.rounds,
            "client": "python -m bench.loadgen, its own process",
        },
        "target": "subscriber { segments } over 20 segments at most 1.5× the trivial query's "
        "latency",
        "meets_target": subscriber["p50_vs_trivial"] <= 1.5,
        "memory_provider_ratio": memory_subscriber["p50_vs_trivial"],
        "floor_ratio": floor_subscriber["p50_vs_trivial"],
        "client_cpu_per_operation_us": operation_us,
        "client_cpu_probe_operations": accounting.PROBE_OPERATIONS,
        "detail": rows + memory + floor,
        "rows": table,
    }


def _with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's figures as ratios to the first row's (its server's trivial query); the
    table rows for results.md."""
    base = rows[0]
    table = []
    for row in rows:
        row["p50_vs_trivial"] = row["p50_ms"] / base["p50_ms"]
        row["p99_vs_trivial"] = row["p99_ms"] / base["p99_ms"]
        row["rps_vs_trivial"] = row["rps"] / base["rps"]
        if "cost" in row and "cost" in base:
            row["cost"]["server_cpu_vs_trivial"] = (
                row["cost"]["server_cpu_us"] / base["cost"]["server_cpu_us"]
            )
        table.append(
            {
                "query": row["query"],
                "requests/s": row["rps"],
                "p50 ms": row["p50_ms"],
                "p99 ms": row["p99_ms"],
                "p50 × trivial": row["p50_vs_trivial"],
                "p99 × trivial": row["p99_vs_trivial"],
                "requests/s × trivial": row["rps_vs_trivial"],
            }
        )
        print(
            f"graphql: {row['query']}: {row['rps']:,.0f} req/s, p50 {row['p50_ms']:.2f} ms, "
            f"p99 {row['p99_ms']:.2f} ms ({row['p50_vs_trivial']:.2f}× its trivial p50)"
        )
    return table


def _measure_in_turns(
    url: str,
    queries: Sequence[tuple[str, str, dict[str, Any] | list[dict[str, Any]]]],
    config: ServiceConfig,
    tmp: Path,
    meter: accounting.Meter | None,
) -> list[dict[str, Any]]:
    """Each query under the load generator (its own process), the queries taking turns
    ``config.rounds`` times for ``seconds / rounds`` each; a query's figures come from the
    latencies of all its turns together, and (with a ``meter``) its cost per request from all
    its turns' CPU and database operations (``bench.accounting``). Run one after the other
    for the whole time, the trivial query and ``subscriber { segments }`` met different
    moments of a machine whose speed drifts by a quarter, and the same code measured 4.0× in
    one run and 5.6× in the next.
    """
    rounds = max(1, config.rounds)
    turn = config.seconds / rounds
    latencies: dict[str, list[float]] = {name: [] for name, _, _ in queries}
    costs = {name: accounting.Cost() for name, _, _ in queries}
    for round_number in range(rounds):
        for name, query, variables in queries:
            # The first turn warms the server's caches for the query; later turns only let the
            # connections settle.
            warmup = config.warmup if round_number == 0 else min(config.warmup, 0.5)
            if meter is not None:
                meter.start()
            result, measured = _measure(url, name, query, variables, config, tmp, turn, warmup)
            latencies[name] += measured
            if meter is not None:
                costs[name].add(meter.stop(result["answered"], result["cpu_seconds"]))
    return [
        {
            "query": name,
            "connections": config.connections,
            "seconds": config.seconds,
            "rounds": rounds,
            "errors": 0,
            **loadgen.summary(latencies[name], turn * rounds),
            **({"cost": costs[name].per_request()} if meter is not None else {}),
        }
        for name, _, _ in queries
    ]


def _measure(
    url: str,
    name: str,
    query: str,
    variables: dict[str, Any] | list[dict[str, Any]],
    config: ServiceConfig,
    tmp: Path,
    seconds: float,
    warmup: float,
) -> tuple[dict[str, Any], list[float]]:
    """One turn of one query under the load generator: the load generator's answer (its
    whole run's answers and CPU among it) and the turn's latencies (seconds)."""
    body = tmp / "body.json"
    each = variables if isinstance(variables, list) else [variables]
    body.write_bytes(b"\n".join(orjson.dumps({"query": query, "variables": v}) for v in each))
    measured = tmp / "latencies.bin"
    print(f"graphql: {name}: {config.connections} connections, {seconds:g} s…", flush=True)
    done = subprocess.run(
        loadgen.command(
            url,
            body,
            connections=config.connections,
            seconds=seconds,
            warmup=warmup,
            latencies=measured,
        ),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"{name}: {result['errors']} errors, e.g. {result['first_error']}")
    return result, loadgen.read_latencies(measured)


@dataclass
class _Database:
    """The embedded database the bench server runs: where the second servers reach it, and
    (where ``bench.accounting`` can read processes) what meters a server's turns over it."""

    data_dir: Path
    uri: str
    pid: int
    operations: accounting.OperationCounter | None

    @classmethod
    def of(cls, server: Any) -> _Database:
        from seggraph.embedded import running_uri, runtime_file

        data_dir = Path(server.env["SEGGRAPH_DATA_DIR"])
        uri = running_uri(data_dir)
        if uri is None:
            raise RuntimeError("the bench server's embedded database is not running")
        pid = int(json.loads(runtime_file(data_dir).read_text())["pid"])
        counter = accounting.OperationCounter(uri) if accounting.available() else None
        return cls(data_dir, uri, pid, counter)

    def meter(self, server_pid: int) -> accounting.Meter | None:
        if self.operations is None:
            return None
        return accounting.Meter(server_pid, self.pid, self.operations)

    def close(self) -> None:
        if self.operations is not None:
            self.operations.close()


def _memory_rows(
    database: _Database, member: str, population: Sequence[Any], config: ServiceConfig, tmp: Path
) -> list[dict[str, Any]]:
    """The trivial query and ``subscriber { segments }`` on a second server over the same
    database whose only provider answers the billing keys from memory (``bench.memory_server``):
    seggraph's own cost, without the providers' database reads."""
    return _rows_on_second_server(
        database,
        member,
        config,
        tmp,
        ["bench.memory_server", "--subscribers", str(len(population))],
        "in-memory provider",
    )


def _floor_rows(
    database: _Database, member: str, config: ServiceConfig, tmp: Path
) -> list[dict[str, Any]]:
    """The trivial query and ``subscriber { segments }`` on a server over the same database
    whose evaluation answers are kept after the first request (``bench.floor_server``): what a
    request of that shape costs with no evaluation at all, the floor under the target."""
    return _rows_on_second_server(
        database, member, config, tmp, ["bench.floor_server"], "evaluation answers kept"
    )


def _rows_on_second_server(
    database: _Database,
    member: str,
    config: ServiceConfig,
    tmp: Path,
    module: list[str],
    label: str,
) -> list[dict[str, Any]]:
    """The trivial query and ``subscriber { segments }`` on ``python -m <module…>`` serving the
    bench server's database; the rows are named with ``label``."""
    from . import server as srv

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", *module, "--port", str(port), "--mongodb-uri", database.uri]

    with srv.Server(database.data_dir, command=command, name=f"the server with {label}") as second:
        answer = second.graphql(SUBSCRIBER_SEGMENTS, {"id": member})
        if len(answer["subscriber"]["segments"]) != 20:
            raise RuntimeError(f"{label}: expected 20 segment results, got {answer}")
        queries = [
            (f"trivial query, {label}", TRIVIAL, {}),
            (
                f"subscriber {{ segments }} over 20 segments, {label}",
                SUBSCRIBER_SEGMENTS,
                {"id": member},
            ),
        ]
        assert second.process is not None
        meter = database.meter(second.process.pid)
        return _measure_in_turns(second.url, queries, config, tmp, meter)


def _count(
    server: Any,
    segment: str,
    segment_id: str,
    expected: set[str],
    directory: int,
    *,
    pushdown: bool = True,
) -> dict[str, Any]:
    settings = "defaults" if pushdown else "SEGGRAPH_PUSHDOWN=false"
    print(f"bulk: counting {segment} ({settings})…", flush=True)
    started = time.perf_counter()
    try:
        answer = server.graphql(COUNT, {"id": segment_id}, timeout=COUNT_TIMEOUT)
        answer = answer["segment"]["memberCount"]
        failure = None
    except RuntimeError as exc:
        answer = {"members": "-", "unknown": "-", "strategy": "failed"}
        failure = str(exc).split("'message': '")[-1].split("'")[0][:120]
    except httpx.TimeoutException:
        answer = {"members": "-", "unknown": "-", "strategy": "failed"}
        failure = f"no answer within {COUNT_TIMEOUT:g} s (the bench stopped waiting)"
    seconds = time.perf_counter() - started
    row = {
        "segment": segment,
        "settings": settings,
        "strategy": answer["strategy"],
        "members": answer["members"],
        "unknown": answer["unknown"],
        "expected": len(expected),
        "agrees": answer["members"] == len(expected),
        "seconds": seconds,
        "µs per subscriber": seconds / directory * 1e6,
    }
    row["error"] = failure or ""
    return row
