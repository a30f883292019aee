"""copySegmentToMode and restoreSegmentVersion follow updateSegment's rules: the version you
loaded (a stale one is a VERSION_CONFLICT with the current version), and acknowledgeLiveUsage
to change the conditions of a segment that live usages route by. And a database holding
several copies of one segment (made before they were prevented) still starts."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from seggraph.domain.conditions import EMPTY_ROOT
from seggraph.domain.segments import Mode, Segment
from seggraph.settings import Settings
from seggraph.store.segments import to_document
from tests.segments.conftest import PAYLOAD, UPDATE, SegmentClient, errors_by_path, snapshot

COPY = f"""mutation($id: ID!, $expected: Int, $ack: Boolean! = false) {{
  copySegmentToMode(id: $id, mode: LIVE, expectedVersion: $expected, acknowledgeLiveUsage: $ack)
  {{ {PAYLOAD} }} }}"""
RESTORE = f"""mutation($id: ID!, $version: Int!, $expected: Int!, $ack: Boolean! = false) {{
  restoreSegmentVersion(id: $id, version: $version, expectedVersion: $expected,
    acknowledgeLiveUsage: $ack) {{ {PAYLOAD} }} }}"""
COPY_TO = f"""mutation($id: ID!, $target: Mode!, $expected: Int, $ack: Boolean! = false) {{
  copySegmentToMode(id: $id, mode: $target, expectedVersion: $expected, acknowledgeLiveUsage: $ack)
  {{ {PAYLOAD} }} }}"""
REGISTER = """mutation($input: SegmentUsageInput!) { registerSegmentUsage(input: $input) {
  usage { refId } userErrors { path code message } } }"""
HISTORY = "query($id: ID!) { segment(id: $id) { history { version action note } } }"
DELETE = """mutation($id: ID!, $expected: Int) { deleteSegment(id: $id, expectedVersion: $expected) {
  deletedId userErrors { path code message } currentVersion } }"""
DUPLICATE = f"""mutation($id: ID!) {{ duplicateSegment(id: $id) {{ {PAYLOAD} }} }}"""
ARCHIVE = f"""mutation($id: ID!, $expected: Int) {{ archiveSegment(id: $id, expectedVersion: $expected)
  {{ {PAYLOAD} }} }}"""


def mrr_gt(value: int) -> dict[str, Any]:
    return {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": value}]}


def used_live(seg: SegmentClient, segment_id: str, mode: str = "TEST") -> None:
    registered = seg.run(
        REGISTER,
        mode=mode,
        input={
            "segmentId": segment_id,
            "kind": "FLOW",
            "refId": "flow_cancel",
            "name": "Cancel flow",
            "live": True,
        },
    )["registerSegmentUsage"]
    assert registered["userErrors"] == []


def test_copying_onto_a_live_counterpart_needs_its_version_and_the_acknowledgement(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    draft = seg.created(name="Draft", conditions=mrr_gt(100))
    live = seg.run(COPY, id=draft["id"])["copySegmentToMode"]["segment"]
    used_live(seg, live["id"], mode="LIVE")
    # Someone edits the LIVE segment; meanwhile the TEST one is edited too.
    live_edit = seg.update(
        "LIVE",
        id=live["id"],
        expectedVersion=1,
        name="Live name",
        conditions=mrr_gt(500),
        acknowledgeLiveUsage=True,
    )
    assert live_edit["userErrors"] == []
    assert seg.update(id=draft["id"], expectedVersion=1, conditions=mrr_gt(10))["userErrors"] == []

    before = snapshot(sync_db)
    # Without the counterpart's version, or with a stale one: a conflict naming the current.
    for expected in (None, 1):
        refused = seg.run(COPY, id=draft["id"], expected=expected)["copySegmentToMode"]
        assert refused["segment"] is None
        assert errors_by_path(refused) == {"expectedVersion": "VERSION_CONFLICT"}
        assert refused["currentVersion"] == 2
    # With it, but the conditions change who a live usage reaches: asked, as update asks.
    unacknowledged = seg.run(COPY, id=draft["id"], expected=2)["copySegmentToMode"]
    assert errors_by_path(unacknowledged) == {"acknowledgeLiveUsage": "SEGMENT_IN_LIVE_USE"}
    assert "Cancel flow" in unacknowledged["userErrors"][0]["message"]
    assert snapshot(sync_db) == before
    assert seg.get(live["id"], mode="LIVE")["name"] == "Live name"  # type: ignore[index]

    copied = seg.run(COPY, id=draft["id"], expected=2, ack=True)["copySegmentToMode"]
    assert copied["userErrors"] == []
    assert [w["code"] for w in copied["warnings"]] == ["SEGMENT_IN_LIVE_USE"]
    assert copied["segment"]["version"] == 3 and copied["segment"]["name"] == "Draft"
    assert copied["segment"]["conditionsText"] == "subscriber.mrr > 10"

    # Asked again without a version: the counterpart already holds this copy, so it is
    # answered as it is (nothing written).
    before = snapshot(sync_db)
    again = seg.run(COPY, id=draft["id"])["copySegmentToMode"]
    assert again["userErrors"] == [] and again["segment"]["version"] == 3
    assert snapshot(sync_db) == before

    # A copy that leaves the conditions as they are needs no acknowledgement.
    assert seg.update(id=draft["id"], expectedVersion=2, name="Draft 2")["userErrors"] == []
    renamed = seg.run(COPY, id=draft["id"], expected=3)["copySegmentToMode"]
    assert renamed["userErrors"] == [] and renamed["warnings"] == []
    assert renamed["segment"]["name"] == "Draft 2" and renamed["segment"]["version"] == 4


def test_a_version_for_a_counterpart_that_is_not_there_is_a_conflict(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    draft = seg.created(name="Draft")
    before = snapshot(sync_db)
    refused = seg.run(COPY, id=draft["id"], expected=1)["copySegmentToMode"]
    assert errors_by_path(refused) == {"expectedVersion": "VERSION_CONFLICT"}
    assert refused["currentVersion"] is None
    # It never had a copy: nothing was deleted, and leaving the version out makes one.
    message = refused["userErrors"][0]["message"]
    assert "has no LIVE copy" in message and "leave expectedVersion out" in message
    assert "deleted" not in message
    assert snapshot(sync_db) == before


def segment_count(db: Database[dict[str, Any]]) -> int:
    return db.segments.count_documents({})


def history_of(seg: SegmentClient, segment_id: str, mode: str) -> list[tuple[str, str]]:
    entries = seg.run(HISTORY, mode=mode, id=segment_id)["segment"]["history"]
    return [(h["action"], h["note"]) for h in reversed(entries)]


def test_copying_back_and_forth_updates_the_same_two_segments(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """A LIVE copy's counterpart in TEST is the segment it was copied from: copying it back
    updates that one (as copying to LIVE updates the copy), never a new TEST segment."""
    draft = seg.created(name="Draft", conditions=mrr_gt(100))
    live = seg.run(COPY_TO, id=draft["id"], target="LIVE")["copySegmentToMode"]["segment"]
    assert live["copiedFromId"] == draft["id"]
    edited = seg.update(
        "LIVE", id=live["id"], expectedVersion=1, name="Live edit", conditions=mrr_gt(500)
    )
    assert edited["userErrors"] == []

    # LIVE -> TEST: without the original's version, refused as for any counterpart that
    # differs, naming it.
    before = snapshot(sync_db)
    unseen = seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST")["copySegmentToMode"]
    assert errors_by_path(unseen) == {"expectedVersion": "VERSION_CONFLICT"}
    assert unseen["currentVersion"] == 1 and draft["id"] in unseen["userErrors"][0]["message"]
    assert snapshot(sync_db) == before
    back = seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST", expected=1)
    back = back["copySegmentToMode"]
    assert back["userErrors"] == []
    assert back["segment"]["id"] == draft["id"] and back["segment"]["mode"] == "TEST"
    assert back["segment"]["version"] == 2 and back["segment"]["name"] == "Live edit"
    assert back["segment"]["conditionsText"] == "subscriber.mrr > 500"
    assert back["segment"]["copiedFromId"] is None  # still the original
    assert segment_count(sync_db) == 2

    # TEST -> LIVE again: the copy is updated, still from the original.
    assert seg.update(id=draft["id"], expectedVersion=2, name="Test edit")["userErrors"] == []
    forth = seg.run(COPY_TO, id=draft["id"], target="LIVE", expected=2)["copySegmentToMode"]
    assert forth["userErrors"] == []
    assert forth["segment"]["id"] == live["id"] and forth["segment"]["version"] == 3
    assert forth["segment"]["name"] == "Test edit"
    assert forth["segment"]["copiedFromId"] == draft["id"]
    assert segment_count(sync_db) == 2

    assert history_of(seg, draft["id"], "TEST") == [
        ("CREATED", ""),
        ("COPIED", f"copied from LIVE segment {live['id']} version 2"),
        ("UPDATED", ""),
    ]
    assert history_of(seg, live["id"], "LIVE") == [
        ("COPIED", f"copied from TEST segment {draft['id']} version 1"),
        ("UPDATED", ""),
        ("COPIED", f"copied from TEST segment {draft['id']} version 3"),
    ]


def test_a_copy_whose_original_was_deleted_gets_a_new_counterpart_and_keeps_it(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    draft = seg.created(name="Draft", conditions=mrr_gt(100))
    live = seg.run(COPY_TO, id=draft["id"], target="LIVE")["copySegmentToMode"]["segment"]
    assert seg.run(DELETE, id=draft["id"])["deleteSegment"]["deletedId"] == draft["id"]

    before = snapshot(sync_db)
    refused = seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST", expected=1)
    refused = refused["copySegmentToMode"]
    assert errors_by_path(refused) == {"expectedVersion": "VERSION_CONFLICT"}
    message = refused["userErrors"][0]["message"]
    assert "has no TEST copy" in message and draft["id"] in message
    assert "leave expectedVersion out" in message
    assert snapshot(sync_db) == before

    made = seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST")["copySegmentToMode"]
    assert made["userErrors"] == []
    fresh = made["segment"]
    assert fresh["id"] != draft["id"] and fresh["copiedFromId"] == live["id"]
    assert fresh["version"] == 1
    # And from then on the two are each other's counterpart, both ways.
    assert seg.update(id=fresh["id"], expectedVersion=1, name="Renamed")["userErrors"] == []
    forth = seg.run(COPY_TO, id=fresh["id"], target="LIVE", expected=1)["copySegmentToMode"]
    assert forth["userErrors"] == [] and forth["segment"]["id"] == live["id"]
    assert forth["segment"]["name"] == "Renamed" and forth["segment"]["version"] == 2
    assert forth["segment"]["copiedFromId"] == draft["id"]  # where it first came from
    assert seg.update("LIVE", id=live["id"], expectedVersion=2, name="Live")["userErrors"] == []
    back = seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST", expected=2)
    assert back["copySegmentToMode"]["segment"]["id"] == fresh["id"]
    assert segment_count(sync_db) == 2


def in_segment(segment_id: str) -> dict[str, Any]:
    return {"conditions": [{"property": "segment", "operator": "IN_SEGMENT", "value": segment_id}]}


def test_references_copied_back_point_at_the_originals(seg: SegmentClient) -> None:
    target = seg.created(name="Target", conditions=mrr_gt(100))
    referrer = seg.created(name="Referrer", conditions=in_segment(target["id"]))
    live_target = seg.run(COPY_TO, id=target["id"], target="LIVE")["copySegmentToMode"]
    live_referrer = seg.run(COPY_TO, id=referrer["id"], target="LIVE")["copySegmentToMode"]
    live_id = live_referrer["segment"]["id"]
    edited = seg.update(
        "LIVE",
        id=live_id,
        expectedVersion=1,
        conditions={**in_segment(live_target["segment"]["id"]), "combinator": "ANY"},
    )
    assert edited["userErrors"] == []

    back = seg.run(COPY_TO, mode="LIVE", id=live_id, target="TEST", expected=1)
    back = back["copySegmentToMode"]
    assert back["userErrors"] == []
    assert back["segment"]["id"] == referrer["id"]
    assert back["segment"]["conditions"]["combinator"] == "ANY"
    assert back["segment"]["conditions"]["conditions"][0]["value"] == target["id"]


def test_copying_what_the_counterpart_already_holds_writes_nothing(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    draft = seg.created(name="Draft", conditions=mrr_gt(100))
    live = seg.run(COPY_TO, id=draft["id"], target="LIVE")["copySegmentToMode"]["segment"]
    assert seg.update(id=draft["id"], expectedVersion=1, name="Draft 2")["userErrors"] == []
    # A rename undone: the TEST segment holds what its copy holds again.
    assert seg.update(id=draft["id"], expectedVersion=2, name="Draft")["userErrors"] == []

    before = snapshot(sync_db)
    # Each way, with the counterpart's version (LIVE at 1, TEST at 3): answered as it is.
    for mode, segment_id, target, version in (
        ("TEST", draft["id"], "LIVE", 1),
        ("LIVE", live["id"], "TEST", 3),
    ):
        counterpart = seg.run(COPY_TO, mode=mode, id=segment_id, target=target, expected=version)
        counterpart = counterpart["copySegmentToMode"]
        assert counterpart["userErrors"] == [], counterpart["userErrors"]
        assert counterpart["segment"]["mode"] == target
        assert counterpart["segment"]["version"] == version
    assert snapshot(sync_db) == before  # no version, no history entry, no write at all
    assert history_of(seg, live["id"], "LIVE") == [
        ("COPIED", f"copied from TEST segment {draft['id']} version 1")
    ]


def test_restoring_conditions_a_live_usage_routes_by_needs_the_acknowledgement(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="v1")  # empty conditions: everyone
    assert (
        seg.update(id=segment["id"], expectedVersion=1, conditions=mrr_gt(100))["userErrors"] == []
    )
    used_live(seg, segment["id"])

    before = snapshot(sync_db)
    stale = seg.run(RESTORE, id=segment["id"], version=1, expected=1)["restoreSegmentVersion"]
    assert errors_by_path(stale) == {"expectedVersion": "VERSION_CONFLICT"}
    assert stale["currentVersion"] == 2
    refused = seg.run(RESTORE, id=segment["id"], version=1, expected=2)["restoreSegmentVersion"]
    assert errors_by_path(refused) == {"acknowledgeLiveUsage": "SEGMENT_IN_LIVE_USE"}
    assert "Cancel flow" in refused["userErrors"][0]["message"]
    assert snapshot(sync_db) == before
    assert seg.get(segment["id"])["conditionsText"] == "subscriber.mrr > 100"  # type: ignore[index]

    restored = seg.run(RESTORE, id=segment["id"], version=1, expected=2, ack=True)[
        "restoreSegmentVersion"
    ]
    assert restored["userErrors"] == []
    # Warned as update warns: the live usages, and the empty root (everyone matches).
    assert [w["code"] for w in restored["warnings"]] == ["EMPTY_CONDITIONS", "SEGMENT_IN_LIVE_USE"]
    assert restored["segment"]["version"] == 3 and restored["segment"]["conditionsText"] == ""

    # Restoring a version with the same conditions changes no one's membership: not asked.
    assert seg.update(id=segment["id"], expectedVersion=3, name="renamed")["userErrors"] == []
    same = seg.run(RESTORE, id=segment["id"], version=3, expected=4)["restoreSegmentVersion"]
    assert same["userErrors"] == []
    assert [w["code"] for w in same["warnings"]] == ["EMPTY_CONDITIONS"]
    assert same["segment"]["name"] == "v1"


def test_a_version_the_segment_has_not_had_yet_is_named_as_such(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """An expectedVersion ahead of the segment was never loaded from it: every mutation taking
    one says so, rather than that the segment changed since."""
    segment = seg.created(name="v1", conditions=mrr_gt(100))
    assert seg.update(id=segment["id"], expectedVersion=1, name="v2")["userErrors"] == []
    live = seg.run(COPY, id=segment["id"])["copySegmentToMode"]["segment"]

    before = snapshot(sync_db)
    refusals = {
        "restore": seg.run(RESTORE, id=segment["id"], version=1, expected=9)[
            "restoreSegmentVersion"
        ],
        "update": seg.update(id=segment["id"], expectedVersion=9, name="x"),
        "archive": seg.run(ARCHIVE, id=segment["id"], expected=9)["archiveSegment"],
        "delete": seg.run(DELETE, id=segment["id"], expected=9)["deleteSegment"],
        "copy": seg.run(COPY, id=segment["id"], expected=9)["copySegmentToMode"],
    }
    for name, refused in refusals.items():
        assert errors_by_path(refused) == {"expectedVersion": "VERSION_CONFLICT"}, name
        message = refused["userErrors"][0]["message"]
        assert "version 9 is not one it has had yet" in message, (name, message)
        assert "changed since" not in message, (name, message)
        current = 1 if name == "copy" else 2
        assert refused["currentVersion"] == current, name
        assert f"at version {current}" in message, (name, message)
        assert (live if name == "copy" else segment)["id"] in message, (name, message)
    zero = seg.update(id=segment["id"], expectedVersion=0, name="x")
    assert "versions start at 1" in zero["userErrors"][0]["message"]
    # A version it did have is still a change made since.
    stale = seg.run(RESTORE, id=segment["id"], version=1, expected=1)["restoreSegmentVersion"]
    assert "it was changed since you loaded it" in stale["userErrors"][0]["message"]
    assert snapshot(sync_db) == before


def test_an_update_losing_to_a_delete_says_the_segment_was_deleted(
    seg: SegmentClient, live_server: Any, sync_db: Database[dict[str, Any]], monkeypatch: Any
) -> None:
    """The segment is deleted between the update's read and its write (the delete is made to
    land there): the conflict says so, with no current version (it said version -1)."""
    segment = seg.created(name="Doomed")
    store = live_server.app.state.services.segments.store
    write = store.replace_if_version

    async def deleted_first(*args: Any, **kwargs: Any) -> bool:
        sync_db.segments.delete_one({"_id": ObjectId(segment["id"])})
        return bool(await write(*args, **kwargs))

    monkeypatch.setattr(store, "replace_if_version", deleted_first)
    refused = seg.update(id=segment["id"], expectedVersion=1, name="x")
    assert errors_by_path(refused) == {"expectedVersion": "VERSION_CONFLICT"}
    assert refused["currentVersion"] is None
    message = refused["userErrors"][0]["message"]
    assert "deleted since you loaded it" in message and "-1" not in message
    assert sync_db.segment_history.count_documents({"segment_id": segment["id"]}) == 1


def test_restore_errors_about_the_old_version_point_at_version_and_name_its_condition(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """restoreSegmentVersion takes no conditions: what is wrong with the version's conditions
    is said at ``version``, naming the condition of that version at fault."""
    target = seg.created(name="Target")
    referrer = seg.created(
        name="Referrer",
        conditions={
            "conditions": [mrr_gt(100)["conditions"][0]],
            "groups": [{"combinator": "ANY", **in_segment(target["id"])}],
        },
    )
    assert (
        seg.update(id=referrer["id"], expectedVersion=1, conditions=mrr_gt(5))["userErrors"] == []
    )
    assert seg.run(DELETE, id=target["id"])["deleteSegment"]["deletedId"] == target["id"]

    before = snapshot(sync_db)
    refused = seg.run(RESTORE, id=referrer["id"], version=1, expected=2)["restoreSegmentVersion"]
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["version"], "UNKNOWN_SEGMENT")
    ]
    message = refused["userErrors"][0]["message"]
    assert message.startswith("version 1, condition conditions.groups.0.conditions.0 (")
    assert f"there is no TEST segment {target['id']!r}" in message
    assert snapshot(sync_db) == before

    # Its warnings too: a version with no conditions matches everyone.
    emptied = seg.update(id=referrer["id"], expectedVersion=2, conditions={"conditions": []})
    assert emptied["userErrors"] == []
    restored = seg.run(RESTORE, id=referrer["id"], version=3, expected=3)["restoreSegmentVersion"]
    assert [(w["path"], w["code"]) for w in restored["warnings"]] == [
        (["version"], "EMPTY_CONDITIONS")
    ]
    assert restored["warnings"][0]["message"].startswith("version 3: ")


def test_copy_errors_about_the_copied_conditions_point_at_id_and_name_the_condition(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """copySegmentToMode takes no conditions: a copy that would make LIVE references cycle is
    refused at ``id``, naming the condition of the segment copied."""
    a = seg.created(name="A", conditions=mrr_gt(100))
    b = seg.created(name="B", conditions=in_segment(a["id"]))
    seg.run(COPY, id=a["id"])
    assert seg.run(COPY, id=b["id"])["copySegmentToMode"]["userErrors"] == []
    # In TEST, A now references B (and B no longer A); in LIVE, B still references A.
    assert seg.update(id=b["id"], expectedVersion=1, conditions=mrr_gt(7))["userErrors"] == []
    assert (
        seg.update(id=a["id"], expectedVersion=1, conditions=in_segment(b["id"]))["userErrors"]
        == []
    )

    before = snapshot(sync_db)
    refused = seg.run(COPY, id=a["id"], expected=1)["copySegmentToMode"]
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [(["id"], "REFERENCE_CYCLE")]
    message = refused["userErrors"][0]["message"]
    assert message.startswith(
        f"TEST segment {a['id']} copied to LIVE, condition conditions.conditions.0 ("
    )
    assert b["id"] in message and "cycle" in message
    assert snapshot(sync_db) == before


# -- a database that already holds several copies of one segment -------------------------------


def stored_segment(mode: Mode, name: str, source_id: str | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    return to_document(
        Segment(
            id=str(ObjectId()), mode=mode, name=name, description="", tags=(),
            conditions=EMPTY_ROOT, version=1, archived=False, created_at=now, created_by="old",
            updated_at=now, updated_by="old", source_id=source_id,
        )
    )  # fmt: skip


@pytest.mark.slow
def test_a_database_with_duplicate_copies_starts_names_them_and_guards_once_they_are_gone(
    settings: Settings, mongo_uri: str, start_live_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"seggraph_dups_{uuid.uuid4().hex[:8]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        db = client[name]
        # What concurrent copies left behind before only one could be made.
        source = stored_segment(Mode.TEST, "Source")
        source_id = str(source["_id"])
        copies = [stored_segment(Mode.LIVE, "Source", source_id) for _ in range(2)]
        db.segments.insert_many([source, *copies])
        copy_ids = [str(c["_id"]) for c in copies]

        own = settings.model_copy(update={"database": name, "plugins": []})
        with caplog.at_level(logging.ERROR, logger="seggraph.db"):
            server = start_live_server(own)
        logged = caplog.text
        assert "one_copy_per_source" in logged and "at most one copy" in logged
        assert all(copy_id in logged for copy_id in copy_ids)
        assert "one_copy_per_source" not in {ix["name"] for ix in db.segments.list_indexes()}

        with httpx.Client(base_url=server.url, timeout=30) as http:

            def gql(query: str, mode: str = "TEST", **variables: Any) -> dict[str, Any]:
                response = http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"X-Seggraph-Mode": mode},
                )
                body: dict[str, Any] = response.json()
                assert not body.get("errors"), body
                data: dict[str, Any] = body["data"]
                return data

            # The service runs; which copy to update is not guessed.
            refused = gql(COPY, id=source_id, expected=1)["copySegmentToMode"]
            assert errors_by_path(refused) == {"id": "DUPLICATE_COPIES"}
            assert all(copy_id in refused["userErrors"][0]["message"] for copy_id in copy_ids)
            deleted = gql(
                "mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }",
                mode="LIVE",
                id=copy_ids[1],
            )
            assert deleted["deleteSegment"]["deletedId"] == copy_ids[1]
        server.stop()

        # The next start creates the index; the copy left is updated as usual.
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="seggraph.db"):
            server = start_live_server(own)
        assert "one_copy_per_source" not in caplog.text
        index = {ix["name"]: ix for ix in db.segments.list_indexes()}["one_copy_per_source"]
        assert index["unique"] is True
        with httpx.Client(base_url=server.url, timeout=30) as http:
            renamed = http.post(
                "/graphql",
                json={
                    "query": UPDATE,
                    "variables": {"input": {"id": source_id, "expectedVersion": 1, "name": "New"}},
                },
            )
            assert renamed.json()["data"]["updateSegment"]["userErrors"] == []
            response = http.post(
                "/graphql", json={"query": COPY, "variables": {"id": source_id, "expected": 1}}
            )
            copied = response.json()["data"]["copySegmentToMode"]
        assert copied["userErrors"] == [] and copied["segment"]["id"] == copy_ids[0]
        assert copied["segment"]["version"] == 2 and copied["segment"]["name"] == "New"
    finally:
        client.drop_database(name)
        client.close()


def test_restoring_an_old_version_keeps_the_segment_archived_or_active_as_it_is(
    seg: SegmentClient,
) -> None:
    """Restoring an edit made before the segment was archived brought it back archived
    (without a word), taking it out of every subscriber's segments."""
    segment = seg.created(name="v1", conditions=mrr_gt(100))
    assert seg.update(id=segment["id"], expectedVersion=1, name="v2")["userErrors"] == []
    archived = seg.run(ARCHIVE, id=segment["id"], expected=2)["archiveSegment"]
    assert archived["segment"]["archived"] is True
    restored = seg.run(RESTORE, id=segment["id"], version=1, expected=3)["restoreSegmentVersion"]
    assert restored["userErrors"] == []
    assert (restored["segment"]["name"], restored["segment"]["archived"]) == ("v1", True)
    unarchive = f"""mutation($id: ID!, $expected: Int) {{
      unarchiveSegment(id: $id, expectedVersion: $expected) {{ {PAYLOAD} }} }}"""
    active = seg.run(unarchive, id=segment["id"], expected=4)["unarchiveSegment"]
    assert active["segment"]["archived"] is False
    again = seg.run(RESTORE, id=segment["id"], version=3, expected=5)["restoreSegmentVersion"]
    assert (again["segment"]["name"], again["segment"]["archived"]) == ("v2", False)


