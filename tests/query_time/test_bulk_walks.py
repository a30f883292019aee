"""Walks over the whole directory (member lists, counts, edit impact) have their own provider
timeout and a cap on how many run at once: a page of hundreds of subscribers is not held to
the latency budget of one, and a burst of counts cannot swamp the providers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from seggraph.settings import Settings
from tests.conftest import GraphQLClient, empty_collections
from tests.query_time.conftest import (
    SUBSCRIBERS,
    CountingProvider,
    make_providers,
    provider_server,
)
from tests.query_time.test_query_time import EVALUATE, UPDATE, create

SLOW = 0.4


@pytest.fixture(scope="module")
def slow_providers() -> tuple[CountingProvider, CountingProvider]:
    return make_providers()


@pytest.fixture(scope="module")
def slow(
    settings: Settings,
    sync_db: Database[dict[str, Any]],
    slow_providers: tuple[CountingProvider, CountingProvider],
) -> Iterator[GraphQLClient]:
    """A server whose providers answer after SLOW seconds: later than one subscriber's
    provider timeout, well within the bulk one; one walk at a time."""
    empty_collections(sync_db)
    server = provider_server(
        settings,
        slow_providers,
        provider_timeout_seconds=SLOW / 4,
        provider_failure_threshold=1000,
        bulk_provider_timeout_seconds=30.0,
        bulk_concurrency=1,
    )
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield GraphQLClient(http)
    finally:
        server.stop()


def test_a_count_waits_for_slow_providers_where_one_subscriber_does_not(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    segment = create(slow, "big and French", 'subscriber.mrr > 100 AND crm.country = "FR"')
    for provider in slow_providers:
        provider.delay = SLOW
    one = slow.query(EVALUATE, {"id": segment["id"], "sub": "sub_013"})["segment"]["evaluate"]
    assert one["result"] == "UNKNOWN"
    assert {r["reason"] for r in one["unknownReasons"]} == {"TIMEOUT"}

    expected = [s for i, s in enumerate(SUBSCRIBERS, 1) if i * 10 > 100 and i % 2]
    answer = slow.query(
        """query($id: ID!) { segment(id: $id) {
             memberCount { members unknown strategy } members(first: 100) { memberIds } } }""",
        {"id": segment["id"]},
    )["segment"]
    assert answer["memberCount"] == {
        "members": len(expected),
        "unknown": 0,
        "strategy": "EVALUATED",
    }
    assert answer["members"]["memberIds"] == expected


def test_walks_beyond_the_concurrency_wait_their_turn(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Three requests counting at once (``bulk_concurrency=1``): one walk at a time."""
    ids = {
        name: create(slow, name, f"subscriber.mrr > {threshold}")["id"]
        for name, threshold in (("a", 150), ("b", 200), ("c", 250))
    }
    billing, _ = slow_providers
    billing.delay = SLOW
    billing.most_at_once = 0

    def count(segment_id: str) -> int:
        with httpx.Client(base_url=slow.http.base_url, timeout=60) as http:
            answer = GraphQLClient(http).query(
                "query($id: ID!) { segment(id: $id) { memberCount { members } } }",
                {"id": segment_id},
            )
        return int(answer["segment"]["memberCount"]["members"])

    with ThreadPoolExecutor(len(ids)) as pool:
        counts = dict(zip(ids, pool.map(count, ids.values()), strict=True))
    assert counts == {"a": 15, "b": 10, "c": 5}
    assert billing.most_at_once == 1


