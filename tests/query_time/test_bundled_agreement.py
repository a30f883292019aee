"""Bulk answers agree with single answers over the REAL bundled providers.

The cardinal rule: a segment's ``memberCount`` and ``members`` (walked over the directory, or
pushed down to the support tickets' collection) say exactly what each subscriber's own
``membership`` says. The other tests check it with test providers; this one loads the demo's
billing, CRM, CDP and custom property data (a fixed seed) for a few score subscribers, adds
support tickets with tags in mixed case, custom values of every type and subscribers no
directory lists, and compares, in TEST and in LIVE, every segment's count and its members in
one page and in small pages followed by their cursors, for segments that combine providers,
nest groups, read other segments (an archived one too) and draw percentage buckets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from seggraph_billing.store import DIRECTORY_QUERY

from seggraph.demo.loader import load_demo
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer

SIZE = 90
TOKEN = "agreement-token"
WRITE_KEY = "agreement-write-key"
#: Known to other providers (tickets, the CDP, custom values) but to no billing customer: the
#: directory does not list them, so no count or list holds them, whatever their own answers.
UNLISTED = ("cus_unlisted_1", "CUS_DEMO_00001")
#: Tags as a helpdesk sends them (stored stripped and lower-cased).
TAGS: tuple[list[str], ...] = (
    ["Billing", "Refund"],
    ["BUG"],
    ["Straße"],
    ["STRASSE", "ﬁx"],
    [],
    ["refund", "bug"],
)

#: Conditions in the text form; ``{n}`` is replaced by the id of the n-th segment made.
TEXTS = (
    'support.tags CONTAINS ANY ("billing", "refund")',  # 0: pushed down
    'support.tags CONTAINS ANY ("STRASSE") CASE INSENSITIVE',  # 1: pushed down
    'support.tags IS NOT EMPTY AND NOT (support.tags CONTAINS ALL ("bug"))',  # 2: pushed down
    'support.tags CONTAINS NONE ("bug") AND support.open_tickets = 0',
    'subscriber.mrr > 50 AND plan.interval IN ("MONTH", "YEAR")',
    "subscriber.mrr > 50 EUR OR subscription.is_free_trial IS TRUE",  # UNKNOWN for many
    'crm.annual_revenue >= 1000000 OR crm.lifecycle_stage != "CUSTOMER"',
    "cdp.days_since_last_seen NOT BETWEEN 0 AND 10 OR cdp.event.login.count_30d >= 3",
    'custom.note CONTAINS "hello" CASE INSENSITIVE OR custom.score NOT IN (1, 2)',
    'custom.due IN LAST 30 DAYS OR custom.labels CONTAINS ANY ("ss") CASE INSENSITIVE',
    'custom.seats >= 3 AND subscription.status != "CANCELED"',
    "ANY(ALL(subscriber.ltv > 100, NONE(crm.company_size < 50, support.open_tickets > 0)),"
    " custom.account_tier IS NOT SET)",
    'subscriber.bucket PERCENTAGE 40 AND NOT (subscriber.status = "CANCELED")',
    'IN SEGMENT "{0}" AND NOT IN SEGMENT "{4}"',
    'NOT IN SEGMENT "{12}" OR IN SEGMENT "{2}"',
    'IN SEGMENT "{13}" OR support.satisfaction < 3',
)
#: Made in TEST, then copied to LIVE (a segment's references first).
COPIED = (0, 2, 4, 5, 7, 12, 13)
#: Archived after it is copied (IN SEGMENT still reads it; its own count still counts).
ARCHIVED = 4


@pytest.fixture(scope="module")
def server(mongo_uri: str, database_name: str) -> Iterator[LiveServer]:
    """A database of its own holding the demo (which refuses one holding other tests' data)
    and a server with every bundled provider, the CDP's traits and events declared."""
    name = f"{database_name}_agreement"
    settings = Settings(mongodb_uri=mongo_uri, database=name, auth=False, _env_file=None)  # type: ignore[call-arg]
    asyncio.run(load_demo(settings, mongo_uri, subscribers=SIZE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGGRAPH_CDP_TRAITS", "plan:TEXT,seats:NUMBER,role:TEXT")
        patch.setenv("SEGGRAPH_CDP_EVENTS", "Login,Feature Used,Report Exported")
        patch.setenv("SEGGRAPH_CDP_WRITE_KEY", WRITE_KEY)
        patch.setenv("SEGGRAPH_SUPPORT_TICKETS_TOKEN", TOKEN)
        live = LiveServer(settings)
        live.start()
    try:
        yield live
    finally:
        live.stop()
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
        client.drop_database(name)
        client.close()


def client(server: LiveServer, mode: str) -> GraphQLClient:
    return GraphQLClient(
        httpx.Client(base_url=server.url, timeout=120, headers={"X-Seggraph-Mode": mode})
    )


def stored(mongo_uri: str, database_name: str) -> tuple[list[str], list[str]]:
    """The directory's subscriber ids (billing's customers), and every subscription id."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        db = mongo[f"{database_name}_agreement"]
        customers = db["billing_customers"].find(DIRECTORY_QUERY, {"_id": 1})
        subscriptions = db["billing_subscriptions"].find({}, {"_id": 1})
        return sorted(str(d["_id"]) for d in customers), sorted(
            str(d["_id"]) for d in subscriptions
        )
    finally:
        mongo.close()


def add_data(
    server: LiveServer, gql: GraphQLClient, ids: list[str], subscriptions: list[str]
) -> None:
    """Tickets, CDP calls and custom values, some for subscribers no directory lists."""
    now = datetime.now(UTC)
    subjects = [*ids[::3], *UNLISTED]
    tickets = [
        {
            "id": f"T-{i}-{n}",
            "subscriber_id": subject,
            "status": ("open", "solved", "pending", "closed")[(i + n) % 4],
            "tags": TAGS[(i + n) % len(TAGS)],
            "created_at": (now - timedelta(days=(i * 7 + n) % 45, minutes=5)).isoformat(),
            "satisfaction": (None, 1, 4, 5)[(i + n) % 4],
        }
        for i, subject in enumerate(subjects)
        for n in range(i % 3 + 1)
    ]
    posted = httpx.post(
        f"{server.url}/support-tickets/tickets",
        json={"tickets": tickets},
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text
    calls = [
        call
        for i, subject in enumerate([*UNLISTED, *ids[1:30:4]])
        for call in (
            {"type": "identify", "userId": subject, "traits": {"plan": "Pro", "seats": i}},
            {
                "type": "track",
                "userId": subject,
                "event": "Login",
                "timestamp": (now - timedelta(days=i % 40)).isoformat(),
            },
        )
    ]
    sent = httpx.post(
        f"{server.url}/cdp/v1/batch", json={"batch": calls}, auth=(WRITE_KEY, ""), timeout=60
    )
    assert sent.status_code == 200, sent.text
    for key, kind, of in (
        ("note", "TEXT", "SUBSCRIBER"),
        ("score", "NUMBER", "SUBSCRIBER"),
        ("due", "DATE", "SUBSCRIBER"),
        ("labels", "LIST", "SUBSCRIBER"),
        ("seats", "NUMBER", "SUBSCRIPTION"),
    ):
        made = gql.query(
            "mutation($i: CreateCustomPropertyInput!) { createCustomProperty(input: $i) "
            "{ userErrors { message } } }",
            {"i": {"key": key, "label": key, "type": kind, "object": of}},
        )
        assert made["createCustomProperty"]["userErrors"] == []
    today = now.date()
    values: list[dict[str, Any]] = []
    for i, subject in enumerate([*ids[::2], *UNLISTED]):
        values += [
            {
                "key": "note",
                "subscriberId": subject,
                "value": ("Hello", "HELLO you", "", "Straße")[i % 4],
            },
            {"key": "score", "subscriberId": subject, "value": (1, 2, 2.5, "100.00")[i % 4]},
            {"key": "due", "subscriberId": subject, "value": str(today - timedelta(days=i % 35))},
            {"key": "labels", "subscriberId": subject, "value": (["ß"], ["SS", "a"], [])[i % 3]},
        ]
    values += [
        {"key": "seats", "subscriptionId": subscription, "value": i % 6}
        for i, subscription in enumerate(subscriptions[::2])
    ]
    written = gql.query(
        "mutation($v: [CustomPropertyValueInput!]!) { setCustomPropertyValues(values: $v) "
        "{ userErrors { message } } }",
        {"v": values},
    )
    assert written["setCustomPropertyValues"]["userErrors"] == []


def make_segments(test: GraphQLClient, live: GraphQLClient) -> tuple[list[str], list[str]]:
    made: list[str] = []
    for n, text in enumerate(TEXTS):
        answer = test.query(
            "mutation($i: CreateSegmentInput!) { createSegment(input: $i) "
            "{ segment { id } userErrors { message } } }",
            {"i": {"name": f"agreement {n}", "conditionsText": text.format(*made)}},
        )["createSegment"]
        assert answer["userErrors"] == [], (text, answer)
        made.append(answer["segment"]["id"])
    copies = []
    for n in COPIED:
        copy = live.query(
            "mutation($id: ID!) { copySegmentToMode(id: $id, mode: LIVE) "
            "{ segment { id } userErrors { message } } }",
            {"id": made[n]},
        )["copySegmentToMode"]
        assert copy["userErrors"] == [], copy
        copies.append(copy["segment"]["id"])
    for gql, ident in ((test, made[ARCHIVED]), (live, copies[COPIED.index(ARCHIVED)])):
        archived = gql.query(
            "mutation($id: ID!) { archiveSegment(id: $id) { userErrors { message } } }",
            {"id": ident},
        )
        assert archived["archiveSegment"]["userErrors"] == []
    return made, copies


def results(
    gql: GraphQLClient, subjects: list[str], segments: list[str]
) -> dict[str, dict[str, str]]:
    """Each subject's own answer for each segment (MEMBER, NOT_MEMBER, UNKNOWN)."""
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(subjects), 25):
        chunk = subjects[start : start + 25]
        fields = " ".join(
            f"s{i}: subscriber(id: {json.dumps(subject)}) "
            "{ membership(segmentIds: $ids) { segment { id } result } }"
            for i, subject in enumerate(chunk)
        )
        data = gql.query(f"query($ids: [ID!]!) {{ {fields} }}", {"ids": segments})
        for i, subject in enumerate(chunk):
            out[subject] = {m["segment"]["id"]: m["result"] for m in data[f"s{i}"]["membership"]}
    return out


def paged(gql: GraphQLClient, segments: list[str], first: int) -> dict[str, list[str]]:
    """Every segment's members, ``first`` at a time, all segments' pages asked together."""
    found: dict[str, list[str]] = {ident: [] for ident in segments}
    cursors: dict[str, str | None] = dict.fromkeys(segments)
    pending = list(segments)
    while pending:
        fields = " ".join(
            f"s{i}: segment(id: {json.dumps(ident)}) {{ members(first: {first}, after: "
            f"{json.dumps(cursors[ident])}) {{ memberIds endCursor hasNextPage }} }}"
            for i, ident in enumerate(pending)
        )
        data = gql.query(f"{{ {fields} }}")
        still = []
        for i, ident in enumerate(pending):
            page = data[f"s{i}"]["members"]
            assert len(page["memberIds"]) <= first
            found[ident] += page["memberIds"]
            cursors[ident] = page["endCursor"]
            if page["hasNextPage"]:
                still.append(ident)
        pending = still
    return found


def test_counts_and_members_agree_with_each_subscribers_answer(
    server: LiveServer, mongo_uri: str, database_name: str
) -> None:
    test, live = client(server, "TEST"), client(server, "LIVE")
    ids, subscriptions = stored(mongo_uri, database_name)
    assert len(ids) == SIZE
    add_data(server, test, ids, subscriptions)
    made, copies = make_segments(test, live)
    strategies: set[str] = set()
    for gql, segments in ((test, made), (live, copies)):
        own = results(gql, [*ids, *UNLISTED], segments)
        fields = " ".join(
            f"s{i}: segment(id: {json.dumps(ident)}) {{ memberCount {{ members unknown }} "
            "members(first: 500) { memberIds hasNextPage strategy totalCount } }"
            for i, ident in enumerate(segments)
        )
        together = gql.query(f"{{ {fields} }}")
        small = paged(gql, segments, 4)
        for i, ident in enumerate(segments):
            members = [s for s in ids if own[s][ident] == "MEMBER"]
            unknown = sum(1 for s in ids if own[s][ident] == "UNKNOWN")
            answer = together[f"s{i}"]
            strategies.add(answer["members"]["strategy"])
            said = (answer["memberCount"], answer["members"]["memberIds"], small[ident])
            assert said == ({"members": len(members), "unknown": unknown}, members, members), (
                gql.query(f'{{ segment(id: "{ident}") {{ mode conditionsText }} }}')
            )
            assert answer["members"]["totalCount"] == len(members)
            assert answer["members"]["hasNextPage"] is False
        # Those the directory does not list answer for themselves, and are in no list.
        assert any(own[s][i] == "MEMBER" for s in UNLISTED for i in segments)
    assert strategies == {"PUSHED_DOWN", "EVALUATED"}