def test_a_write_that_changes_nothing_makes_no_version(seg: SegmentClient) -> None:
    """A form saved again as it was made a new version (every other editor's next save a
    VERSION_CONFLICT) and a history entry listing no change."""
    segment = seg.created(name="Same", conditions=mrr_gt(100), tags=["a"])
    for unchanged in (
        {},
        {"name": "Same"},
        {"name": "Same", "tags": ["a"], "conditions": mrr_gt(100)},
        {"conditionsText": "subscriber.mrr > 100"},
    ):
        answer = seg.update(id=segment["id"], expectedVersion=1, **unchanged)
        assert answer["userErrors"] == [], unchanged
        assert answer["segment"]["version"] == 1, unchanged
    restored = seg.run(RESTORE, id=segment["id"], version=1, expected=1)["restoreSegmentVersion"]
    assert restored["userErrors"] == [] and restored["segment"]["version"] == 1
    assert history_of(seg, segment["id"], "TEST") == [("CREATED", "")]
    stale = seg.update(id=segment["id"], expectedVersion=7, name="Same")
    assert [e["code"] for e in stale["userErrors"]] == ["VERSION_CONFLICT"]


def test_an_update_takes_the_next_number_when_an_undone_write_used_its_own_meanwhile(
    seg: SegmentClient, live_server: Any, sync_db: Database[dict[str, Any]], monkeypatch: Any
) -> None:
    """Another write was saved as version 2 and undone between this update's read and its
    write (the segment is at version 1 again, number 2 used): the update is saved as version
    3, not refused (the version the client loaded is still the current one)."""
    segment = seg.created(name="Renumbered")
    store = live_server.app.state.services.segments.store
    write = store.replace_if_version
    undone: list[int] = []

    async def undone_first(*args: Any, **kwargs: Any) -> bool:
        if not undone:
            sync_db.segments.update_one(
                {"_id": ObjectId(segment["id"])}, {"$set": {"versions_used": 2}}
            )
            undone.append(2)
        return bool(await write(*args, **kwargs))

    monkeypatch.setattr(store, "replace_if_version", undone_first)
    saved = seg.update(id=segment["id"], expectedVersion=1, name="After")
    assert saved["userErrors"] == [] and saved["segment"]["version"] == 3
    history = seg.run(HISTORY, id=segment["id"])["segment"]["history"]
    assert [entry["version"] for entry in history] == [3, 1]
    assert sync_db.segments.find_one({"_id": ObjectId(segment["id"])})["versions_used"] == 3


