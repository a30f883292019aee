"""A profile's bounds: its number of trait names (``SEGGRAPH_CDP_MAX_TRAITS``), each trait
value's size (``SEGGRAPH_CDP_MAX_TRAIT_BYTES``) and each trait name's length. A message past one
is a 400 naming it and its profile, and nothing of its request is stored. And a question reads
only the traits it asks for, whatever else a profile holds."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase
from seggraph_cdp.messages import MAX_TRAIT_NAME, BadMessage, Limits, parse_request
from seggraph_cdp.plugin import CdpPlugin
from seggraph_cdp.provider import CdpProvider
from seggraph_cdp.store import ProfileFull

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.settings import Settings
from tests.conftest import empty_collections
from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_ingestion import post, snapshot
from tests.providers.servers import PluginServer

Db = SyncDatabase[dict[str, Any]]
MAX_TRAITS = 5
MAX_TRAIT_BYTES = 64
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def small_settings() -> Any:
    return cdp_settings(max_traits=MAX_TRAITS, max_trait_bytes=MAX_TRAIT_BYTES)


@pytest.fixture(scope="module")
def small_server(settings: Settings) -> Iterator[PluginServer]:
    server = PluginServer(settings, [("cdp", CdpPlugin(small_settings()))])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def small(small_server: PluginServer, sync_db: Db) -> Iterator[httpx.Client]:
    """A client on a server whose profiles hold at most 5 traits of at most 64 bytes each."""
    empty_collections(sync_db, "cdp_")
    with httpx.Client(base_url=small_server.url, timeout=30) as client:
        yield client


def traits_of(db: Db, user: str) -> dict[str, Any]:
    profile = db["cdp_profiles"].find_one({"_id": user})
    assert profile is not None
    assert set(profile["trait_at"]) == set(profile["traits"])
    return dict(profile["traits"])


def refused(response: httpx.Response, where: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"].startswith(f"{where}: "), body
    return str(body["error"])


def test_a_message_past_the_profiles_bound_is_400_and_writes_nothing(
    small: httpx.Client, sync_db: Db
) -> None:
    post(small, "identify", {"userId": "cus_1", "traits": {"a": 1, "b": 2, "c": 3, "d": 4}})
    before = snapshot(sync_db)
    response = post(
        small,
        "identify",
        {"userId": "cus_1", "messageId": "m2", "traits": {"a": 9, "e": 5, "f": 6}},
    )
    error = refused(response, "traits")
    assert "'cus_1'" in error and "SEGGRAPH_CDP_MAX_TRAITS" in error and "at most 5" in error
    assert "would hold 6" in error and "holds 4" in error
    assert snapshot(sync_db) == before
    # Nothing of it was stored, so it is no duplicate when sent again, and refused again.
    again = post(small, "identify", {"userId": "cus_1", "messageId": "m2", "traits": {"e": 5}})
    assert again.json()["accepted"] == 1
    assert traits_of(sync_db, "cus_1") == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}


def test_the_traits_a_full_profile_holds_can_still_be_updated(
    small: httpx.Client, sync_db: Db
) -> None:
    full = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert post(small, "identify", {"userId": "u", "traits": full}).status_code == 200
    response = post(small, "identify", {"userId": "u", "traits": {"a": 10, "e": 50}})
    assert response.status_code == 200, response.text
    assert traits_of(sync_db, "u") == {**full, "a": 10, "e": 50}
    # Messages without traits are not bounded at all.
    assert post(small, "track", {"userId": "u", "event": "Signed Up"}).status_code == 200
    assert post(small, "page", {"userId": "u"}).status_code == 200
    refused(post(small, "identify", {"userId": "u", "traits": {"a": 1, "f": 6}}), "traits")
    assert traits_of(sync_db, "u") == {**full, "a": 10, "e": 50}
    # Another profile is bounded by itself.
    assert post(small, "identify", {"userId": "v", "traits": {"f": 6}}).status_code == 200


def test_a_profile_past_a_bound_lowered_since_can_update_but_not_add(
    small: httpx.Client, sync_db: Db
) -> None:
    names = {f"t{i}": i for i in range(MAX_TRAITS + 3)}
    sync_db["cdp_profiles"].insert_one(
        {"_id": "old", "traits": names, "trait_at": {name: NOW for name in names}}
    )
    ok = post(small, "identify", {"userId": "old", "traits": {"t0": "x", "t7": "y"}})
    assert ok.status_code == 200, ok.text
    assert traits_of(sync_db, "old") == {**names, "t0": "x", "t7": "y"}
    error = refused(post(small, "identify", {"userId": "old", "traits": {"new": 1}}), "traits")
    assert "would hold 9" in error and "holds 8" in error


def test_one_message_with_more_traits_than_a_profile_holds_is_refused_before_storing(
    small: httpx.Client, sync_db: Db
) -> None:
    many = {f"t{i}": i for i in range(MAX_TRAITS + 1)}
    error = refused(post(small, "identify", {"userId": "u", "traits": many}), "traits")
    assert "6 traits in one message" in error and "SEGGRAPH_CDP_MAX_TRAITS" in error
    assert snapshot(sync_db) == {"cdp_events": [], "cdp_profiles": [], "cdp_event_latest": []}


def test_a_batch_is_refused_whole_at_the_message_that_takes_a_profile_past_its_bound(
    small: httpx.Client, sync_db: Db
) -> None:
    post(small, "identify", {"userId": "cus_1", "traits": {"a": 1, "b": 2, "c": 3}})
    before = snapshot(sync_db)
    batch = {
        "batch": [
            {"type": "identify", "userId": "cus_2", "traits": {"x": 1}},
            {"type": "identify", "userId": "cus_1", "traits": {"a": 5, "d": 4}},
            {"type": "track", "userId": "cus_1", "event": "Signed Up"},
            {"type": "identify", "userId": "cus_1", "traits": {"d": 6, "e": 5}},
            {"type": "identify", "userId": "cus_1", "traits": {"f": 6}},
        ]
    }
    error = refused(post(small, "batch", batch), "batch[4].traits")
    assert "'cus_1'" in error and "holds 3" in error and "would hold 6" in error
    assert snapshot(sync_db) == before  # not even cus_2's message, nor cus_1's that fit
    # Without the message past the bound, the batch is stored.
    ok = post(small, "batch", {"batch": batch["batch"][:4]})
    assert ok.json() == {"success": True, "accepted": 4, "duplicates": 0, "ignored": 0}
    assert traits_of(sync_db, "cus_1") == {"a": 5, "b": 2, "c": 3, "d": 6, "e": 5}


def test_a_batch_past_the_bound_by_itself_is_refused_for_a_new_profile(
    small: httpx.Client, sync_db: Db
) -> None:
    batch = {
        "batch": [
            {"type": "identify", "userId": "new", "traits": {"a": 1, "b": 2, "c": 3}},
            {"type": "identify", "userId": "new", "traits": {"d": 1, "e": 2, "f": 3}},
        ]
    }
    error = refused(post(small, "batch", batch), "batch[1].traits")
    assert "'new'" in error and "this request alone sends 6" in error
    assert snapshot(sync_db) == {"cdp_events": [], "cdp_profiles": [], "cdp_event_latest": []}


def test_a_trait_value_or_name_too_large_is_refused(small: httpx.Client, sync_db: Db) -> None:
    post(small, "identify", {"userId": "u", "traits": {"bio": "x" * (MAX_TRAIT_BYTES - 5)}})
    before = snapshot(sync_db)
    error = refused(
        post(small, "identify", {"userId": "u", "traits": {"bio": "x" * (MAX_TRAIT_BYTES - 4)}}),
        "traits.bio",
    )
    assert "65 bytes" in error and "SEGGRAPH_CDP_MAX_TRAIT_BYTES" in error
    nested = {"address": {"lines": ["a" * 20, "b" * 20, "c" * 20]}}
    refused(
        post(small, "batch", {"batch": [{"type": "identify", "userId": "u", "traits": nested}]}),
        "batch[0].traits.address",
    )
    long_name = {"n" * (MAX_TRAIT_NAME + 1): 1}
    refused(post(small, "identify", {"userId": "u", "traits": long_name}), "traits")
    assert snapshot(sync_db) == before


def test_parsing_checks_the_limits_it_is_given() -> None:
    limits = Limits(traits=2, trait_bytes=10)
    parse_request({"userId": "u", "traits": {"a": "12345", "b": 1}}, "identify", NOW, limits)
    for traits, where in [
        ({"a": 1, "b": 2, "c": 3}, "traits"),
        ({"a": "123456"}, "traits.a"),
        ({"a": [1]}, "traits.a"),  # a list of one int: 4 + (1 + 2 + 4) + 1 = 12 bytes
    ]:
        with pytest.raises(BadMessage) as caught:
            parse_request({"userId": "u", "traits": traits}, "identify", NOW, limits)
        assert caught.value.where == where


def test_concurrent_identifies_never_take_a_profile_past_its_bound(
    small: httpx.Client, sync_db: Db
) -> None:
    post(small, "identify", {"userId": "u", "traits": {"a": 1, "b": 2}})

    def add(name: str) -> int:
        return post(small, "identify", {"userId": "u", "traits": {name: 1}}).status_code

    names = [f"n{i}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(add, names))
    assert sorted(codes) == [200] * 3 + [400] * 9
    held = traits_of(sync_db, "u")
    assert len(held) == MAX_TRAITS
    # Exactly the accepted messages are stored.
    stored = {n for doc in sync_db["cdp_events"].find() for n in doc.get("traits", {})}
    assert stored == set(held)


class FilledMeanwhile:
    """The profiles collection, but a concurrent writer fills ``user``'s profile just before
    the first profile write: after any check a request might make first."""

    def __init__(self, profiles: Any, user: str, names: list[str]) -> None:
        self._profiles, self._user, self._names = profiles, user, names
        self.filled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._profiles, name)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        if not self.filled:
            self.filled = True
            fields = {f"{part}.{n}": NOW for n in self._names for part in ("traits", "trait_at")}
            await self._profiles.update_one({"_id": self._user}, {"$set": fields})
        return await self._profiles.bulk_write(*args, **kwargs)


@pytest.mark.parametrize("in_a_transaction", [True, False])
async def test_the_profile_write_itself_refuses_names_a_concurrent_write_took_room_for(
    small: httpx.Client, sync_db: Db, seggraph_database: Database, in_a_transaction: bool
) -> None:
    post(small, "identify", {"userId": "u", "traits": {"a": 1, "b": 2, "c": 3}})
    provider = CdpProvider(small_settings()).bind(
        seggraph_database.db, database=seggraph_database if in_a_transaction else None
    )
    filler = FilledMeanwhile(provider.store.profiles, "u", ["x", "y"])
    provider.store.profiles = filler  # type: ignore[assignment]
    [message] = parse_request({"userId": "u", "traits": {"z": 1}}, "identify", NOW)
    with pytest.raises(BadMessage) as caught:
        await provider.ingest([message], NOW)
    assert filler.filled
    assert "holds 5" in caught.value.message and "would hold 6" in caught.value.message
    assert set(traits_of(sync_db, "u")) == {"a", "b", "c", "x", "y"}
    assert sync_db["cdp_events"].count_documents({"_id": message.message_id}) == 0


async def test_a_profile_created_meanwhile_is_tried_again_not_refused(
    small: httpx.Client, sync_db: Db, seggraph_database: Database
) -> None:
    provider = CdpProvider(small_settings()).bind(seggraph_database.db, database=seggraph_database)
    store = provider.store
    [message] = parse_request({"userId": "u", "traits": {"a": 1}}, "identify", NOW)
    ingest, tries = store.ingest, []

    async def created_meanwhile(*args: Any, **kwargs: Any) -> Any:
        # What a conditional upsert meets when a concurrent request creates the profile
        # between its match and its insert: the _id is taken, though the names fit.
        tries.append(1)
        if len(tries) == 1:
            raise ProfileFull({"u": [message]})
        return await ingest(*args, **kwargs)

    store.ingest = created_meanwhile  # type: ignore[method-assign]
    result = await provider.ingest([message], NOW)
    assert result.accepted == 1 and len(tries) == 2
    assert traits_of(sync_db, "u") == {"a": 1}


async def test_a_question_reads_only_the_traits_it_asks_for(
    small: httpx.Client, seggraph_database: Database
) -> None:
    traits = {"plan": "pro", "seats": 3, **{f"t{i}": i for i in range(2)}}
    post(small, "identify", {"userId": "u", "traits": traits})
    provider = CdpProvider(small_settings()).bind(seggraph_database.db, database=seggraph_database)
    profiles = await provider.store.load_profiles(["u", "nobody"], ["plan", "absent"])
    assert set(profiles) == {"u"}
    assert profiles["u"]["traits"] == {"plan": "pro"}
    assert set(profiles["u"]) == {"_id", "first_seen", "last_seen", "traits"}
    asked: list[list[str]] = []
    load = provider.store.load_profiles

    async def spy(ids: Any, names: Any = ()) -> Any:
        asked.append(list(names))
        return await load(ids, names)

    provider.store.load_profiles = spy  # type: ignore[method-assign,assignment]
    [row] = await provider.resolve(
        [EvaluationContext("u")], ["cdp.trait.plan", "cdp.trait.first_name", "cdp.last_seen"]
    )
    assert asked == [["firstName", "plan"]]
    assert row["cdp.trait.plan"] == "pro"


def test_a_profile_update_finds_its_profile_by_id_alone() -> None:
    """The bound is checked inside the update. In its filter (an ``$expr`` beside the
    ``_id``) it made the embedded database read every profile for each update: 13 ms an
    update over 2,000 profiles, and `serve --demo` did not finish loading its CDP messages."""
    from bson import ObjectId
    from seggraph_cdp.messages import parse_message
    from seggraph_cdp.store import REFUSED, _profile_update

    now = datetime.now(UTC)
    body = {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}, "messageId": "m1"}
    update = _profile_update("u1", [parse_message(body, None, now)], 500, ObjectId())
    document = update._doc
    assert update._filter == {"_id": "u1"}
    assert isinstance(document, list) and any(
        REFUSED in stage.get("$set", {}) for stage in document
    )
