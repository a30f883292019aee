"""Members and counts pushed down to MongoDB agree with batched evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from bson.decimal128 import Decimal128
from pymongo.database import Database

from seggraph.domain.conditions import Condition, Money, Operator
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins.hookspecs import hookimpl
from seggraph.plugins.results import SubscriberFilter
from seggraph.services import evaluation
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer, empty_collections

COLLECTION = "pushdown_profiles"
FIELDS = {
    "profile.plan": "plan",
    "profile.seats": "seats",
    "profile.region": "region",
    "profile.balance": "balance",
}
#: ``profile.balance`` declares EUR and is stored as a bare number, so a stored 7 is 7 EUR (the
#: account currency is USD).
BALANCE_CURRENCY = "EUR"


class ProfileProvider:
    """Keeps one profile document per subscriber and can translate simple conditions."""

    def __init__(self) -> None:
        self.db: Any = None
        #: Tests set these to break it: its filters keep the Decimal a NUMBER condition holds
        #: (no BSON), and its value reads raise.
        self.decimal_filters = False
        self.failing = False

    @hookimpl
    def startup(self, database: Any) -> None:
        self.db = database.db

    @hookimpl
    def register_properties(self, register: Any) -> None:
        register(
            PropertyDefinition(
                "profile.plan", "Plan", PropertyType.ENUM, enum_values=("FREE", "PRO", "TEAM")
            )
        )
        register(PropertyDefinition("profile.seats", "Seats", PropertyType.NUMBER))
        register(PropertyDefinition("profile.region", "Region", PropertyType.TEXT))
        register(
            PropertyDefinition(
                "profile.balance", "Balance", PropertyType.MONEY, currency=BALANCE_CURRENCY
            )
        )

    @hookimpl
    async def resolve_properties(
        self, contexts: Sequence[EvaluationContext], keys: Sequence[str]
    ) -> dict[EvaluationContext, dict[str, Any]]:
        if self.failing:
            raise RuntimeError("the profiles service is down")
        ids = [c.subscriber_id for c in contexts]
        docs = {
            d["_id"]: d for d in await self.db[COLLECTION].find({"_id": {"$in": ids}}).to_list()
        }
        return {
            c: {k: docs[c.subscriber_id].get(FIELDS[k]) for k in keys}
            for c in contexts
            if c.subscriber_id in docs
        }

    @hookimpl
    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        query: dict[str, Any] = {"closed": {"$ne": True}}
        if after:
            query["_id"] = {"$gt": after}
        docs = (
            await self.db[COLLECTION].find(query, {"_id": 1}).sort("_id", 1).limit(limit).to_list()
        )
        return [d["_id"] for d in docs]

    @hookimpl
    def directory_filter(self) -> SubscriberFilter:
        return SubscriberFilter(COLLECTION, {"closed": {"$ne": True}})

    @hookimpl
    def condition_to_filter(self, condition: Condition) -> SubscriberFilter | None:
        field = FIELDS[condition.property]
        ops = {
            Operator.EQ: "$eq",
            Operator.GT: "$gt",
            Operator.GTE: "$gte",
            Operator.LT: "$lt",
            Operator.IN: "$in",
        }
        if condition.operator not in ops or condition.case_insensitive:
            return None
        value: Any = condition.value
        if condition.property == "profile.balance":
            # Stored amounts are in EUR; a condition amount in another currency (a bare one is
            # in the account currency) is UNKNOWN for every stored value: not translated.
            items = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, Money) and v.currency == BALANCE_CURRENCY for v in items):
                return None
            amounts = [str(v.amount) for v in items]
            value = [Decimal128(a) for a in amounts] if isinstance(value, tuple) else None
            value = value if value is not None else Decimal128(amounts[0])
        elif condition.property == "profile.seats" and not self.decimal_filters:
            value = [int(v) for v in value] if isinstance(value, tuple) else int(value)
        elif isinstance(value, tuple):
            value = list(value)
        return SubscriberFilter(COLLECTION, {field: {ops[condition.operator]: value}})


@pytest.fixture(scope="session")
def two_servers(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[LiveServer, LiveServer]]:
    with pushing_down_and_not(settings, ["profiles"]) as servers:
        yield servers


@contextmanager
def pushing_down_and_not(
    settings: Settings, plugins: list[str]
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers with ``plugins`` (``profiles`` the directory), pushing down and not."""
    servers = []
    for pushdown in (True, False):
        isolated = settings.model_copy(
            update={"plugins": plugins, "subscriber_directory": "profiles", "pushdown": pushdown}
        )
        server = LiveServer(isolated, extra_plugins=[("profiles", ProfileProvider())])
        server.start()
        servers.append(server)
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