def test_a_segment_stored_before_numbers_were_kept_is_written_as_before(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="Old")
    sync_db.segments.update_one({"_id": ObjectId(segment["id"])}, {"$unset": {"versions_used": ""}})
    saved = seg.update(id=segment["id"], expectedVersion=1, name="Old, edited")
    assert saved["userErrors"] == [] and saved["segment"]["version"] == 2
    stale = seg.update(id=segment["id"], expectedVersion=1, name="stale")
    assert errors_by_path(stale) == {"expectedVersion": "VERSION_CONFLICT"}


def test_a_copy_with_a_percentage_condition_warns_that_it_selects_another_sample(
    seg: SegmentClient,
) -> None:
    """Buckets are drawn per segment id (spec): an experiment tested in TEST and copied to
    LIVE reaches a different 25% there, which the copy now says (QA: 19 of 67 in both)."""
    experiment = seg.created(
        name="Win-back 25%",
        conditions={
            "conditions": [{"property": "subscriber.bucket", "operator": "PERCENTAGE", "value": 25}]
        },
    )
    copied = seg.run(COPY_TO, id=experiment["id"], target="LIVE")["copySegmentToMode"]
    assert copied["userErrors"] == []
    [warning] = copied["warnings"]
    assert (warning["path"], warning["code"]) == (["id"], "COPY_BUCKETS")
    assert experiment["id"] in warning["message"]
    plain = seg.created(name="No buckets", conditions=mrr_gt(100))
    quiet = seg.run(COPY_TO, id=plain["id"], target="LIVE")["copySegmentToMode"]
    assert quiet["userErrors"] == [] and quiet["warnings"] == []
    # A duplicate in the same mode has an id of its own too: it says so as the copy does
    # (it said nothing).
    twin = seg.run(DUPLICATE, id=experiment["id"])["duplicateSegment"]
    assert twin["userErrors"] == []
    [warning] = twin["warnings"]
    assert (warning["path"], warning["code"]) == (["id"], "COPY_BUCKETS")
    assert (
        "the duplicate selects a different sample of subscribers than segment "
        in (warning["message"])
    )
    assert experiment["id"] in warning["message"]
    assert seg.run(DUPLICATE, id=plain["id"])["duplicateSegment"]["warnings"] == []