def test_the_counts_a_request_asks_together_share_one_walk(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """A page of segments, each with its ``memberCount``: the directory is walked once, each
    page of it read once from each provider with every key the segments need, and each
    segment gets the count it gets when asked alone (one of them referencing another)."""
    big = create(slow, "big", "subscriber.mrr > 150", ["counted together"])
    create(slow, "French", 'crm.country = "FR"', ["counted together"])
    create(
        slow,
        "big, not French",
        f'IN SEGMENT "{big["id"]}" AND crm.country = "US"',
        ["counted together"],
    )
    billing, crm = slow_providers
    for provider in slow_providers:
        provider.delay = 0
        provider.calls.clear()
    page = slow.query(
        """{ segments(first: 10, filter: {tags: ["counted together"]}) {
             nodes { id name memberCount { members unknown strategy } } } }"""
    )["segments"]["nodes"]
    counts = {node["name"]: node["memberCount"] for node in page}
    assert counts == {
        "big": {"members": 15, "unknown": 0, "strategy": "EVALUATED"},  # sub_016 .. sub_030
        "French": {"members": 15, "unknown": 0, "strategy": "EVALUATED"},  # the odd ones
        "big, not French": {"members": 8, "unknown": 0, "strategy": "EVALUATED"},  # even, > 15
    }
    # 30 subscribers are one page of the directory: one call to each provider for all three.
    assert billing.calls == [(30, ("subscriber.mrr",))]
    assert crm.calls == [(30, ("crm.country",))]
    for node in page:
        alone = slow.query(
            "query($id: ID!) { segment(id: $id) { memberCount { members unknown strategy } } }",
            {"id": node["id"]},
        )["segment"]["memberCount"]
        assert alone == node["memberCount"], node["name"]


def test_total_count_and_member_count_walk_once(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    segment = create(slow, "top ten", "subscriber.mrr > 200")
    billing, _ = slow_providers
    billing.delay = 0
    billing.calls.clear()
    answer = slow.query(
        """query($id: ID!) { segment(id: $id) {
             memberCount { members } members(first: 3) { memberIds totalCount hasNextPage } } }""",
        {"id": segment["id"]},
    )["segment"]
    assert answer == {
        "memberCount": {"members": 10},
        "members": {
            "memberIds": ["sub_021", "sub_022", "sub_023"],
            "totalCount": 10,
            "hasNextPage": True,
        },
    }
    # One walk (one page of the directory: 30 subscribers) for the members and both counts:
    # totalCount is asked with its page, and memberCount with them.
    assert len(billing.calls) == 1

    # totalCount alone, in a fragment: asked with its page too.
    billing.calls.clear()
    answer = slow.query(
        """query($id: ID!) { segment(id: $id) { members(first: 3) { ...Page } } }
           fragment Page on MemberConnection { memberIds ... on MemberConnection { totalCount } }""",
        {"id": segment["id"]},
    )["segment"]
    assert answer == {"members": {"memberIds": ["sub_021", "sub_022", "sub_023"], "totalCount": 10}}
    assert len(billing.calls) == 1


def test_a_walk_over_many_directory_pages_misses_no_one(
    slow: GraphQLClient,
    slow_providers: tuple[CountingProvider, CountingProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from seggraph.services import evaluation

    monkeypatch.setattr(evaluation, "DIRECTORY_FIRST_PAGE", 4)
    monkeypatch.setattr(evaluation, "DIRECTORY_MAX_PAGE", 8)  # 30 subscribers: 4, 8, 8, 8, 2
    for provider in slow_providers:
        provider.delay = 0
    segment = create(slow, "odd tens", 'subscriber.mrr > 15 AND crm.country = "FR"')
    expected = [s for i, s in enumerate(SUBSCRIBERS, 1) if i > 1 and i % 2]
    answer = slow.query(
        """query($id: ID!) { segment(id: $id) {
             memberCount { members } members(first: 100) { memberIds } } }""",
        {"id": segment["id"]},
    )["segment"]
    assert answer["memberCount"]["members"] == len(expected) == 14
    assert answer["members"]["memberIds"] == expected


def test_a_walk_reads_the_next_page_while_it_works_on_one(
    slow: GraphQLClient,
    slow_providers: tuple[CountingProvider, CountingProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The values of the next page are being read while one is evaluated (WALK_AHEAD), so a
    database answers them while seggraph works; the answer is the same as page by page."""
    from seggraph.services import evaluation

    monkeypatch.setattr(evaluation, "PAGE_SIZE", 4)  # 30 subscribers: 8 pages
    billing, _ = slow_providers
    billing.delay = 0.05
    billing.most_at_once = 0
    segment = create(slow, "over a hundred", "subscriber.mrr > 100")
    answer = slow.query(
        "query($id: ID!) { segment(id: $id) { memberCount { members strategy } } }",
        {"id": segment["id"]},
    )["segment"]["memberCount"]
    assert answer == {"members": 20, "strategy": "EVALUATED"}
    assert billing.most_at_once == 2  # a page being evaluated, the next one being read


def test_a_member_page_stops_reading_once_it_is_full(
    slow: GraphQLClient,
    slow_providers: tuple[CountingProvider, CountingProvider],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page of members found in the first pages of the directory reads at most WALK_AHEAD
    pages beyond them (cancelled), not the whole directory."""
    from seggraph.services import evaluation

    monkeypatch.setattr(evaluation, "PAGE_SIZE", 4)
    billing, _ = slow_providers
    billing.delay = 0.05
    segment = create(slow, "over fifty", "subscriber.mrr > 50")
    billing.calls.clear()
    answer = slow.query(
        """query($id: ID!) { segment(id: $id) {
             members(first: 3) { memberIds hasNextPage } } }""",
        {"id": segment["id"]},
    )["segment"]["members"]
    # sub_006 .. sub_009: the second and third pages (sub_005 .. sub_012)
    assert answer == {"memberIds": ["sub_006", "sub_007", "sub_008"], "hasNextPage": True}
    pages = [size for size, _ in billing.calls if size > 1]
    assert 3 <= len(pages) <= 4  # the pages it needed, and at most the one read ahead


def test_two_versions_of_one_segment_counted_together_keep_their_own_counts(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """The versions of a segment asked with counts in one request: each walks with
    its own conditions (a walk counts a segment id once)."""
    for provider in slow_providers:
        provider.delay = 0
    segment = create(slow, "edited", "subscriber.mrr > 250")
    payload = slow.query(
        UPDATE,
        {
            "input": {
                "id": segment["id"],
                "expectedVersion": segment["version"],
                "conditionsText": "subscriber.mrr > 100",
            }
        },
    )
    assert payload["updateSegment"]["userErrors"] == []
    history = slow.query(
        """query($id: ID!) { segment(id: $id) {
             history { segment { version memberCount { members } } } } }""",
        {"id": segment["id"]},
    )["segment"]["history"]
    assert sorted(
        (h["segment"]["version"], h["segment"]["memberCount"]["members"]) for h in history
    ) == [(1, 5), (2, 20)]


def test_a_count_another_request_is_making_is_waited_for_not_walked_again(
    slow: GraphQLClient, slow_providers: tuple[CountingProvider, CountingProvider]
) -> None:
    """Two requests asking at once for the count of the same segment version: one walk, the
    same answer; after an edit, the new version is counted afresh."""
    segment = create(slow, "asked twice", "subscriber.mrr > 120")
    billing, _ = slow_providers
    billing.delay = SLOW / 2
    billing.calls.clear()

    def count(segment_id: str) -> dict[str, Any]:
        with httpx.Client(base_url=slow.http.base_url, timeout=60) as http:
            answer = GraphQLClient(http).query(
                "query($id: ID!) { segment(id: $id) { memberCount { members strategy } } }",
                {"id": segment_id},
            )
        return dict(answer["segment"]["memberCount"])

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(count, [segment["id"]] * 2))
    assert answers == [{"members": 18, "strategy": "EVALUATED"}] * 2  # sub_013 .. sub_030
    assert [size for size, _ in billing.calls] == [30]

    billing.delay = 0
    payload = slow.query(
        UPDATE,
        {
            "input": {
                "id": segment["id"],
                "expectedVersion": segment["version"],
                "conditionsText": "subscriber.mrr > 280",
            }
        },
    )
    assert payload["updateSegment"]["userErrors"] == []
    assert count(segment["id"]) == {"members": 2, "strategy": "EVALUATED"}
    assert [size for size, _ in billing.calls] == [30, 30]
