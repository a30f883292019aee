"""A mode holds at most MAX_EVALUATED_SEGMENTS active segments: what ``subscriber { segments }``
evaluates at once (it refuses past that, rather than answer for only some). One client made
510 segments in seconds, and from then on every untagged ``subscriber { segments }`` of the mode
failed for every client. Every write that would add an active segment past the limit is
refused (TOO_MANY), and nothing is written; archived segments do not count."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from seggraph.services import evaluation as evaluation_service
from seggraph.services import segments as segment_service
from tests.segments.conftest import PAYLOAD, SegmentClient, snapshot

DUPLICATE = f"mutation($id: ID!) {{ duplicateSegment(id: $id) {{ {PAYLOAD} }} }}"
ARCHIVE = f"mutation($id: ID!) {{ archiveSegment(id: $id) {{ {PAYLOAD} }} }}"
UNARCHIVE = f"mutation($id: ID!) {{ unarchiveSegment(id: $id) {{ {PAYLOAD} }} }}"
COPY = f"""mutation($id: ID!, $target: Mode!, $expected: Int) {{
  copySegmentToMode(id: $id, mode: $target, expectedVersion: $expected) {{ {PAYLOAD} }} }}"""
SEGMENTS_OF = """query($tags: [String!]) { subscriber(id: "sub_1") {
  segments(tags: $tags) { result } } }"""
CREATE = """mutation($input: CreateSegmentInput!) { createSegment(input: $input) {
  segment { id } userErrors { path code message } } }"""


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """The limit lowered to 3 for segment writes (evaluation keeps its own reading of it)."""
    monkeypatch.setattr(segment_service, "MAX_EVALUATED_SEGMENTS", 3)
    return 3


def refusal(payload: dict[str, Any]) -> tuple[list[str], str, str]:
    assert payload["segment"] is None, payload
    [error] = payload["userErrors"]
    return error["path"], error["code"], error["message"]


def assert_says_the_limit(message: str, limit: int, mode: str = "TEST") -> None:
    assert f"{mode} already has {limit} active segments, the most a mode holds" in message
    assert "subscriber { segments } evaluates every active segment" in message
    assert f"Archive or delete {mode} segments" in message and "nothing was saved" in message


def active(sync_db: Database[dict[str, Any]], mode: str = "TEST") -> int:
    return sync_db.segments.count_documents({"mode": mode, "archived": False})


def test_the_limit_is_the_number_subscriber_segments_evaluates_at_once() -> None:
    """One constant, not two equal numbers: evaluation imports the segments' own."""
    assert segment_service.MAX_EVALUATED_SEGMENTS == 500
    assert evaluation_service.MAX_EVALUATED_SEGMENTS is segment_service.MAX_EVALUATED_SEGMENTS


def test_the_501st_active_segment_is_refused_and_nothing_is_written(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """At the real limit: 500 active segments (499 of them copied in behind the API), and
    the next create is refused with TOO_MANY, naming the limit, why and what to do."""
    first = sync_db.segments.find_one({"_id": ObjectId(seg.created(name="s0")["id"])})
    assert first is not None
    sync_db.segments.insert_many([{**first, "_id": ObjectId()} for _ in range(499)])
    assert active(sync_db) == 500
    before = snapshot(sync_db)
    path, code, message = refusal(seg.create(name="one too many"))
    assert (path, code) == ([], "TOO_MANY")
    assert_says_the_limit(message, 500)
    assert snapshot(sync_db) == before
    # The other mode has its own 500.
    assert seg.created(mode="LIVE", name="live one")["mode"] == "LIVE"


def test_archived_segments_do_not_count(
    seg: SegmentClient, sync_db: Database[dict[str, Any]], limit: int
) -> None:
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit)]
    assert refusal(seg.create(name="4th"))[1] == "TOO_MANY"
    assert seg.run(ARCHIVE, id=ids[0])["archiveSegment"]["userErrors"] == []
    fourth = seg.created(name="4th")
    assert active(sync_db) == limit and not fourth["archived"]
    assert refusal(seg.create(name="5th"))[1] == "TOO_MANY"


def test_duplicate_past_the_limit_is_refused(
    seg: SegmentClient, sync_db: Database[dict[str, Any]], limit: int
) -> None:
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit)]
    before = snapshot(sync_db)
    path, code, message = refusal(seg.run(DUPLICATE, id=ids[0])["duplicateSegment"])
    assert (path, code) == (["id"], "TOO_MANY")
    assert_says_the_limit(message, limit)
    assert snapshot(sync_db) == before
    # An archived segment duplicates to an active one all the same: refused too.
    assert seg.run(ARCHIVE, id=ids[1])["archiveSegment"]["userErrors"] == []
    assert seg.run(DUPLICATE, id=ids[1])["duplicateSegment"]["userErrors"] == []
    assert refusal(seg.run(DUPLICATE, id=ids[1])["duplicateSegment"])[1] == "TOO_MANY"