PLANS = ("FREE", "PRO", "TEAM")
REGIONS = ("eu", "us", "apac")


@pytest.fixture
def clients(
    two_servers: tuple[LiveServer, LiveServer], sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[GraphQLClient, GraphQLClient]]:
    empty_collections(sync_db)
    docs = []
    for i in range(1, 61):
        doc: dict[str, Any] = {
            "_id": f"p{i:03d}",
            "plan": PLANS[i % 3],
            "seats": i % 17,
            "balance": i % 11,
        }
        if i % 4:
            doc["region"] = REGIONS[i % 3]
        if i % 7 == 0:
            doc["closed"] = True  # values kept, but no longer in the directory
        docs.append(doc)
    sync_db[COLLECTION].insert_many(docs)
    with (
        httpx.Client(base_url=two_servers[0].url, timeout=60) as a,
        httpx.Client(base_url=two_servers[1].url, timeout=60) as b,
    ):
        yield GraphQLClient(a), GraphQLClient(b)


MEMBERS = """query($id: ID!, $after: String) { segment(id: $id) {
  memberCount { members unknown strategy }
  members(first: 8, after: $after) { memberIds endCursor hasNextPage strategy } } }"""


def all_members(gql: GraphQLClient, segment_id: str) -> tuple[list[str], dict[str, Any], set[str]]:
    ids: list[str] = []
    after = None
    strategies = set()
    while True:
        data = gql.query(MEMBERS, {"id": segment_id, "after": after})["segment"]
        page = data["members"]
        ids += page["memberIds"]
        strategies.add(page["strategy"])
        if not page["hasNextPage"]:
            return ids, data["memberCount"], strategies
        after = page["endCursor"]


SEGMENTS: list[tuple[str, bool]] = [
    ('profile.plan = "PRO"', True),
    ('profile.plan IN ("PRO", "TEAM") AND profile.seats >= 8', True),
    ('profile.seats < 3 OR profile.region = "eu"', True),
    ('profile.plan = "TEAM" AND NOT (profile.region = "us")', True),
    # Matches subscribers with no translated value at all: evaluated, not pushed down.
    ('NOT (profile.plan = "FREE")', False),
    # ENDS_WITH has no translation: evaluated.
    ('profile.region ENDS WITH "u"', False),
    # A bare stored balance is in the property's declared EUR, as the provider says.
    ("profile.balance > 5 EUR", True),
    ('profile.balance IN (3 EUR, 7 EUR) OR profile.plan = "TEAM"', True),
]
"""(conditions, whether the pushing server pushes them down)."""


@pytest.mark.parametrize(("text", "pushed"), SEGMENTS)
def test_pushed_down_and_evaluated_answers_agree(
    clients: tuple[GraphQLClient, GraphQLClient], text: str, pushed: bool
) -> None:
    fast_ids = members_both_ways(clients, text, pushed)
    assert 0 < len(fast_ids) < 60
    assert not {f"p{i:03d}" for i in range(7, 61, 7)} & set(fast_ids)  # closed: not listed


def test_a_page_of_counts_pushes_down_what_it_can_and_walks_once_for_the_rest(
    clients: tuple[GraphQLClient, GraphQLClient],
) -> None:
    """Every segment of :data:`SEGMENTS` counted in one request: each pushed down or walked
    (the walked ones together) as when it is counted alone, with the same count on the
    server that pushes nothing down."""
    fast, slow = clients
    strategies = {}
    for i, (text, pushed) in enumerate(SEGMENTS):
        created = fast.query(
            "mutation($n: String!, $t: String!) { createSegment(input: "
            '{name: $n, conditionsText: $t, tags: ["counted"]}) { segment { id } } }',
            {"n": f"segment {i}", "t": text},
        )["createSegment"]["segment"]
        strategies[created["id"]] = "PUSHED_DOWN" if pushed else "EVALUATED"
    page = """{ segments(first: 20, filter: {tags: ["counted"]}) {
                 nodes { id memberCount { members unknown strategy } } } }"""
    fast_counts = {n["id"]: n["memberCount"] for n in fast.query(page)["segments"]["nodes"]}
    slow_counts = {n["id"]: n["memberCount"] for n in slow.query(page)["segments"]["nodes"]}
    assert {i: c["strategy"] for i, c in fast_counts.items()} == strategies
    assert {c["strategy"] for c in slow_counts.values()} == {"EVALUATED"}
    for segment_id, count in fast_counts.items():
        ids, alone, _ = all_members(fast, segment_id)
        assert count == alone and count["members"] == len(ids)
        assert (count["members"], count["unknown"]) == (
            slow_counts[segment_id]["members"],
            slow_counts[segment_id]["unknown"],
        )