def test_a_copy_answered_unchanged_still_warns_that_it_selects_another_sample(
    seg: SegmentClient,
) -> None:
    """Copying again onto a counterpart that already holds the copy writes nothing, but the
    copy still draws its own buckets: the payload says so each time, as the first copy's did
    (the second promotion of a 25% experiment, or a copy back, said nothing)."""
    experiment = seg.created(
        name="Win-back 25%",
        conditions={
            "conditions": [{"property": "subscriber.bucket", "operator": "PERCENTAGE", "value": 25}]
        },
    )
    first = seg.run(COPY_TO, id=experiment["id"], target="LIVE")["copySegmentToMode"]
    live = first["segment"]
    assert [w["code"] for w in first["warnings"]] == ["COPY_BUCKETS"]
    # Again without expectedVersion, with it, and back into TEST: nothing is written.
    for again in (
        seg.run(COPY_TO, id=experiment["id"], target="LIVE"),
        seg.run(COPY_TO, id=experiment["id"], target="LIVE", expected=1),
        seg.run(COPY_TO, mode="LIVE", id=live["id"], target="TEST", expected=1),
    ):
        payload = again["copySegmentToMode"]
        assert payload["userErrors"] == [] and payload["segment"]["version"] == 1
        [warning] = payload["warnings"]
        assert (warning["path"], warning["code"]) == (["id"], "COPY_BUCKETS")
    history = seg.run(HISTORY, mode="LIVE", id=live["id"])["segment"]["history"]
    assert [entry["version"] for entry in history] == [1]


