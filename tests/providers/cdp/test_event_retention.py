"""Each event's latest time kept apart (``cdp_event_latest``), filled once from an older
database's events, and the events past ``SEGGRAPH_CDP_EVENT_RETENTION_DAYS`` deleted without any
property changing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database as SyncDatabase
from seggraph_cdp.messages import Message
from seggraph_cdp.properties import WINDOW
from seggraph_cdp.provider import CdpProvider
from seggraph_cdp.settings import load_cdp_settings
from seggraph_cdp.store import LATEST_BUILT, CdpStore, EventStats, latest_id

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.settings import SettingsError
from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_event_stats import fresh_store, track
from tests.providers.cdp.test_ingestion import iso, post
from tests.providers.servers import CommandLog

Db = SyncDatabase[dict[str, Any]]
NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
ORDERS = ["cdp.event.order_completed.count_30d", "cdp.event.order_completed.last_at"]
SIGN_UPS = ["cdp.event.signed_up.count_30d", "cdp.event.signed_up.last_at"]
KEYS = ORDERS + SIGN_UPS


def latest_times(db: Db) -> dict[tuple[str, str], datetime]:
    return {(doc["user_id"], doc["event"]): doc["last_at"] for doc in db["cdp_event_latest"].find()}


def test_ingestion_keeps_each_pairs_latest_time(cdp: httpx.Client, sync_db: Db) -> None:
    def track_body(message_id: str, user: str, event: str, at: datetime) -> dict[str, Any]:
        return {
            "type": "track",
            "userId": user,
            "event": event,
            "messageId": message_id,
            "timestamp": iso(at),
        }

    day = datetime(2026, 2, 1, tzinfo=UTC)
    batch = [
        track_body("k1", "cus_k", "Order Completed", day),
        track_body("k2", "cus_k", "Order Completed", day + timedelta(days=3)),
        track_body("k3", "cus_k", "Signed Up", day - timedelta(days=9)),
        track_body("k4", "cus_j", "Order Completed", day + timedelta(days=1)),
        {"type": "identify", "userId": "cus_i", "messageId": "k5", "traits": {"plan": "pro"}},
        {"type": "page", "userId": "cus_i", "messageId": "k6"},
    ]
    response = post(cdp, "batch", {"batch": batch})
    assert response.status_code == 200, response.text
    expected = {
        ("cus_k", "Order Completed"): day + timedelta(days=3),
        ("cus_k", "Signed Up"): day - timedelta(days=9),
        ("cus_j", "Order Completed"): day + timedelta(days=1),
    }
    assert latest_times(sync_db) == expected
    ids = {doc["_id"] for doc in sync_db["cdp_event_latest"].find()}
    assert ids == {latest_id(user, event) for user, event in expected}

    # An older event arriving late does not move it back; a newer one moves it on; a repeat
    # of a message already received changes nothing.
    late = track_body("k7", "cus_k", "Order Completed", day - timedelta(days=30))
    newer = track_body("k8", "cus_j", "Order Completed", day + timedelta(days=5))
    repeat = track_body("k2", "cus_k", "Signed Up", day + timedelta(days=50))
    response = post(cdp, "batch", {"batch": [late, newer, repeat]})
    assert response.json()["duplicates"] == 1, response.text
    assert latest_times(sync_db) == {**expected, ("cus_j", "Order Completed"): day + timedelta(5)}

    # A refused request keeps nothing of its events' times.
    refused = [track_body("k9", "cus_k", "Order Completed", day + timedelta(days=90)), {}]
    assert post(cdp, "batch", {"batch": refused}).status_code == 400
    assert latest_times(sync_db)[("cus_k", "Order Completed")] == day + timedelta(days=3)


async def test_the_same_new_pair_noted_at_once_keeps_the_later_time(
    seggraph_database: Database,
) -> None:
    """Requests storing the first events of one pair at the same moment (outside a
    transaction): one upsert finds the ``_id`` the other created, and the later time stays."""
    store = await fresh_store(seggraph_database.db, "rt-race")
    for round_ in range(5):
        await store.latest.delete_many({"user_id": "rt-race"})
        times = [NOW - timedelta(hours=h) for h in range(6)]
        await asyncio.gather(
            *(
                store.ingest([track(f"rt-{round_}-{i}", "rt-race", "Order Completed", at)], NOW)
                for i, at in enumerate(times)
            )
        )
        docs = await store.latest.find({"user_id": "rt-race"}).to_list()
        assert [doc["last_at"] for doc in docs] == [NOW]


async def old_database(database: Database, user: str) -> CdpStore:
    """A store holding ``user``'s events as a database written before ``cdp_event_latest``
    was: the events, no latest times, no mark that they are complete."""
    store = await fresh_store(database.db, user)
    await store.ingest(
        [
            track(f"{user}-1", user, "Order Completed", NOW - timedelta(days=2)),
            track(f"{user}-2", user, "Order Completed", NOW - timedelta(days=45)),
            track(f"{user}-3", user, "Signed Up", NOW - timedelta(days=400)),
            track(f"{user}-4", user, "Signed Up", NOW - timedelta(days=700)),
            Message(f"{user}-5", "identify", user, NOW - timedelta(days=800), traits={"plan": "x"}),
        ],
        NOW,
    )
    await store.latest.delete_many({})
    await store.meta.delete_many({})
    return store


async def test_the_latest_times_of_quiet_pairs_are_read_by_id(
    logged_db: tuple[AsyncDatabase[dict[str, Any]], CommandLog],
) -> None:
    """A batch's quiet pairs are looked up by ``_id`` alone (on the embedded database a match
    on the subscribers reads every pair of the collection), and the events are not read for
    them."""
    db, log = logged_db
    users = ["rt-id-a", "rt-id-b"]
    store = await fresh_store(db, *users)
    await store.build_latest()
    await store.ingest(
        [
            track("rt-id-1", "rt-id-a", "Order Completed", NOW - timedelta(days=90)),
            track("rt-id-2", "rt-id-b", "Signed Up", NOW - timedelta(days=60)),
        ],
        NOW,
    )
    log.clear()
    found = await store.event_stats(users, ["Order Completed", "Signed Up"], NOW - WINDOW)
    assert found == {
        ("rt-id-a", "Order Completed"): EventStats(0, NOW - timedelta(days=90)),
        ("rt-id-b", "Signed Up"): EventStats(0, NOW - timedelta(days=60)),
    }
    [(collection, query)] = log.finds
    assert collection == "cdp_event_latest"
    assert query == {
        "_id": {
            "$in": [
                latest_id(user, name) for user in users for name in ["Order Completed", "Signed Up"]
            ]
        }
    }
    assert len(log.pipelines) == 1  # the counts' read alone


async def test_an_older_database_is_filled_once_and_answers_the_same(
    seggraph_database: Database,
) -> None:
    store = await old_database(seggraph_database, "rt-old")
    contexts = [EvaluationContext("rt-old"), EvaluationContext("rt-none")]
    provider = CdpProvider(cdp_settings(), clock=lambda: NOW).bind(seggraph_database.db)
    assert not await provider.store.check_latest()
    from_events = await provider.resolve(contexts, KEYS, now=NOW)
    assert [from_events[0][key] for key in KEYS] == [
        1,
        NOW - timedelta(days=2),
        0,
        NOW - timedelta(days=400),
    ]

    await provider.start()  # no retention: one turn of upkeep, the build, then it ends
    assert provider._upkeep is not None
    await asyncio.wait_for(provider._upkeep, 60)
    assert provider.store.latest_complete
    found = {
        (doc["user_id"], doc["event"]): doc["last_at"]
        for doc in await store.latest.find({"user_id": "rt-old"}).to_list()
    }
    assert found == {
        ("rt-old", "Order Completed"): NOW - timedelta(days=2),
        ("rt-old", "Signed Up"): NOW - timedelta(days=400),
    }
    assert await store.meta.find_one({"_id": LATEST_BUILT}) == {
        "_id": LATEST_BUILT,
        "complete": True,
    }
    assert await provider.resolve(contexts, KEYS, now=NOW) == from_events

    # A process started later finds it complete and, without a retention, has nothing to do.
    later = CdpProvider(cdp_settings(), clock=lambda: NOW).bind(seggraph_database.db)
    await later.start()
    assert later.store.latest_complete and later._upkeep is None
    assert await later.resolve(contexts, KEYS, now=NOW) == from_events


async def test_a_process_that_found_them_incomplete_reads_what_another_completed(
    seggraph_database: Database,
) -> None:
    """Two workers start on an older database: both find the latest times incomplete; one
    fills them and deletes the events past its retention. The other, whose own fill has not
    ended, answers from the latest times the first completed, not from the events left (the
    sign-ups, 400 and 700 days old, are gone from them)."""
    other = await old_database(seggraph_database, "rt-other")
    assert not await other.check_latest()
    first = CdpStore(seggraph_database.db)
    await first.build_latest()
    await first.prune(NOW - timedelta(days=31))
    assert await other.events.count_documents({"user_id": "rt-other"}) == 1
    found = await other.event_stats(["rt-other"], ["Order Completed", "Signed Up"], NOW - WINDOW)
    assert found == {
        ("rt-other", "Order Completed"): EventStats(1, NOW - timedelta(days=2)),
        ("rt-other", "Signed Up"): EventStats(0, NOW - timedelta(days=400)),
    }
    assert other.latest_complete


async def test_an_answer_read_before_this_process_completed_them_does_not_undo_it(
    seggraph_database: Database,
) -> None:
    """A read asks ``cdp_meta`` while this process's own fill ends: the answer, read before the
    fill marked the latest times complete, said incomplete and undid what the fill had just
    set, so the process went back to reading them from the events, and its next upkeep filled
    them all again from the events."""
    store = await old_database(seggraph_database, "rt-race")
    meta = store.meta

    class FillEndsMeanwhile:
        def __getattr__(self, name: str) -> Any:
            return getattr(meta, name)

        async def find_one(self, *args: Any, **kwargs: Any) -> Any:
            found = await meta.find_one(*args, **kwargs)
            await store.build_latest()  # ends while the answer is on its way
            return found

    store.meta = FillEndsMeanwhile()  # type: ignore[assignment]
    assert await store.check_latest()  # complete, as this process's own fill knows
    assert store.latest_complete


async def test_events_past_the_retention_are_deleted_and_no_property_changes(
    seggraph_database: Database,
) -> None:
    """An older database, a 31-day retention: the start fills the latest times first, then
    deletes the events older than 31 days, and every property answers as before."""
    store = await old_database(seggraph_database, "rt-kept")
    settings = cdp_settings(event_retention_days=31)
    provider = CdpProvider(settings, clock=lambda: NOW).bind(seggraph_database.db)
    contexts = [EvaluationContext("rt-kept")]
    before = await provider.resolve(contexts, KEYS, now=NOW)
    await provider.start()
    try:
        for _ in range(600):  # the first turn of upkeep, in the background
            old = {"user_id": "rt-kept", "timestamp": {"$lt": NOW - timedelta(days=31)}}
            if not await store.events.count_documents(old):
                break
            await asyncio.sleep(0.05)
        left = await store.events.find({"user_id": "rt-kept"}).to_list()
        # The events from the last 31 days stay: the recent order, and the identify call
        # (800 days old) is gone with the other old ones.
        assert sorted(doc["_id"] for doc in left) == ["rt-kept-1"]
        assert await provider.resolve(contexts, KEYS, now=NOW) == before
        indexes = {index["name"] async for index in await store.events.list_indexes()}
        assert "by_time" in indexes
        assert provider._upkeep is not None and not provider._upkeep.done()  # runs on
    finally:
        await provider.stop()
    assert provider._upkeep is None


async def test_nothing_is_deleted_before_the_latest_times_are_complete(
    seggraph_database: Database,
) -> None:
    store = await old_database(seggraph_database, "rt-early")
    with pytest.raises(RuntimeError, match="not complete"):
        await store.prune(NOW)
    assert await store.events.count_documents({"user_id": "rt-early"}) == 5


@pytest.mark.parametrize("days", ["30", "0", "-5", "a month"])
def test_a_retention_shorter_than_the_counts_window_is_refused(
    monkeypatch: pytest.MonkeyPatch, days: str
) -> None:
    monkeypatch.setenv("SEGGRAPH_CDP_EVENT_RETENTION_DAYS", days)
    with pytest.raises(SettingsError, match="SEGGRAPH_CDP_EVENT_RETENTION_DAYS"):
        load_cdp_settings()
    monkeypatch.setenv("SEGGRAPH_CDP_EVENT_RETENTION_DAYS", "31")
    assert load_cdp_settings().event_retention_days == 31
