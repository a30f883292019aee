"""The documents read together at each request's start (``seggraph.freshness``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database as SyncDatabase
from pymongo.errors import ServerSelectionTimeoutError

from seggraph.db import Database, database_unavailable
from seggraph.domain.conditions import EMPTY_ROOT
from seggraph.domain.segments import Mode, Segment
from seggraph.embedded import free_port
from seggraph.freshness import (
    FreshnessBoard,
    NotInSnapshot,
    Snapshot,
    Watched,
    snapshot_document,
    using_snapshot,
)
from seggraph.settings import Settings
from seggraph.store.segments import SegmentStore
from tests.conftest import GraphQLClient, LiveServer


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.mongodb_uri
    database = Database(settings.mongodb_uri, settings.database)
    for name in ("fresh_a", "fresh_b", "segments", "segments_meta"):
        await database.db[name].delete_many({})
    yield database
    await database.close()


async def test_one_read_finds_the_watched_documents_of_every_collection(
    database: Database,
) -> None:
    board = FreshnessBoard(database.db)
    one, two, absent = (
        Watched("fresh_a", "one"),
        Watched("fresh_b", "two"),
        Watched("fresh_b", "absent"),
    )
    for watched in (one, two, absent, Watched("fresh_a", "one")):  # watching twice watches once
        board.watch(watched)
    assert len(board._watched) == 3
    await database.db["fresh_a"].insert_many([{"_id": "one", "token": 1}, {"_id": "x"}])
    await database.db["fresh_b"].insert_one({"_id": "two", "version": 7, "token": "t"})

    documents = await board.read()
    assert board.reads == 1
    assert documents == {
        one: {"_id": "one", "token": 1},
        two: {"_id": "two", "version": 7, "token": "t"},
        absent: None,  # watched, not written yet
    }
    await database.db["fresh_b"].update_one({"_id": "two"}, {"$set": {"version": 8}})
    assert (await board.read())[two] == {"_id": "two", "version": 8, "token": "t"}


async def test_a_snapshot_is_read_once_when_first_asked_for(database: Database) -> None:
    board = FreshnessBoard(database.db)
    one = Watched("fresh_a", "one")
    board.watch(one)
    await database.db["fresh_a"].insert_one({"_id": "one", "token": 1})
    snapshot = Snapshot(board.read, [one])
    assert board.reads == 0  # nothing asked yet: nothing read
    # Not watched: answered without reading.
    assert isinstance(await snapshot.get(Watched("fresh_a", "x")), NotInSnapshot)
    assert board.reads == 0
    # The request's resolvers asking at once share its one read.
    found = await asyncio.gather(*(snapshot.get(one) for _ in range(5)))
    assert found == [{"_id": "one", "token": 1}] * 5
    await database.db["fresh_a"].update_one({"_id": "one"}, {"$set": {"token": 2}})
    assert await snapshot.get(one) == {"_id": "one", "token": 1}  # the request's, kept
    assert board.reads == 1


async def test_a_request_waits_for_a_database_that_does_not_answer_once() -> None:
    """The snapshot's read failing for want of a database (here: nothing listens on its
    port) fails the request's later askers with the same error, without reading again: the
    request's freshness checks met it first, and each resolver asking after them waited the
    database timeout once more (a query took twice SEGGRAPH_DATABASE_TIMEOUT_SECONDS)."""
    database = Database(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        "nowhere",
        server_selection_timeout_ms=100,
    )
    try:
        board = FreshnessBoard(database.db, database.operation_timeout)
        one = Watched("fresh_a", "one")
        board.watch(one)
        snapshot = board.begin_request()
        with pytest.raises(ServerSelectionTimeoutError) as first:
            await snapshot.get(one)
        assert database_unavailable(first.value)
        for _ in range(3):  # a freshness check, then the resolvers
            with pytest.raises(ServerSelectionTimeoutError):
                await snapshot.get(one)
        assert board.reads == 1
        # The next request reads again (the database may be back).
        with pytest.raises(ServerSelectionTimeoutError):
            await board.begin_request().get(one)
        assert board.reads == 2
    finally:
        await database.close()


async def test_requests_asking_at_once_share_one_read(database: Database) -> None:
    board = FreshnessBoard(database.db)
    watched = Watched("fresh_a", "one")
    board.watch(watched)
    await database.db["fresh_a"].insert_one({"_id": "one", "token": 1})
    snapshots = [Snapshot(board.read, [watched]) for _ in range(10)]
    found = await asyncio.gather(*(s.get(watched) for s in snapshots))
    assert found == [{"_id": "one", "token": 1}] * 10
    assert board.reads == 1


def _segment(mode: Mode) -> Segment:
    now = datetime.now(UTC)
    return Segment(
        id=str(ObjectId()),
        mode=mode,
        name="s",
        description="",
        tags=(),
        conditions=EMPTY_ROOT,
        version=1,
        archived=False,
        created_at=now,
        created_by="t",
        updated_at=now,
        updated_by="t",
    )


async def test_the_segments_token_comes_from_the_snapshot_until_the_request_writes(
    database: Database,
) -> None:
    """Within a request, the write token is the one its start read, except after the request
    wrote a segment of that mode: then it is read again, so the request sees its own write."""
    board = FreshnessBoard(database.db)
    store = SegmentStore(database.db, board)
    await store.insert(_segment(Mode.LIVE))
    token_reads = store._token_reads[Mode.LIVE]

    with using_snapshot(Snapshot(board.read, board._watched)):
        first = await store.write_token(Mode.LIVE)
        assert first is not None and token_reads.reads == 0  # from the snapshot

        # Another process writes: this request keeps the token its start read.
        await database.db["segments_meta"].update_one(
            {"_id": "written:LIVE"}, {"$set": {"token": ObjectId()}}
        )
        assert await store.write_token(Mode.LIVE) == first

        # This request writes: its next token is read afresh, and differs.
        await store.insert(_segment(Mode.LIVE))
        after = await store.write_token(Mode.LIVE)
        assert after != first and token_reads.reads == 1
        assert isinstance(await snapshot_document(store._watched[Mode.LIVE]), NotInSnapshot)
        # The other mode is still the snapshot's.
        await store.write_token(Mode.TEST)
        assert store._token_reads[Mode.TEST].reads == 0

    # Outside a request: read every time.
    await store.write_token(Mode.LIVE)
    assert token_reads.reads == 2


def test_a_request_reads_its_watched_documents_once(
    gql: GraphQLClient, live_server: LiveServer, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """``subscriber { segments }`` and a custom-properties catalogue: the segments' token and
    the catalogue version come from the one read at the request's start, none of their own."""
    services = live_server.app.state.services
    created = gql.query(
        'mutation { createSegment(input: {name: "s", conditionsText: "subscriber.mrr > 0",'
        ' tags: ["f"]}) { segment { id } } }'
    )["createSegment"]["segment"]
    assert created["id"]
    watched = {(w.collection, w.doc_id) for w in services.freshness._watched}
    assert {("segments_meta", "written:LIVE"), ("custom_meta", "catalogue")} <= watched

    custom = services.custom_properties
    token_reads = services.segments.store._token_reads
    before = (
        services.freshness.reads,
        sum(r.reads for r in token_reads.values()),
        custom._version_read.reads,
    )
    for _ in range(3):
        rows = gql.query('{ subscriber(id: "c1") { segments(tags: ["f"]) { segment { id } } } }')
        assert rows["subscriber"]["segments"] == []
    after = (
        services.freshness.reads,
        sum(r.reads for r in token_reads.values()),
        custom._version_read.reads,
    )
    assert after[0] - before[0] == 3  # one read per request (they came one after the other)
    assert after[1:] == before[1:]  # no read of a token or of the catalogue version of its own