def test_unarchive_past_the_limit_is_refused(
    seg: SegmentClient, sync_db: Database[dict[str, Any]], limit: int
) -> None:
    archived = seg.created(name="archived")
    assert seg.run(ARCHIVE, id=archived["id"])["archiveSegment"]["userErrors"] == []
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit)]
    before = snapshot(sync_db)
    path, code, message = refusal(seg.run(UNARCHIVE, id=archived["id"])["unarchiveSegment"])
    assert (path, code) == (["id"], "TOO_MANY")
    assert_says_the_limit(message, limit)
    assert snapshot(sync_db) == before
    # Archiving one makes room for it.
    assert seg.run(ARCHIVE, id=ids[0])["archiveSegment"]["userErrors"] == []
    back = seg.run(UNARCHIVE, id=archived["id"])["unarchiveSegment"]
    assert back["userErrors"] == [] and back["segment"]["archived"] is False


def test_a_new_copy_into_a_full_mode_is_refused_but_a_counterpart_is_updated(
    seg: SegmentClient, sync_db: Database[dict[str, Any]], limit: int
) -> None:
    """A copy that creates a new segment in the target mode adds one there; updating the
    counterpart adds none, nor does copying an archived segment (its copy is archived)."""
    copied = seg.created(name="promoted")
    new = seg.created(name="new")
    promoted = seg.run(COPY, id=copied["id"], target="LIVE")["copySegmentToMode"]
    assert promoted["userErrors"] == []
    for i in range(limit - 1):
        seg.created(mode="LIVE", name=f"live {i}")
    before = snapshot(sync_db)
    refused = seg.run(COPY, id=new["id"], target="LIVE")["copySegmentToMode"]
    path, code, message = refusal(refused)
    assert (path, code) == (["mode"], "TOO_MANY")
    assert_says_the_limit(message, limit, "LIVE")
    assert snapshot(sync_db) == before

    assert seg.update(id=copied["id"], expectedVersion=1, name="promoted, v2")["userErrors"] == []
    updated = seg.run(COPY, id=copied["id"], target="LIVE", expected=1)["copySegmentToMode"]
    assert updated["userErrors"] == [] and updated["segment"]["name"] == "promoted, v2"

    assert seg.run(ARCHIVE, id=new["id"])["archiveSegment"]["userErrors"] == []
    archived_copy = seg.run(COPY, id=new["id"], target="LIVE")["copySegmentToMode"]
    assert archived_copy["userErrors"] == [] and archived_copy["segment"]["archived"] is True
    assert active(sync_db, "LIVE") == limit


def _another_segment_lands(sync_db: Database[dict[str, Any]], like: str) -> None:
    """Another active segment saved by another request, as a copy of ``like``."""
    document = sync_db.segments.find_one({"_id": ObjectId(like)})
    assert document is not None
    sync_db.segments.insert_one({**document, "_id": ObjectId(), "archived": False})


def another_lands_before(
    store: Any,
    write: str,
    sync_db: Database[dict[str, Any]],
    like: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Make another active segment (a copy of ``like``) land just before each call of
    ``store.<write>``: after the write's count found room, before the write itself."""
    original = getattr(store, write)

    async def another_first(*args: Any, **kwargs: Any) -> Any:
        _another_segment_lands(sync_db, like)
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, write, another_first)