def members_both_ways(
    clients: tuple[GraphQLClient, GraphQLClient], text: str, pushed: bool
) -> list[str]:
    """The members of a new segment ``text`` on the pushing server, once both servers have
    listed and counted the same ones, the pushing one by the strategy expected of it."""
    fast, slow = clients
    created = fast.query(
        'mutation($t: String!) { createSegment(input: {name: "s", conditionsText: $t}) '
        "{ segment { id } userErrors { message } } }",
        {"t": text},
    )["createSegment"]
    assert created["userErrors"] == []
    segment_id = created["segment"]["id"]
    fast_ids, fast_count, fast_strategy = all_members(fast, segment_id)
    slow_ids, slow_count, slow_strategy = all_members(slow, segment_id)
    assert fast_ids == slow_ids
    assert fast_count["members"] == slow_count["members"] == len(fast_ids)
    assert slow_strategy == {"EVALUATED"} and slow_count["strategy"] == "EVALUATED"
    expected = "PUSHED_DOWN" if pushed else "EVALUATED"
    assert fast_strategy == {expected} and fast_count["strategy"] == expected
    return fast_ids


def test_a_balance_in_the_account_currency_is_unknown_both_ways(
    clients: tuple[GraphQLClient, GraphQLClient],
) -> None:
    """``profile.balance > 5`` is 5 USD, and every stored balance is in EUR: UNKNOWN for every
    listed subscriber (currency mismatch), not a member; the provider declines to translate
    it, and both servers say so alike."""
    fast, slow = clients
    created = fast.query(
        'mutation { createSegment(input: {name: "usd", conditionsText: "profile.balance > 5"}) '
        "{ segment { id } } }"
    )["createSegment"]["segment"]
    listed = 60 - len(range(7, 61, 7))
    for gql in (fast, slow):
        ids, count, strategy = all_members(gql, created["id"])
        assert ids == [] and strategy == {"EVALUATED"}
        assert count == {"members": 0, "unknown": listed, "strategy": "EVALUATED"}


def test_a_segment_written_by_one_process_is_seen_by_the_other_at_once(
    clients: tuple[GraphQLClient, GraphQLClient], two_servers: tuple[LiveServer, LiveServer]
) -> None:
    """Each process keeps the segments of a tag in memory behind the mode's write token; a
    write through another process changes the token, so the next answer reads them again."""
    a, b = clients
    ask = '{ subscriber(id: "p002") { segments(tags: ["kept"]) { segment { name } } } }'

    def names(gql: GraphQLClient) -> list[str]:
        rows = gql.query(ask)["subscriber"]["segments"]
        return sorted(row["segment"]["name"] for row in rows)

    create = """mutation($name: String!, $text: String!) { createSegment(input: {name: $name,
      conditionsText: $text, tags: ["kept"]}) { segment { id version } userErrors { message } } }"""
    made = b.query(create, {"name": "team", "text": 'profile.plan = "TEAM"'})["createSegment"]
    assert names(a) == ["team"]  # p002 is TEAM (PLANS[2 % 3])
    store = two_servers[0].app.state.services.segments.store
    kept = {key: rows for key, (_, rows) in store._answers.items() if key[:2] == ("TEST", "all")}
    assert [s.name for rows in kept.values() for s in rows] == ["team"]
    assert names(a) == ["team"]  # answered from what was kept: the same list object
    now = dict(store._answers.items())
    assert all(now[key][1] is rows for key, rows in kept.items())

    b.query(create, {"name": "pro", "text": 'profile.plan = "PRO"'})
    b.query(create, {"name": "also team", "text": 'profile.seats >= 0 AND profile.plan = "TEAM"'})
    assert names(a) == ["also team", "team"]
    archive = """mutation($id: ID!, $v: Int!) { archiveSegment(id: $id, expectedVersion: $v) {
      segment { archived } userErrors { message } } }"""
    segment = made["segment"]
    answer = b.query(archive, {"id": segment["id"], "v": segment["version"]})
    assert answer["archiveSegment"]["segment"]["archived"] is True, answer
    assert names(a) == ["also team"]

    # Pages of segments are kept the same way ("team" is archived: not listed by default).
    page = '{ segments(first: 2, filter: {tags: ["kept"]}) { totalCount nodes { name } } }'
    assert a.query(page)["segments"] == {
        "totalCount": 2,
        "nodes": [{"name": "also team"}, {"name": "pro"}],
    }
    b.query(create, {"name": "newest", "text": 'profile.plan = "FREE"'})
    assert a.query(page)["segments"] == {
        "totalCount": 3,
        "nodes": [{"name": "newest"}, {"name": "also team"}],
    }


