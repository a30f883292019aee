"""The size of an operation's answer, estimated before it runs (``seggraph.api.cost``): a
small document that multiplies lists (nested history, aliased ``propertyValues``) or starts
many walks over every subscriber is refused at once with ``QUERY_TOO_LARGE``, and what
frontends ask stays well within the limits."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from seggraph.api import cost
from seggraph.api.schema import schema as seggraph_schema
from seggraph.services.evaluation import EvaluationService
from tests.conftest import GraphQLClient, LiveServer
from tests.segments.conftest import SegmentClient

LIMITS = cost.CostLimits(max_objects=250_000, max_walks=5)


def estimate(document: str, variables: dict[str, Any] | None = None) -> cost.Cost:
    parsed = parse(document)
    [operation] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in parsed.definitions if d is not operation}  # type: ignore[attr-defined]
    found, _ = cost.estimate(seggraph_schema._schema, operation, fragments, variables or {})
    return found


def refusal(gql: GraphQLClient, document: str, variables: dict[str, Any] | None = None) -> str:
    answer = gql.execute(document, variables)
    assert answer["data"] is None, answer
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE", error
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    message: str = error["message"]
    return message


NESTED_HISTORY = (
    '{ segment(id: "ID") { history { segment { history { segment { history { segment '
    "{ history { version } } } } } } } } }"
)


def test_history_nested_in_history_is_refused_before_anything_is_read(
    seg: SegmentClient, gql: GraphQLClient, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 163-byte query of four nested histories asked for 13 million rows: it held the
    server for minutes, and kept on after its client hung up."""
    segment = seg.created(name="Edited")
    for version in range(1, 4):
        assert (
            seg.update(id=segment["id"], expectedVersion=version, name=f"v{version}")["userErrors"]
            == []
        )
    store = live_server.app.state.services.segments.store
    reads: list[Any] = []
    original = store.list_history

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "list_history", counted)
    message = refusal(gql, NESTED_HISTORY.replace("ID", segment["id"]))
    assert "may answer up to 102,020,201 objects" in message
    assert "where 250,000 are allowed (SEGGRAPH_MAX_QUERY_OBJECTS)" in message
    assert reads == []
    # One level of history is an ordinary question, answered.
    one = gql.query(
        "query($id: ID!) { segment(id: $id) { history { version segment { name } } } }",
        {"id": segment["id"]},
    )
    assert [v["version"] for v in one["segment"]["history"]] == [4, 3, 2, 1]


def test_aliases_multiplying_a_large_list_are_refused_with_variables_counted(
    gql: GraphQLClient,
) -> None:
    """30 aliases of propertyValues over 1,000 subscribers and 58 keys answered 118 MB and
    held the server for up to 39 s; each alias alone is within the limit."""
    ids = [f"cus_{i}" for i in range(1000)]
    keys = ["subscriber.mrr"] * 58
    fields = " ".join(
        f"a{i}: propertyValues(subscriberIds: $ids, keys: $keys) {{ values {{ key }} }}"
        for i in range(30)
    )
    document = f"query($ids: [ID!]!, $keys: [String!]!) {{ {fields} }}"
    message = refusal(gql, document, {"ids": ids, "keys": keys})
    assert "may answer up to 1,770,000 objects (the most at a0: 59,000)" in message
    # The same document with fewer subscribers is estimated again, from its own variables.
    answer = gql.query(document, {"ids": ids[:2], "keys": keys[:1]})
    assert len(answer) == 30 and len(answer["a0"]) == 2


def test_many_walks_in_one_request_are_refused(gql: GraphQLClient) -> None:
    impacts = " ".join(
        f'i{i}: segmentEditImpact(id: "x", conditionsText: "subscriber.mrr > {i}") '
        "{ userErrors { code } }"
        for i in range(6)
    )
    message = refusal(gql, f"{{ {impacts} }}")
    assert "it starts 6 walks over every subscriber" in message
    assert "where 5 are allowed (SEGGRAPH_MAX_QUERY_WALKS)" in message
    # Lists of members below each segment's history are asked segment by segment.
    members = (
        "{ segments(first: 6) { nodes { history(first: 1) { segment { members(first: 1) "
        "{ memberIds } } } } } }"
    )
    assert "it starts 6 walks" in refusal(gql, members)
    # A page of segments with their members and counts is one walk, and runs.
    page = "{ segments(first: 6) { nodes { members(first: 1) { memberIds totalCount } } } }"
    assert estimate(page).walks == 1
    assert "nodes" in gql.query(page)["segments"]


