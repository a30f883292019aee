"""The queries that walk the subscriber directory when things go wrong: a query whose client
hangs up stops walking, and gives back the walk slot it held (a mutation runs to the end
whatever its client does); a count that fails is null with its error, and the rest stands.

The server is a real uvicorn (``LiveServer``) with one walk slot (``bulk_concurrency=1``); the
directory holds the first walk's first page until the test releases it, so a walk left running
for nobody would keep the slot and every later count would wait for it."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import pytest
from pymongo.database import Database

from seggraph.domain.context import EvaluationContext
from seggraph.plugins.hookspecs import hookimpl
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer, empty_collections
from tests.query_time.conftest import CountingProvider, make_providers, provider_server, served

COUNT = "query($id: ID!) { segment(id: $id) { memberCount { members } } }"
MEMBERS = "query($id: ID!) { segment(id: $id) { members(first: 50) { memberIds } } }"
CREATE = (
    "mutation($text: String!) { createSegment(input: {name: $name, conditionsText: $text}) "
    "{ segment { id } userErrors { message } } }"
)


class HeldLedger(CountingProvider):
    """The ledger, whose first walk waits at its first page until ``release`` is set (from the
    test's thread), noting in ``stopped`` that it was cancelled there."""

    def __init__(self, plain: CountingProvider) -> None:
        super().__init__(plain.name, plain.definitions, plain.rows)
        self.release = threading.Event()
        self.walking = threading.Event()
        self.stopped = threading.Event()
        self.walks = 0

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        if after is None:
            self.walks += 1
            if self.walks == 1:
                self.walking.set()
                try:
                    while not self.release.is_set():
                        await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    self.stopped.set()
                    raise
        ids = sorted(self.rows)
        return [i for i in ids if after is None or i > after][:limit]


@pytest.fixture
def held(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[GraphQLClient, HeldLedger, LiveServer]]:
    empty_collections(sync_db)
    plain, crm = make_providers()
    ledger = HeldLedger(plain)
    server = provider_server(settings, (ledger, crm), bulk_concurrency=1)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            yield GraphQLClient(http), ledger, server
    finally:
        ledger.release.set()
        server.stop()


def create(q: GraphQLClient, name: str, text: str) -> str:
    payload = q.query(CREATE.replace("$name", f'"{name}"'), {"text": text})["createSegment"]
    assert payload["userErrors"] == []
    segment_id: str = payload["segment"]["id"]
    return segment_id


def post_and_hang_up(
    server: LiveServer, ledger: HeldLedger, body: dict[str, Any], method: str = "POST"
) -> None:
    """Send ``body`` to ``/graphql`` (as JSON, or for GET as its query string) on a connection
    of its own, wait until the ledger's held walk has begun, and close the connection without
    reading the answer."""
    address = urlsplit(server.url)
    if method == "GET":
        query = urlencode({"query": body["query"], "variables": orjson.dumps(body["variables"])})
        request = f"GET /graphql?{query} HTTP/1.1\r\nHost: {address.hostname}\r\n\r\n".encode()
    else:
        payload = orjson.dumps(body)
        request = (
            f"POST /graphql HTTP/1.1\r\nHost: {address.hostname}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request)
        assert ledger.walking.wait(10), "the walk never began"


def test_a_count_whose_client_hangs_up_stops_and_frees_its_walk_slot(
    held: tuple[GraphQLClient, HeldLedger, LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    q, ledger, server = held
    over = create(q, "over 100", "subscriber.mrr > 100")
    with caplog.at_level(logging.INFO):
        post_and_hang_up(server, ledger, {"query": COUNT, "variables": {"id": over}})
        assert ledger.stopped.wait(5), "the walk went on for a client that had gone"
        # The one walk slot serves the next count at once (it would wait for the held walk).
        data = q.query(COUNT, {"id": over})
    assert data["segment"]["memberCount"]["members"] == 20  # sub_011 .. sub_030
    messages = [r.getMessage() for r in caplog.records]
    assert any("the client hung up; its work stopped" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_member_list_whose_client_hangs_up_stops(
    held: tuple[GraphQLClient, HeldLedger, LiveServer], method: str
) -> None:
    q, ledger, server = held
    over = create(q, "over 100", "subscriber.mrr > 100")
    post_and_hang_up(server, ledger, {"query": MEMBERS, "variables": {"id": over}}, method)
    assert ledger.stopped.wait(5), "the walk went on for a client that had gone"
    ids = q.query(MEMBERS, {"id": over})["segment"]["members"]["memberIds"]
    assert ids == [f"sub_{i:03d}" for i in range(11, 31)]


def test_a_shared_walk_of_member_pages_whose_client_hangs_up_stops(
    held: tuple[GraphQLClient, HeldLedger, LiveServer],
) -> None:
    """Two segments' pages asked together are one walk (the ledger lists its start once),
    and it stops when the client hangs up; the one walk slot then serves the next request."""
    q, ledger, server = held
    ids = {
        "a": create(q, "over 100", "subscriber.mrr > 100"),
        "b": create(q, "FR", 'crm.country = "FR"'),
    }
    both = (
        "query($a: ID!, $b: ID!) { a: segment(id: $a) { members(first: 50) { memberIds } } "
        "b: segment(id: $b) { members(first: 3) { memberIds } } }"
    )
    post_and_hang_up(server, ledger, {"query": both, "variables": ids})
    assert ledger.stopped.wait(5), "the walk went on for a client that had gone"
    assert ledger.walks == 1
    answer = q.query(both, ids)
    assert answer["a"]["members"]["memberIds"] == [f"sub_{i:03d}" for i in range(11, 31)]
    assert answer["b"]["members"]["memberIds"] == ["sub_001", "sub_003", "sub_005"]
    assert ledger.walks == 2


def test_a_walk_of_a_page_and_its_total_count_whose_client_hangs_up_stops(
    held: tuple[GraphQLClient, HeldLedger, LiveServer],
) -> None:
    """A page with its totalCount and a count beside it are one walk, and it stops when the
    client hangs up (neither the page's field nor the count it asked keeps it going); the one
    walk slot then serves the next request."""
    q, ledger, server = held
    segment = create(q, "over 100", "subscriber.mrr > 100")
    asked = (
        "query($a: ID!) { segment(id: $a) { memberCount { members } "
        "members(first: 3) { memberIds totalCount } } }"
    )
    post_and_hang_up(server, ledger, {"query": asked, "variables": {"a": segment}})
    assert ledger.stopped.wait(5), "the walk went on for a client that had gone"
    assert ledger.walks == 1
    answer = q.query(asked, {"a": segment})["segment"]
    assert answer["memberCount"] == {"members": 20}
    assert answer["members"] == {"memberIds": ["sub_011", "sub_012", "sub_013"], "totalCount": 20}
    assert ledger.walks == 2


def test_a_mutation_runs_to_the_end_when_its_client_hangs_up(
    held: tuple[GraphQLClient, HeldLedger, LiveServer],
) -> None:
    """Its fields run one after the other: the second segment is created after the first's
    count, which the client no longer waits for."""
    q, ledger, server = held
    both = (
        'mutation { a: createSegment(input: {name: "a", conditionsText: "subscriber.mrr > 100"}) '
        "{ segment { memberCount { members } } } "
        'b: createSegment(input: {name: "b", conditionsText: "subscriber.mrr > 200"}) '
        "{ segment { id } } }"
    )
    post_and_hang_up(server, ledger, {"query": both})
    assert not ledger.stopped.wait(0.5)
    ledger.release.set()
    deadline = time.monotonic() + 10
    names: list[str] = []
    while time.monotonic() < deadline and names != ["a", "b"]:
        names = sorted(
            n["name"] for n in q.query("{ segments { nodes { name } } }")["segments"]["nodes"]
        )
        time.sleep(0.05)
    assert names == ["a", "b"]
    assert not ledger.stopped.is_set()


def test_a_count_that_fails_leaves_the_rest_of_the_answer(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> None:
    """memberCount and members may fail (a directory that does not answer, a refused
    argument): the error names the field, and the page of segments around them stands. A
    non-null count made one failure blank the whole list (data: null)."""
    plain, crm = make_providers()
    with served(settings, sync_db, (plain, crm), bulk_provider_timeout_seconds=0.05) as q:
        over = create(q, "over 100", "subscriber.mrr > 100")
        plain.delay = 0.5  # the directory no longer answers in time
        body = q.execute("{ segments(first: 5) { nodes { name memberCount { members } } } }")
        assert body["data"] == {"segments": {"nodes": [{"name": "over 100", "memberCount": None}]}}
        [error] = body["errors"]
        assert error["path"] == ["segments", "nodes", 0, "memberCount"]
        assert error["extensions"]["code"] == "TIMEOUT"
        assert "provider 'ledger'" in error["message"]
        plain.delay = 0
        refused = q.execute(
            "query($id: ID!) { segment(id: $id) { name members(first: 501) { memberIds } } }",
            {"id": over},
        )
        assert refused["data"] == {"segment": {"name": "over 100", "members": None}}
        assert refused["errors"][0]["extensions"]["code"] == "OUT_OF_RANGE"


class PartlyDown(CountingProvider):
    """The CRM, failing each call that asks about ``down_for`` (one page of a walk)."""

    down_for: str | None = None

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        if any(ctx.subscriber_id == self.down_for for ctx in contexts):
            raise RuntimeError(f"{self.name} is down")
        return await super().resolve_properties(contexts, keys)


def test_a_property_provider_failing_for_part_of_a_walk_leaves_its_members_off_the_page(
    settings: Settings, sync_db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the members field's description and the README say: no error, the page short of the
    members the failed call was about (UNKNOWN), memberCount's unknown counting them; asked
    again once the provider answers, the page is whole."""
    from seggraph.services import evaluation

    monkeypatch.setattr(evaluation, "PAGE_SIZE", 4)  # sub_013 .. sub_016 are one call
    ledger, plain = make_providers()
    crm = PartlyDown(plain.name, plain.definitions, plain.rows)
    with served(settings, sync_db, (ledger, crm)) as q:
        french = create(q, "French", 'crm.country = "FR"')  # the odd ones
        asked = (
            "query($id: ID!) { segment(id: $id) { memberCount { members unknown } "
            "members(first: 50) { memberIds hasNextPage unknownCount } } }"
        )
        crm.down_for = "sub_014"
        body = q.execute(asked, {"id": french})
        assert "errors" not in body
        short = body["data"]["segment"]
        odd = [f"sub_{i:03d}" for i in range(1, 31, 2)]
        assert short["members"] == {
            "memberIds": [i for i in odd if i not in ("sub_013", "sub_015")],
            "hasNextPage": False,
            "unknownCount": 4,  # the page says it is short, and by how many
        }
        assert short["memberCount"] == {"members": 13, "unknown": 4}
        # Pages of 5: the UNKNOWN ones are counted by the page whose range holds them.
        paged = (
            "query($id: ID!, $after: String) { segment(id: $id) { "
            "members(first: 5, after: $after) { memberIds endCursor unknownCount } } }"
        )
        first = q.query(paged, {"id": french})["segment"]["members"]
        assert (first["memberIds"][-1], first["unknownCount"]) == ("sub_009", 0)
        second = q.query(paged, {"id": french, "after": first["endCursor"]})["segment"]["members"]
        # Walked from sub_010, four at a time: the call about sub_014 is sub_014 .. sub_017.
        assert second["memberIds"] == ["sub_011", "sub_013", "sub_019", "sub_021", "sub_023"]
        assert second["unknownCount"] == 4
        third = q.query(paged, {"id": french, "after": second["endCursor"]})["segment"]["members"]
        assert third["unknownCount"] == 0
        crm.down_for = None
        whole = q.query(asked, {"id": french})["segment"]
        assert whole == {
            "memberCount": {"members": 15, "unknown": 0},
            "members": {"memberIds": odd, "hasNextPage": False, "unknownCount": 0},
        }
