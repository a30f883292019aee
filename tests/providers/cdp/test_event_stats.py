"""The events' properties (``count_30d``, ``last_at``) as ``CdpStore.event_stats`` reads them:
the same answers as counting a subscriber's whole history, from the recent range only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database as SyncDatabase
from seggraph_cdp.messages import Message
from seggraph_cdp.properties import WINDOW
from seggraph_cdp.provider import CdpProvider
from seggraph_cdp.store import INDEXES, CdpStore, EventStats

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import MISSING
from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_ingestion import post
from tests.providers.servers import CommandLog

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
SINCE = NOW - WINDOW
#: This module's subscribers (other tests empty the CDP collections; these are emptied here).
USERS = ["es-a", "es-b", "es-c"]
NAMES = ["Order Completed", "Signed Up", "Opened"]
ORDERS = ["cdp.event.order_completed.count_30d", "cdp.event.order_completed.last_at"]
SIGN_UPS = ["cdp.event.signed_up.count_30d", "cdp.event.signed_up.last_at"]
[INDEX] = INDEXES["cdp_events"]
INDEX_FIELDS = list(INDEX.document["key"])


async def fresh_store(db: AsyncDatabase[dict[str, Any]], *users: str) -> CdpStore:
    """A store on ``db`` without ``users``' events, profiles and latest times; it reads the
    latest times from the events (as before ``cdp_event_latest`` is complete)."""
    store = CdpStore(db)
    await store.ensure_indexes()
    await store.events.delete_many({"user_id": {"$in": list(users)}})
    await store.profiles.delete_many({"_id": {"$in": list(users)}})
    await store.latest.delete_many({"user_id": {"$in": list(users)}})
    # Not complete, as far as any store knows: another test may have built them.
    await store.meta.delete_many({})
    return store


def track(key: str, user: str, event: str, at: datetime) -> Message:
    return Message(key, "track", user, at, event=event)


# Minutes from ``SINCE``: before the window, its first instant, within it, and past now (a
# client clock ahead: it counts, as the old definition had it).
offsets = st.one_of(st.just(0), st.integers(-3 * 24 * 60, 33 * 24 * 60))


@pytest.mark.parametrize("kept_apart", [False, True], ids=["from the events", "kept apart"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(USERS), st.sampled_from(NAMES), offsets), max_size=25
    ),
    late=st.integers(0, 25),
    users=st.lists(st.sampled_from([*USERS, "es-nobody"]), min_size=1, unique=True),
    names=st.lists(st.sampled_from([*NAMES, "Never Sent"]), min_size=1, unique=True),
)
# A name sent only before the window, beside one sent in it.
@example(
    events=[("es-a", "Opened", -60), ("es-a", "Opened", -5), ("es-a", "Signed Up", 10)],
    late=1,
    users=["es-a"],
    names=["Opened", "Signed Up"],
)
async def test_the_count_since_and_the_latest_time_of_any_history(
    seggraph_database: Database,
    kept_apart: bool,
    events: list[tuple[str, str, int]],
    late: int,
    users: list[str],
    names: list[str],
) -> None:
    """Per asked (subscriber, name) with an event: how many have a time at or after ``since``,
    and the latest time, computed here from the events themselves. The latest times are read
    from the events, or from ``cdp_event_latest`` as ingestion keeps it, with every event
    older than ``since`` deleted by then (as a retention would delete them)."""
    store = await fresh_store(seggraph_database.db, *USERS)
    if kept_apart:
        await store.build_latest()
    times = [(user, name, SINCE + timedelta(minutes=m)) for user, name, m in events]
    messages = [track(f"es-{i}", *event) for i, event in enumerate(times)]
    # Delivered newest first, the oldest ``late`` ones in a later request (late arrivals).
    messages.sort(key=lambda message: message.timestamp, reverse=True)
    cut = max(len(messages) - late, 0)
    await store.ingest(messages[:cut], NOW)
    await store.ingest(messages[cut:], NOW)
    if kept_apart:
        await store.prune(SINCE)
        assert await store.events.count_documents({"timestamp": {"$lt": SINCE}}) == 0
    expected = {}
    for user in users:
        for name in names:
            found = [at for u, n, at in times if (u, n) == (user, name)]
            if found:
                expected[(user, name)] = EventStats(sum(at >= SINCE for at in found), max(found))
    assert await store.event_stats(users, names, SINCE) == expected


async def test_the_edges_of_the_window_through_the_provider(seggraph_database: Database) -> None:
    users = ["es-edge", "es-late", "es-quiet"]
    store = await fresh_store(seggraph_database.db, *users)
    provider = CdpProvider(cdp_settings()).bind(seggraph_database.db)
    await store.ingest(
        [
            track("es-e1", "es-edge", "Order Completed", SINCE),
            track("es-e2", "es-edge", "Order Completed", SINCE - timedelta(milliseconds=1)),
            track("es-e3", "es-edge", "Order Completed", NOW + timedelta(days=2)),
            track("es-l1", "es-late", "Order Completed", NOW - timedelta(days=1)),
            Message("es-q1", "identify", "es-quiet", NOW - timedelta(days=3)),
        ],
        NOW,
    )
    # Received after a newer one: an older event, in the window and out of it.
    await store.ingest(
        [
            track("es-l2", "es-late", "Order Completed", NOW - timedelta(days=2)),
            track("es-l3", "es-late", "Order Completed", NOW - timedelta(days=40)),
        ],
        NOW,
    )
    rows = await provider.resolve(
        [EvaluationContext(user) for user in [*users, "es-nobody"]], ORDERS + SIGN_UPS, now=NOW
    )
    got = [[row[key] for key in ORDERS + SIGN_UPS] for row in rows]
    assert got == [
        [2, NOW + timedelta(days=2), 0, MISSING],  # at `since` counts, a millisecond before not
        [2, NOW - timedelta(days=1), 0, MISSING],
        [0, MISSING, 0, MISSING],  # known, no event
        [MISSING, MISSING, MISSING, MISSING],  # never seen
    ]


def stages(plan: Any) -> list[dict[str, Any]]:
    """Every plan stage anywhere in an explain answer (its shape differs by server)."""
    found: list[dict[str, Any]] = []
    pending = [plan]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("stage"), str):
                found.append(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def reads_a_recent_range(pipeline: list[dict[str, Any]], since: datetime) -> bool:
    """Matched on the index's fields alone, the time bounded from ``since``."""
    match = pipeline[0].get("$match", {})
    return set(match) == set(INDEX_FIELDS) and match["timestamp"] == {"$gte": since}