def test_the_counts_below_each_segments_history_are_a_walk_each(gql: GraphQLClient) -> None:
    """The counts (and lists of members) one request asks for together share one walk, but
    each segment's history is read on its own, so the counts of its versions are asked apart
    from the others' and walk apart: a page of segments with the counts of their versions is a
    walk per segment (it was estimated as one and walked once per segment)."""
    page = "{ segments(first: 6) { nodes { memberCount { members } } } }"
    assert estimate(page).walks == 1
    # Each page of segments is read on its own too: two aliased pages are two walks.
    pages = '{ a: segments(first: 6) { nodes { memberCount { members } } } b: segments(first: 6, filter: {tags: ["x"]}) { nodes { memberCount { members } } } }'
    assert estimate(pages).walks == 2
    versions = (
        "{ segments(first: 6) { nodes { history { segment { memberCount { members } } } } } }"
    )
    assert estimate(versions).walks == 6
    assert "it starts 6 walks" in refusal(gql, versions)
    # One segment's versions are asked together: one walk, shared with the counts beside it
    # only when they are asked at the same moment.
    one = '{ segment(id: "x") { history { segment { memberCount { members } } } } }'
    assert estimate(one).walks == 1
    both = '{ segment(id: "x") { memberCount { members } history { segment { members { totalCount } } } } }'
    assert estimate(both).walks == 1 + 1  # its count; its versions' counts and lists
    # The same fragment below two histories is counted for each.
    fragment = "fragment F on SegmentVersion { segment { memberCount { members } } }"
    twice = f'{{ a: segment(id: "x") {{ history {{ ...F }} }} b: segment(id: "y") {{ history {{ ...F }} }} }} {fragment}'
    assert estimate(twice).walks == 2
    # Each subscriber's segments are answered at a moment of their own too.
    subscribers = (
        '{ a: subscriber(id: "a") { segments { segment { memberCount { members } } } } '
        'b: subscriber(id: "b") { segments { segment { memberCount { members } } } } }'
    )
    assert estimate(subscribers).walks == 2


