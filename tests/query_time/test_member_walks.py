"""The evaluated pages of members one request asks for together share one walk over the
directory: it starts at the earliest cursor among them, reads each page of the directory once
with every key they need, and each page is what a walk of its own gives. The counting
providers (``tests/query_time/conftest.py``) note each directory page asked for and each
values call, so one walk is seen as one listing from one place and one call per provider."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from seggraph.settings import Settings
from tests.conftest import GraphQLClient
from tests.query_time.conftest import CountingProvider, forget_calls, make_providers, served
from tests.query_time.test_query_time import create
from tests.security.test_query_cost import estimate

PAGE = "memberIds endCursor hasNextPage strategy"
ALONE = f"""query($id: ID!, $first: Int!, $after: String) {{ segment(id: $id) {{
  members(first: $first, after: $after) {{ {PAGE} }} }} }}"""
THREE = f"""query($a: ID!, $b: ID!, $c: ID!, $fa: Int!, $fb: Int!, $fc: Int!,
                  $ca: String, $cb: String, $cc: String) {{
  a: segment(id: $a) {{ members(first: $fa, after: $ca) {{ {PAGE} }} }}
  b: segment(id: $b) {{ members(first: $fb, after: $cb) {{ {PAGE} }} }}
  c: segment(id: $c) {{ members(first: $fc, after: $cc) {{ {PAGE} }} }} }}"""


def alone(q: GraphQLClient, segment_id: str, first: int, after: str | None) -> dict[str, Any]:
    page: dict[str, Any] = q.query(ALONE, {"id": segment_id, "first": first, "after": after})[
        "segment"
    ]["members"]
    return page


def three(ids: dict[str, str], asked: dict[str, tuple[int, str | None]]) -> dict[str, Any]:
    """:data:`THREE`'s variables: each segment's id, first and after, by its alias."""
    return {
        **ids,
        **{f"f{name}": first for name, (first, _) in asked.items()},
        **{f"c{name}": after for name, (_, after) in asked.items()},
    }


def three_segments(q: GraphQLClient) -> dict[str, str]:
    """Three segments none of which is pushed down (the counting providers translate no
    condition), reading the ledger, the CRM, and the ledger again."""
    return {
        "a": create(q, "over 100", "subscriber.mrr > 100")["id"],  # sub_011 .. sub_030
        "b": create(q, "French", 'crm.country = "FR"')["id"],  # the odd ones
        "c": create(q, "yearly", 'plan.interval = "YEAR"')["id"],  # every third, bar sub_021
    }


def test_the_member_pages_a_request_asks_together_share_one_walk(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Three segments' pages, two after a cursor: each page is the one asked alone gives, and
    the directory is listed once, from the start (one page has no cursor), each provider
    asked once for its values with every key the three need."""
    ids = three_segments(q)
    cursor_a = alone(q, ids["a"], 3, None)["endCursor"]  # after sub_013
    cursor_b = alone(q, ids["b"], 2, None)["endCursor"]  # after sub_003
    asked = {"a": (4, cursor_a), "b": (5, cursor_b), "c": (20, None)}
    expected = {name: alone(q, ids[name], *asked[name]) for name in ids}
    assert expected["a"]["memberIds"] == ["sub_014", "sub_015", "sub_016", "sub_017"]
    assert expected["b"]["memberIds"] == [f"sub_{i:03d}" for i in (5, 7, 9, 11, 13)]
    assert expected["c"]["hasNextPage"] is False and len(expected["c"]["memberIds"]) == 9

    billing, crm = providers
    forget_calls(providers)
    together = q.query(THREE, three(ids, asked))
    assert {name: together[name]["members"] for name in ids} == expected
    assert billing.listed == [None]
    assert billing.calls == [(30, ("plan.interval", "subscriber.mrr"))]
    assert crm.calls == [(30, ("crm.country",))]