def test_a_large_pushed_down_answer_is_checked_against_the_whole_directory(
    clients: tuple[GraphQLClient, GraphQLClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past DIRECTORY_CHECK_IN_LIMIT ids, the answer is checked by reading the directory's ids
    once instead of by ``$in`` chunks: the same members."""
    monkeypatch.setattr(evaluation, "DIRECTORY_CHECK_IN_LIMIT", 3)
    fast, slow = clients
    created = fast.query(
        'mutation { createSegment(input: {name: "s", conditionsText: "profile.seats >= 2"}) { segment { id } } }'
    )["createSegment"]["segment"]
    fast_ids, _, strategy = all_members(fast, created["id"])
    assert strategy == {"PUSHED_DOWN"}
    assert fast_ids == all_members(slow, created["id"])[0]
    assert len(fast_ids) > 3 and "p007" not in fast_ids and "p002" in fast_ids


# --- a bundled provider's translations: support tickets' tags, in mixed case ---------------------

TICKETS_TOKEN = "pushdown-token"
#: Tag lists as the ticketing system sends them; the provider stores them stripped and
#: lower-cased, so "Billing" is kept as "billing" and "Straße" as "straße" (lower() keeps ß,
#: while casefold(), which caseInsensitive conditions use, makes it "ss").
TAGS = (
    ["Billing", "Refund"],
    ["billing"],
    ["REFUND ", "Bug"],
    ["Straße"],
    ["STRASSE", "ﬁle"],
    ["bug"],
    [],
)


@pytest.fixture(scope="module")
def ticket_servers(
    settings: Settings, sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers with the support tickets provider (and ``profiles`` as the directory),
    pushing down and not."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGGRAPH_SUPPORT_TICKETS_TOKEN", TICKETS_TOKEN)
        with pushing_down_and_not(settings, ["profiles", "support_tickets"]) as servers:
            patch.undo()  # the servers have read it
            yield servers


@pytest.fixture
def ticket_clients(
    ticket_servers: tuple[LiveServer, LiveServer], sync_db: Database[dict[str, Any]]
) -> Iterator[tuple[GraphQLClient, GraphQLClient]]:
    empty_collections(sync_db)
    sync_db[COLLECTION].insert_many(
        [{"_id": f"p{i:03d}", "plan": "PRO", "closed": i == 14} for i in range(1, 31)]
    )
    tickets = [
        {
            "id": f"T-{i}-{n}",
            "subscriber_id": f"p{i:03d}",
            "tags": TAGS[(i + n) % len(TAGS)],
            "created_at": "2026-01-05T10:00:00+00:00",
        }
        for i in range(1, 31)
        for n in range(i % 3)  # none, one or two tickets each
    ]
    posted = httpx.post(
        f"{ticket_servers[0].url}/support-tickets/tickets",
        json={"tickets": tickets},
        headers={"authorization": f"Bearer {TICKETS_TOKEN}"},
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    with (
        httpx.Client(base_url=ticket_servers[0].url, timeout=60) as a,
        httpx.Client(base_url=ticket_servers[1].url, timeout=60) as b,
    ):
        yield GraphQLClient(a), GraphQLClient(b)


@pytest.mark.parametrize(
    ("text", "pushed", "some"),
    [
        # Case-sensitive: nothing is stored with a capital letter, so no one matches.
        ('support.tags CONTAINS ANY ("Billing")', True, False),
        ('support.tags CONTAINS ANY ("Billing", "REFUND")', True, False),
        ('support.tags CONTAINS ANY ("billing", "Bug")', True, True),
        ('support.tags CONTAINS ALL ("Refund")', True, False),
        ('support.tags CONTAINS ALL ("refund")', True, True),
        ('support.tags CONTAINS ANY ("straße")', True, True),
        # Case-insensitive: casefold on both sides, so "STRASSE" matches a stored "straße".
        ('support.tags CONTAINS ANY ("BILLING") CASE INSENSITIVE', True, True),
        ('support.tags CONTAINS ANY ("Strasse") CASE INSENSITIVE', True, True),
        ('support.tags CONTAINS ANY ("FILE") CASE INSENSITIVE', True, True),
        ('support.tags CONTAINS ALL ("Refund", "REFUND") CASE INSENSITIVE', True, True),
        ('support.tags IS NOT EMPTY AND support.tags CONTAINS ANY ("bug")', True, True),
        # Several tags that may sit on different tickets, or "none of": evaluated.
        ('support.tags CONTAINS ALL ("billing", "refund")', False, True),
        ('support.tags CONTAINS ALL ("Billing", "bug") CASE INSENSITIVE', False, True),
        ('support.tags CONTAINS NONE ("billing") CASE INSENSITIVE', False, True),
        ('support.tags CONTAINS NONE ("Billing")', False, True),
    ],
)
def test_pushed_down_tag_conditions_agree_with_evaluation_on_mixed_case_tags(
    ticket_clients: tuple[GraphQLClient, GraphQLClient], text: str, pushed: bool, some: bool
) -> None:
    fast_ids = members_both_ways(ticket_clients, text, pushed)
    assert bool(fast_ids) is some
    assert "p014" not in fast_ids  # closed: not in the directory


def create(gql: GraphQLClient, text: str) -> str:
    created = gql.query(
        'mutation($t: String!) { createSegment(input: {name: "s", conditionsText: $t}) '
        "{ segment { id } userErrors { message } } }",
        {"t": text},
    )["createSegment"]
    assert created["userErrors"] == []
    segment_id: str = created["segment"]["id"]
    return segment_id


def profiles_of(server: LiveServer) -> ProfileProvider:
    found = server.app.state.services.plugins.pm.get_plugin("profiles")
    assert isinstance(found, ProfileProvider)
    return found


PROVIDERS = "{ providers { name status lastError } }"


def test_a_translation_the_database_cannot_take_is_evaluated_instead(
    two_servers: tuple[LiveServer, LiveServer], clients: tuple[GraphQLClient, GraphQLClient]
) -> None:
    """A filter holding a Decimal (no BSON type) crashed the count; it is not pushed down, and
    the provider's lastError says why."""
    pushing, _ = clients
    segment = create(pushing, "profile.seats >= 8")
    provider = profiles_of(two_servers[0])
    provider.decimal_filters = True
    try:
        ids, count, strategies = all_members(pushing, segment)
    finally:
        provider.decimal_filters = False
    assert strategies == {"EVALUATED"} and count["strategy"] == "EVALUATED"
    assert ids == sorted(f"p{i:03d}" for i in range(1, 61) if i % 17 >= 8 and i % 7)
    [profiles] = [p for p in pushing.query(PROVIDERS)["providers"] if p["name"] == "profiles"]
    assert "its filter cannot be sent to the database" in profiles["lastError"]


def test_a_degraded_provider_is_not_pushed_down(
    two_servers: tuple[LiveServer, LiveServer],
    clients: tuple[GraphQLClient, GraphQLClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its values are UNKNOWN for one subscriber: a count does not read its collection as if
    it answered."""
    pushing, _ = clients
    segment = create(pushing, 'profile.plan = "PRO"')
    provider = profiles_of(two_servers[0])
    provider.failing = True
    status = ""
    try:
        ask = 'query($id: ID!) { segment(id: $id) { evaluate(subscriberId: "p001") { result } } }'
        for _ in range(20):  # failed calls in a row, until it is DEGRADED
            assert pushing.query(ask, {"id": segment})["segment"]["evaluate"]["result"] == "UNKNOWN"
            providers = pushing.query(PROVIDERS)["providers"]
            [status] = [p["status"] for p in providers if p["name"] == "profiles"]
            if status == "DEGRADED":
                break
        assert status == "DEGRADED"
        count = pushing.query(MEMBERS, {"id": segment, "after": None})["segment"]["memberCount"]
    finally:
        provider.failing = False
        # The server serves the other tests: its cool-down ends now rather than in 30 s.
        record = two_servers[0].app.state.services.plugins._records["profiles"]
        record.failures_in_row, record.skip_until = 0, 0.0
    assert count["strategy"] == "EVALUATED" and count["members"] == 0 and count["unknown"] > 0