def test_an_id_in_capitals_is_the_segment_for_every_write_and_every_guard(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """segment(id:) reads the id's hexadecimal in capitals as the segment; so do the writes,
    which used it as typed where usages, references and copies name the segment: an edit
    in capitals changed the conditions of a segment in live use without the acknowledgement,
    a copy made a second LIVE counterpart, a usage was refused as "deleted meanwhile"."""
    source = seg.created(name="Source", conditions=mrr_gt(100))
    capitals = source["id"].upper()

    by_capitals = seg.run(COPY, id=capitals)["copySegmentToMode"]
    assert by_capitals["userErrors"] == []
    assert by_capitals["segment"]["copiedFromId"] == source["id"]
    again = seg.run(COPY, id=source["id"])["copySegmentToMode"]
    assert again["segment"]["id"] == by_capitals["segment"]["id"]
    assert sync_db.segments.count_documents({"mode": "LIVE"}) == 1

    used_live(seg, capitals)
    assert [u["segment_id"] for u in sync_db.segment_usages.find()] == [source["id"]]
    before = snapshot(sync_db)
    edit = seg.update(id=capitals, expectedVersion=1, conditions=mrr_gt(5))
    assert errors_by_path(edit) == {"conditions": "SEGMENT_IN_LIVE_USE"}
    assert snapshot(sync_db) == before

    removed = seg.run(
        """mutation($id: ID!) { removeSegmentUsage(segmentId: $id, kind: FLOW,
        refId: "flow_cancel") { userErrors { code } } }""",
        id=capitals,
    )["removeSegmentUsage"]
    assert removed["userErrors"] == [] and sync_db.segment_usages.count_documents({}) == 0
    deleted = seg.run(DELETE, id=capitals)["deleteSegment"]
    assert deleted["deletedId"] == source["id"]


def test_a_reference_to_an_id_in_capitals_is_the_segment(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """IN_SEGMENT naming a segment's id in capitals was refused as UNKNOWN_SEGMENT ("there is
    no TEST segment"), although segment(id:) reads it as that segment. It is now stored as the
    id, so the reference guards the segment like any other."""
    target = seg.created(name="Target", conditions=mrr_gt(100))
    reader = seg.created(name="Reader", conditions=in_segment(target["id"].upper()))
    assert reader["conditions"]["conditions"][0]["value"] == target["id"]
    stored = sync_db.segments.find_one({"name": "Reader"})
    assert stored is not None and stored["refs"] == [target["id"]]
    refused = seg.run(DELETE, id=target["id"])["deleteSegment"]
    assert errors_by_path(refused) == {"id": "SEGMENT_REFERENCED"}


def test_a_duplicate_of_conditions_no_longer_valid_is_refused_for_what_is_wrong_with_them(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """A segment saved before an empty group counted against SEGGRAPH_MAX_CONDITIONS (100
    conditions and an empty group): its duplicate was written, found invalid by the check after
    the write, undone, and refused as if "the property changed while this was saved". It is
    refused before anything is written, at ``id``, naming the segment, as a copy is."""
    full = {
        "conditions": [
            {"property": "subscriber.mrr", "operator": "GT", "value": i} for i in range(100)
        ]
    }
    segment = seg.created(name="Full", conditions=full)
    sync_db.segments.update_one(
        {"_id": ObjectId(segment["id"])},
        {"$push": {"conditions.children": {"combinator": "ANY", "children": []}}},
    )
    before = snapshot(sync_db)
    refused = seg.run(DUPLICATE, id=segment["id"])["duplicateSegment"]
    assert refused["segment"] is None
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["id"], "TOO_MANY_CONDITIONS")
    ]
    message = refused["userErrors"][0]["message"]
    assert message.startswith(f"segment {segment['id']}: a segment has at most 100 conditions")
    assert "changed while this was saved" not in message
    assert snapshot(sync_db) == before