def test_the_counts_in_each_mutation_s_payload_are_a_walk_each(
    seg: SegmentClient, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation's root fields run one after the other, so the counts each payload asks for
    are asked at a moment of their own and walk apart: six aliased copies each answering its
    count walked six times, where the estimate said one walk."""
    segment = seg.created(name="Counted", conditionsText="subscriber.mrr > 1")
    walks: list[Any] = []
    original = EvaluationService._walk_directory

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        walks.append(args)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(EvaluationService, "_walk_directory", counted)

    def copies(n: int) -> str:
        fields = " ".join(
            f'c{i}: duplicateSegment(id: "{segment["id"]}") '
            "{ segment { memberCount { members } } userErrors { code } }"
            for i in range(n)
        )
        return f"mutation {{ {fields} }}"

    assert estimate(copies(6)).walks == 6
    assert "it starts 6 walks" in refusal(gql, copies(6))
    assert walks == []
    assert seg.gql.query("{ segments { totalCount } }")["segments"]["totalCount"] == 1
    # Five are allowed, and walk as estimated.
    assert estimate(copies(5)).walks == 5
    answer = gql.query(copies(5))
    assert [answer[f"c{i}"]["segment"]["memberCount"] for i in range(5)] == [{"members": 0}] * 5
    assert len(walks) == 5
    # A mutation without counts in its payload starts none.
    assert estimate(copies(6).replace("memberCount { members }", "id")).walks == 0


def test_unknown_reasons_count_one_for_each_condition_of_a_tree(
    seg: SegmentClient, gql: GraphQLClient
) -> None:
    """A membership or evaluation that is UNKNOWN answers a reason for each UNKNOWN condition
    it depends on, as many as a tree holds: they were counted as 10 at most, so a page of
    memberships answered many times what it was estimated at."""
    conditions = " OR ".join(f"subscriber.mrr > {i}" for i in range(20))
    segment = seg.created(name="Unknown", conditionsText=conditions)  # no provider answers
    question = (
        '{ subscriber(id: "cus_x") { segments(includeNonMembers: true) '
        "{ result unknownReasons { property } } } }"
    )
    [membership] = gql.query(question)["subscriber"]["segments"]
    assert membership["result"] == "UNKNOWN"
    assert len(membership["unknownReasons"]) == 20
    # the subscriber, its default page of 100 memberships, a tree's worth of reasons each
    assert estimate(question).objects == 1 + 100 + 100 * cost.MAX_TREE
    evaluated = (
        'query($id: ID!) { segment(id: $id) { evaluate(subscriberId: "cus_x") '
        "{ unknownReasons { property } } } }"
    )
    reasons = gql.query(evaluated, {"id": segment["id"]})["segment"]["evaluate"]
    assert len(reasons["unknownReasons"]) == 20
    assert estimate(evaluated).objects == 1 + 1 + cost.MAX_TREE


def test_what_frontends_ask_is_within_the_limits() -> None:
    ordinary = [
        # the cancel page
        'query($id: ID!) { subscriber(id: $id) { segments(tags: ["x"], includeNonMembers: true)'
        " { segment { id name conditions { combinator conditions { property operator } } } "
        "result unknownReasons { reason } } } }",
        # a page of segments with their counts (one shared walk)
        "{ segments(first: 100) { totalCount nodes { id name tags version "
        "memberCount { members } conditions { groups { conditions { property } } } } } }",
        # a segment's editor: history, usages, a page of members, a count
        "query($id: ID!) { segment(id: $id) { history { version changes { field } segment "
        "{ conditions { combinator } } } usages { refId } members(first: 500) { memberIds "
        "totalCount } memberCount { members } } }",
        # the most values one request may ask for
        "query($ids: [ID!]!, $keys: [String!]!) { propertyValues(subscriberIds: $ids, "
        "keys: $keys) { subscriberId values { key value } } }",
    ]
    variables = {"id": "x", "ids": ["c"] * 1000, "keys": ["k"] * 200}
    for document in ordinary:
        found = estimate(document, variables)
        assert found.objects <= LIMITS.max_objects, (document, found)
        assert found.walks <= LIMITS.max_walks, (document, found)


def test_fields_merged_by_the_executor_count_once_and_fragments_are_walked_once() -> None:
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    document = "{ ...F0 }\n" + chain + "\nfragment F40 on Query { segments { nodes { id } } }"
    started = time.perf_counter()
    found = estimate(document)
    assert time.perf_counter() - started < 1.0  # 2**40 paths, walked once each fragment
    assert found.objects == 1 + 20  # the connection, and its default page of 20 nodes
    twice = estimate("{ segments { nodes { id } } segments { nodes { name } } }")
    assert twice.objects == 21


def test_an_estimate_without_variable_sizes_is_made_once_per_document(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Any] = []
    original = cost.estimate

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(cost, "estimate", counted)
    question = "query($id: ID!) { subscriber(id: $id) { segments { result } } }"
    for subscriber in ("a", "b", "c"):
        gql.query(question, {"id": subscriber})
    assert len(made) == 1
    sized = "query($n: Int!) { segments(first: $n) { nodes { id } } }"
    for n in (1, 2):
        gql.query(sized, {"n": n})
    assert len(made) == 3


def test_history_counts_the_versions_its_first_asks_for(gql: GraphQLClient) -> None:
    """A segment's history answers at most first versions, so it is counted at first (a
    literal or a variable), 100 when first is not given."""
    paged = "{ segments(first: 100) { nodes { history(first: 500) { version } } } }"
    assert estimate(paged).objects == 1 + 100 + 100 * 500
    assert estimate(paged.replace("(first: 500)", "")).objects == 1 + 100 + 100 * 100
    sized = "query($n: Int!) { segments(first: 100) { nodes { history(first: $n) { version } } } }"
    assert estimate(sized, {"n": 7}).objects == 1 + 100 + 100 * 7
    # two levels of history still go past the limit at the default size
    nested = "{ segments(first: 100) { nodes { history { segment { history { version } } } } } }"
    assert estimate(nested).objects == 1 + 100 + 100 * (100 + 100 * (1 + 100))
    assert estimate(nested).objects > LIMITS.max_objects
    # the server refuses or answers the same document by the size its variable asks for
    changes = (
        "query($n: Int!) { segments(first: 100) { nodes { history(first: $n) "
        "{ changes { field } } } } }"
    )
    message = refusal(gql, changes, {"n": 500})
    assert "may answer up to 550,101 objects" in message
    assert gql.query(changes, {"n": 100}) == {"segments": {"nodes": []}}


def test_a_size_variable_the_request_leaves_out_counts_as_the_arguments_default() -> None:
    """The executor gives an argument its default when its variable is not sent: so does
    the estimate (it used to count such a page as one item)."""
    history = 'query($n: Int) { segment(id: "x") { history(first: $n) { version } } }'
    assert estimate(history).objects == 1 + 100
    assert estimate(history, {"n": 3}).objects == 1 + 3
    segments = "query($n: Int) { segments(first: $n) { nodes { id } } }"
    assert estimate(segments).objects == 1 + 20
    assert estimate(segments, {"n": 3}).objects == 1 + 3
    members = 'query($n: Int) { segment(id: "x") { members(first: $n) { memberIds } } }'
    assert estimate(members).objects == 1 + 50


def test_a_condition_tree_counts_as_many_objects_as_the_setting_lets_it_hold(
    gql: GraphQLClient, settings: Any, start_live_server: Any
) -> None:
    """A tree counted as 100 objects whatever SEGGRAPH_MAX_CONDITIONS said: with 10,000
    conditions allowed, a page of 100 segments' trees (up to a million objects) was estimated
    at 10,101 and run, and a page of memberships' unknownReasons alike."""
    trees = "{ segments(first: 100) { nodes { conditions { conditions { property } } } } }"
    reasons = (
        '{ subscriber(id: "cus_x") { segments(includeNonMembers: true) '
        "{ unknownReasons { property } } } }"
    )
    assert gql.query(trees) == {"segments": {"nodes": []}}  # 100 conditions: 10,101 objects
    assert "subscriber" in gql.query(reasons)
    server = start_live_server(settings.model_copy(update={"max_conditions": 10_000}))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        larger = GraphQLClient(http)
        assert "may answer up to 1,000,101 objects" in refusal(larger, trees)
        assert "may answer up to 1,000,101 objects" in refusal(larger, reasons)