def test_a_walk_of_pages_that_all_have_cursors_starts_at_the_earliest(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Every page after a cursor: the walk lists the directory once, after the earliest of
    them, and stops once each page is full (all within that one listing)."""
    ids = three_segments(q)
    asked = {
        "a": (2, alone(q, ids["a"], 3, None)["endCursor"]),  # after sub_013
        "b": (3, alone(q, ids["b"], 2, None)["endCursor"]),  # after sub_003
        "c": (2, alone(q, ids["c"], 2, None)["endCursor"]),  # after sub_006
    }
    expected = {name: alone(q, ids[name], *asked[name]) for name in ids}
    assert [page["hasNextPage"] for page in expected.values()] == [True] * 3

    billing, crm = providers
    forget_calls(providers)
    together = q.query(THREE, three(ids, asked))
    assert {name: together[name]["members"] for name in ids} == expected
    assert billing.listed == ["sub_003"]
    assert billing.calls == [(27, ("plan.interval", "subscriber.mrr"))]  # sub_004 .. sub_030
    assert crm.calls == [(27, ("crm.country",))]


def test_a_page_of_segments_with_their_members_is_one_walk(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Five segments' members were five walks; now they are one, each page as it is asked
    alone (one of the segments references another)."""
    tag = ["dashboard"]
    over = create(q, "over 250", "subscriber.mrr > 250", tag)
    for threshold in range(0, 90, 30):
        create(q, f"over {threshold}", f"subscriber.mrr > {threshold}", tag)
    create(q, "over 250, French", f'IN SEGMENT "{over["id"]}" AND crm.country = "FR"', tag)
    billing, crm = providers
    forget_calls(providers)
    nodes = q.query(
        """{ segments(first: 5, filter: {tags: ["dashboard"]}) {
             nodes { id name members(first: 5) { memberIds endCursor hasNextPage strategy } } } }"""
    )["segments"]["nodes"]
    assert len(nodes) == 5
    assert billing.listed == [None]
    assert billing.calls == [(30, ("subscriber.mrr",))]
    assert crm.calls == [(30, ("crm.country",))]
    for node in nodes:
        assert node["members"] == alone(q, node["id"], 5, None), node["name"]
    by_name = {node["name"]: node["members"]["memberIds"] for node in nodes}
    assert by_name["over 250"] == ["sub_026", "sub_027", "sub_028", "sub_029", "sub_030"]
    assert by_name["over 250, French"] == ["sub_027", "sub_029"]


COUNTED = f"""query($a: ID!, $b: ID!, $c: ID!, $ca: String) {{
  a: segment(id: $a) {{ members(first: 4, after: $ca) {{ {PAGE} totalCount }} }}
  b: segment(id: $b) {{ memberCount {{ members unknown }} members(first: 5) {{ {PAGE} }} }}
  c: segment(id: $c) {{ members(first: 20) {{ {PAGE} }} }} }}"""
COUNT = "query($id: ID!) { segment(id: $id) { memberCount { members unknown } } }"


def test_pages_and_counts_asked_together_share_one_walk(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """A page after a cursor with its totalCount, a count beside a page, and a page alone:
    one walk over the whole directory (the counts need every subscriber) makes them all, each
    as it is asked alone. Before, each totalCount was a walk after its page's, and each
    memberCount a walk beside the pages'."""
    ids = three_segments(q)
    cursor_a = alone(q, ids["a"], 3, None)["endCursor"]  # after sub_013
    counts = {name: q.query(COUNT, {"id": ids[name]})["segment"]["memberCount"] for name in ids}
    expected = {
        "a": {**alone(q, ids["a"], 4, cursor_a), "totalCount": counts["a"]["members"]},
        "b": alone(q, ids["b"], 5, None),
        "c": alone(q, ids["c"], 20, None),
    }
    assert counts["a"] == {"members": 20, "unknown": 0}

    billing, crm = providers
    forget_calls(providers)
    together = q.query(COUNTED, {**ids, "ca": cursor_a})
    assert {name: together[name]["members"] for name in ids} == expected
    assert together["b"]["memberCount"] == counts["b"]
    assert billing.listed == [None]
    assert billing.calls == [(30, ("plan.interval", "subscriber.mrr"))]
    assert crm.calls == [(30, ("crm.country",))]


def test_the_walk_estimate_is_never_below_the_walks_made(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Each query's walks, as the directory is listed (one listing a walk: the 30 subscribers
    are one page of it), against the estimate that refuses an operation past
    ``SEGGRAPH_MAX_QUERY_WALKS`` before it runs: lists and counts asked together are one
    walk (the first three queries: one walk each), those below each segment's history one
    each."""
    ids = three_segments(q)
    page = "{ segments(first: 5) { nodes { memberCount { members } members(first: 2) { %s } } } }"
    cases = [
        (page % "memberIds", 1),
        (page % "memberIds totalCount", 1),
        (COUNTED.replace("$ca", "null").replace(", null: String", ""), 1),
        (
            "{ segments(first: 3) { nodes { history(first: 2) { segment { "
            "members(first: 1) { memberIds } } } } } }",
            3,
        ),
        (
            "{ segments(first: 3) { nodes { memberCount { members } history(first: 2) { "
            "segment { members(first: 1) { memberIds totalCount } } } } } }",
            4,
        ),
    ]
    billing, _ = providers
    for document, estimated in cases:
        forget_calls(providers)
        q.query(document, ids if "$a" in document else None)
        assert estimate(document).walks == estimated, document
        # Asked apart, lists may still happen to walk together (reads ending in one turn).
        assert 1 <= len(billing.listed) <= estimated, document


def test_a_refused_page_asks_for_no_count(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """A page refused with its totalCount asked: the field is null with its error, and the
    count asked with it is given up before it walks (nobody will show it)."""
    ids = three_segments(q)
    billing, _ = providers
    forget_calls(providers)
    body = q.execute(
        "query($id: ID!) { segment(id: $id) { members(first: 501) { totalCount } } }",
        {"id": ids["a"]},
    )
    assert body["data"] == {"segment": {"members": None}}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "OUT_OF_RANGE"
    assert billing.listed == [] and billing.calls == []


def test_a_refused_page_is_null_alone_and_the_others_still_share_their_walk(
    q: GraphQLClient, providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """A cursor of another segment's members, or a first past 500: that field is null with
    its error; the two other pages are answered, from one walk."""
    ids = three_segments(q)
    cursor_b = alone(q, ids["b"], 2, None)["endCursor"]
    expected = {"a": alone(q, ids["a"], 3, None), "b": alone(q, ids["b"], 2, None)}
    billing, _ = providers
    for refused, code in [((2, cursor_b), "INVALID_CURSOR"), ((501, None), "OUT_OF_RANGE")]:
        forget_calls(providers)
        body = q.execute(THREE, three(ids, {"a": (3, None), "b": (2, None), "c": refused}))
        assert body["data"] == {
            "a": {"members": expected["a"]},
            "b": {"members": expected["b"]},
            "c": {"members": None},
        }
        [error] = body["errors"]
        assert (error["path"], error["extensions"]["code"]) == (["c", "members"], code)
        assert billing.listed == [None]


def test_a_directory_failing_during_the_walk_fails_every_page_with_its_error(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> None:
    """The directory no longer answers in time: the one walk fails, and each page of it is
    null with the error naming the provider (the rest of the answer stands)."""
    ledger, crm = make_providers()
    with served(settings, sync_db, (ledger, crm), bulk_provider_timeout_seconds=0.05) as q:
        ids = three_segments(q)
        ledger.delay = 0.5  # the directory no longer answers in time
        body = q.execute(
            THREE.replace("members(", "name members("),
            three(ids, {name: (2, None) for name in ids}),
        )
    assert body["data"] == {
        "a": {"name": "over 100", "members": None},
        "b": {"name": "French", "members": None},
        "c": {"name": "yearly", "members": None},
    }
    assert sorted(error["path"][0] for error in body["errors"]) == ["a", "b", "c"]
    for error in body["errors"]:
        assert error["extensions"]["code"] == "TIMEOUT"
        assert "provider 'ledger'" in error["message"]
    assert ledger.listed == [None]