def test_a_request_that_needs_no_watched_document_reads_none(
    settings: Settings, start_live_server: Any
) -> None:
    """Without the custom-properties provider, ``{ __typename }`` asks for no watched
    document, so it makes no read; ``subscriber { segments }`` makes one."""
    server: LiveServer = start_live_server(settings.model_copy(update={"plugins": ["billing"]}))
    board = server.app.state.services.freshness
    with httpx.Client(base_url=server.url, timeout=30) as http:
        gql = GraphQLClient(http)
        gql.query("{ __typename }")
        reads = board.reads
        for _ in range(3):
            assert gql.query("{ __typename }") == {"__typename": "Query"}
        assert board.reads == reads
        gql.query('{ subscriber(id: "c1") { segments { result } } }')
        assert board.reads == reads + 1


def test_a_snapshot_is_the_requests_own() -> None:
    """Two tasks with different snapshots never see each other's."""
    a, b = Watched("c", "a"), Watched("c", "b")

    async def look(snapshot: Snapshot, watched: Watched) -> object:
        with using_snapshot(snapshot):
            await asyncio.sleep(0)
            return await snapshot_document(watched)

    async def both() -> list[object]:
        return await asyncio.gather(
            look(Snapshot.of({a: {"_id": "a"}}), a), look(Snapshot.of({b: None}), a)
        )

    first, second = asyncio.run(both())
    assert first == {"_id": "a"}
    assert isinstance(second, NotInSnapshot)
