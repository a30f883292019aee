"""Stages 2 and 3: the GraphQL service under load, and bulk membership.

Both need queries that are still being built (issue 7 parts 2 and 3):

- stage 2 (``graphql``) needs ``subscriber(id) { segments { ... } }``;
- stage 3 (``bulk``) needs a segment's member count.

Each stage looks for its query in ``schema.graphql`` (the committed SDL, kept in step with the
code by ``seggraph export-schema``) and, until it is there, is skipped with the reason printed
and recorded in the results. When the query appears, plug the stage in at the marked places
below: the harness around it (results, report, chart) already takes its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, build_schema, get_named_type

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
        f"{count} is in the schema" if count
        else "schema.graphql has no segment member count yet (a Query or Segment field named "
        "like memberCount, or a members connection with totalCount)"
    )
    return Capabilities(subscriber_ok, subscriber_reason, count, count_reason)


def skipped(stage: str, reason: str) -> dict[str, Any]:
    print(f"{stage}: SKIPPED — {reason}")
    return {"status": "skipped", "reason": reason}


def run_graphql(found: Capabilities) -> dict[str, Any]:
    """Stage 2: uvicorn (uvloop, httptools) serving seggraph in one process, a load generator in
    another; a trivial query as the baseline, ``subscriber { segments }`` over 20 segments, and
    a page of 100 segments; requests per second, p50 and p99, each as a ratio to the baseline.
    """
    if not found.subscriber_segments:
        return skipped("graphql", f"{found.subscriber_reason}; issue 7 part 2 waits for it")
    # PLUG IN (issue 7 part 2): seed 20 segments and the subscribers' provider data, start
    # `uvicorn --loop uvloop --http httptools` on 127.0.0.1, drive the three queries from a
    # separate process, and return {"status": "ok", "queries": [...rows...]}. Until then the
    # stage says plainly that it did not run.
    return skipped(
        "graphql", "Query.subscriber(id) { segments } exists but the load stage is not written yet"
    )


def run_bulk(found: Capabilities) -> dict[str, Any]:
    """Stage 3: the member count of the benchmark segment over 100,000 subscribers, pushed down
    to the database and evaluated in-process."""
    if found.member_count is None:
        return skipped("bulk", f"{found.member_count_reason}; issue 7 part 3 waits for it")
    # PLUG IN (issue 7 part 3): load the 100,000 subscribers into the providers' collections,
    # ask the member count both ways, check that both equal the core stage's member count, and
    # return {"status": "ok", "rows": [...]}.
    return skipped("bulk", f"{found.member_count} exists but the bulk stage is not written yet")