def reads_the_newest_per_group(pipeline: list[dict[str, Any]]) -> bool:
    """The shape MongoDB answers with a DISTINCT_SCAN: a match on the index's fields before
    the time, a sort in the index's order, a group on one field taking only ``$first``."""
    if len(pipeline) < 3 or set(pipeline[0].get("$match", {})) - set(INDEX_FIELDS[:2]):
        return False
    group = pipeline[2].get("$group", {})
    key = group.get("_id")
    accumulators = [spec for name, spec in group.items() if name != "_id"]
    return (
        list(pipeline[1].get("$sort", {}).items()) == list(INDEX.document["key"].items())
        and isinstance(key, str)
        and key.removeprefix("$") in INDEX_FIELDS[:2]
        and all(list(spec) == ["$first"] for spec in accumulators)
    )


async def test_a_long_history_is_answered_from_the_recent_range(
    logged_db: tuple[AsyncDatabase[dict[str, Any]], CommandLog],
) -> None:
    """3,000 events older than the window and 5 in it: the counts read only the entries of
    the window, which give that name's latest time too, and the latest time of a name with no
    event in the window is asked in the shape MongoDB answers with one index entry per
    subscriber and name. (SecantusDB has no DISTINCT_SCAN, and its explain counts
    no read: it reports one document examined per document an index scan returns.)"""
    db, log = logged_db
    store = await fresh_store(db, "es-long")
    provider = CdpProvider(cdp_settings()).bind(db)
    old = [
        track(f"es-o{i}", "es-long", "Order Completed", SINCE - timedelta(minutes=i + 1))
        for i in range(3000)
    ]
    dormant = [
        track(f"es-s{i}", "es-long", "Signed Up", SINCE - timedelta(days=i + 1)) for i in range(20)
    ]
    recent = [
        track(f"es-r{i}", "es-long", "Order Completed", NOW - timedelta(hours=i)) for i in range(5)
    ]
    await store.ingest(old + dormant + recent, NOW)
    log.clear()
    [row] = await provider.resolve([EvaluationContext("es-long")], ORDERS + SIGN_UPS, now=NOW)
    assert [row[key] for key in ORDERS + SIGN_UPS] == [5, NOW, 0, SINCE - timedelta(days=1)]
    assert any(reads_a_recent_range(p, SINCE) for p in log.pipelines), log.pipelines
    assert all(
        reads_a_recent_range(p, SINCE) or reads_the_newest_per_group(p) for p in log.pipelines
    ), log.pipelines
    # The latest time is asked only of the name with no event in the window.
    [latest] = [p for p in log.pipelines if reads_the_newest_per_group(p)]
    assert latest[0]["$match"] == {"user_id": "es-long", "event": "Signed Up"}

    # One name: the count walks that pair's index range back to `since`, and finds the 5.
    log.clear()
    [row] = await provider.resolve([EvaluationContext("es-long")], ORDERS, now=NOW)
    assert [row[key] for key in ORDERS] == [5, NOW]
    # Active this month: the count's read is the only one (its latest counted is the latest).
    [counting] = log.pipelines
    assert reads_a_recent_range(counting, SINCE)
    plan = await db.command(
        {
            "explain": {"aggregate": "cdp_events", "pipeline": counting, "cursor": {}},
            "verbosity": "executionStats",
        }
    )
    found = stages(plan)
    assert {s["indexName"] for s in found if "indexName" in s} == {INDEX.document["name"]}
    assert not [s for s in found if s["stage"] == "COLLSCAN" or "filter" in s], plan
    stats = plan.get("executionStats") or plan["stages"][0]["$cursor"]["executionStats"]
    assert stats["totalDocsExamined"] <= 5, stats


def test_only_track_calls_store_an_event_name(
    cdp: httpx.Client, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """``event_stats`` matches ``event`` alone (no ``type``): an ``event`` in any other call
    is not stored, so it is never counted."""
    kinds = ["identify", "page", "screen", "group", "alias"]
    batch = [
        {"type": kind, "userId": "es-kinds", "event": "Order Completed", "messageId": f"es-{kind}"}
        for kind in kinds
    ]
    post(cdp, "batch", {"batch": batch})
    stored = list(sync_db["cdp_events"].find({"user_id": "es-kinds"}))
    assert sorted(doc["type"] for doc in stored) == sorted(kinds)
    assert not [doc for doc in stored if "event" in doc]