def test_a_create_losing_the_last_place_to_another_is_undone(
    seg: SegmentClient,
    live_server: Any,
    sync_db: Database[dict[str, Any]],
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another create lands between this one's count and its write (made to land there): the
    mode would hold one more than the limit, so this one undoes itself (history included)."""
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit - 1)]
    store = live_server.app.state.services.segments.store
    another_lands_before(store, "insert", sync_db, ids[0], monkeypatch)
    path, code, message = refusal(seg.create(name="loser"))
    assert (path, code) == ([], "TOO_MANY")
    assert "reached 3 active segments, the most a mode holds, with another write" in message
    assert "nothing was saved" in message
    assert active(sync_db) == limit
    assert sync_db.segments.count_documents({"name": "loser"}) == 0
    assert sync_db.segment_history.count_documents({}) == limit - 1


def test_a_refused_write_that_another_edit_built_on_says_it_stays(
    seg: SegmentClient,
    live_server: Any,
    sync_db: Database[dict[str, Any]],
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The create loses the last place, but before it can undo itself another user has
    already edited the new segment (version 2 on top of it): it cannot be undone, so the
    refusal must not say that nothing was saved. It says what stays, and the other user's
    edit is kept."""
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit - 1)]
    service = live_server.app.state.services.segments
    store = service.store
    another_lands_before(store, "insert", sync_db, ids[0], monkeypatch)
    roll_back = store.roll_back

    async def edited_on_top_first(before: Any, after: Any, session: Any) -> bool:
        if not after.name.startswith("edited"):
            await service.update(
                after.mode, "another user", after.id, expected_version=1, name="edited by B"
            )
        return bool(await roll_back(before, after, session))

    monkeypatch.setattr(store, "roll_back", edited_on_top_first)
    path, code, message = refusal(seg.create(name="loser"))
    assert (path, code) == ([], "TOO_MANY")
    assert "nothing was saved" not in message
    assert message.endswith(
        "version 1 was saved all the same: it could not be undone, because version 2 was "
        "saved on top of it meanwhile (edit the segment to change it)"
    )
    [kept] = sync_db.segments.find({"name": "edited by B"})
    assert kept["version"] == 2
    assert sync_db.segment_history.count_documents({"segment_id": str(kept["_id"])}) == 2


def test_an_unarchive_losing_the_last_place_to_another_is_undone(
    seg: SegmentClient,
    live_server: Any,
    sync_db: Database[dict[str, Any]],
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for an unarchive: the segment is archived again, at its version (the undone
    number stays used), with no history entry for the undone write."""
    archived = seg.created(name="archived")
    assert seg.run(ARCHIVE, id=archived["id"])["archiveSegment"]["userErrors"] == []
    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit - 1)]
    store = live_server.app.state.services.segments.store
    another_lands_before(store, "replace_if_version", sync_db, ids[0], monkeypatch)
    path, code, _ = refusal(seg.run(UNARCHIVE, id=archived["id"])["unarchiveSegment"])
    assert (path, code) == (["id"], "TOO_MANY")
    stored = seg.get(archived["id"])
    assert stored is not None and stored["archived"] is True and stored["version"] == 2
    assert sync_db.segment_history.count_documents({"segment_id": archived["id"]}) == 2
    assert active(sync_db) == limit


def test_creates_racing_for_the_last_places_never_pass_the_limit(
    seg: SegmentClient, live_server: Any, sync_db: Database[dict[str, Any]], limit: int
) -> None:
    """Fired for real: several creates at once, over several rounds, with one place left.
    At most one stays (none may: each may see the others and undo itself)."""

    async def race(names: list[str]) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={"query": CREATE, "variables": {"input": {"name": name}}},
                        headers={"X-Seggraph-Mode": "TEST"},
                    )
                    for name in names
                )
            )
        return [r.json()["data"]["createSegment"] for r in responses]

    ids = [seg.created(name=f"s{i}")["id"] for i in range(limit - 1)]
    for round_ in range(4):
        payloads = asyncio.run(race([f"racer {round_}.{i}" for i in range(4)]))
        made = [p["segment"]["id"] for p in payloads if p["segment"] is not None]
        assert len(made) <= 1, payloads
        assert all(p["userErrors"][0]["code"] == "TOO_MANY" for p in payloads if not p["segment"])
        assert active(sync_db) <= limit
        assert sync_db.segment_history.count_documents({}) == len(ids) + len(made)
        for segment_id in made:  # the place again, for the next round
            sync_db.segments.delete_one({"_id": ObjectId(segment_id)})
            sync_db.segment_history.delete_many({"segment_id": segment_id})


def test_subscriber_segments_over_the_limit_says_no_tags_were_given(
    seg: SegmentClient, sync_db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More active segments than are evaluated at once (made before the limit held, say):
    the refusal of an untagged question is about no argument, so it is not said at ``tags``."""
    monkeypatch.setattr(evaluation_service, "MAX_EVALUATED_SEGMENTS", 2)
    for i in range(3):
        seg.created(name=f"s{i}", tags=["t"])
    untagged = seg.gql.execute(SEGMENTS_OF, {"tags": None})
    [error] = untagged["errors"]
    assert error["extensions"]["code"] == "TOO_MANY"
    assert error["message"].startswith("more than 2 active TEST segments exist, and every one")
    assert "archive or delete segments until at most 2 are active" in error["message"]
    tagged = seg.gql.execute(SEGMENTS_OF, {"tags": ["t"]})
    assert tagged["errors"][0]["message"].startswith(
        "tags: more than 2 active TEST segments carry these tags"
    )
