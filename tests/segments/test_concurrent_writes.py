"""Segment writes that race: copies to the other mode, and deletes against new references and
usages. Every race is fired for real (several requests at once against the live server, over
several rounds) and the invariant a user relies on is asserted every round."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from pymongo.database import Database

from tests.segments.conftest import PAYLOAD, UPDATE, SegmentClient, snapshot

COPY = f"""mutation($id: ID!) {{ copySegmentToMode(id: $id, mode: LIVE) {{ {PAYLOAD} }} }}"""
CREATE = """mutation($input: CreateSegmentInput!) { createSegment(input: $input) {
  segment { id } userErrors { path code message } } }"""
REGISTER = """mutation($input: SegmentUsageInput!) { registerSegmentUsage(input: $input) {
  usage { refId } userErrors { path code message } } }"""
DELETE = """mutation($id: ID!) { deleteSegment(id: $id) {
  deletedId userErrors { path code message } } }"""
ORDERS = list(itertools.permutations(range(3)))
MRR_GT = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 100}]}


def in_segment(segment_id: str) -> dict[str, Any]:
    return {"conditions": [{"property": "segment", "operator": "IN_SEGMENT", "value": segment_id}]}


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], mode: str = "TEST"
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"X-Seggraph-Mode": mode},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def at_once(http: httpx.Client, *requests: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The requests (``(query, variables[, mode])``) sent together, one connection each; their
    answers in the same order."""

    async def send() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as client:
            return await asyncio.gather(*(_post(client, *request) for request in requests))

    return asyncio.run(send())


def the_one_copy_all_answer(
    db: Database[dict[str, Any]],
    mode: str,
    source_id: str,
    answers: list[dict[str, Any]],
    round_: int,
) -> dict[str, Any]:
    """The one ``mode`` copy of ``source_id`` stored, which every answer (no error) gives at
    version 1."""
    copies = list(db.segments.find({"mode": mode, "source_id": source_id}))
    assert len(copies) == 1, f"round {round_}: {len(copies)} {mode} copies"
    for answer in answers:
        assert answer["userErrors"] == [], answer["userErrors"]
        assert answer["segment"]["id"] == str(copies[0]["_id"])
        assert answer["segment"]["version"] == 1
    return copies[0]


def history_is_whole(db: Database[dict[str, Any]]) -> None:
    """Every stored segment has exactly the history entries 1..its version."""
    for doc in db.segments.find():
        versions = sorted(
            h["version"] for h in db.segment_history.find({"segment_id": str(doc["_id"])})
        )
        assert versions == list(range(1, doc["version"] + 1)), (doc["_id"], versions)


# -- archive, unarchive and delete without expectedVersion: not checked ------------------------

ARCHIVE = f"""mutation($id: ID!) {{ archiveSegment(id: $id) {{ {PAYLOAD} }} }}"""
UNARCHIVE = f"""mutation($id: ID!) {{ unarchiveSegment(id: $id) {{ {PAYLOAD} }} }}"""


def test_an_edit_saved_meanwhile_is_no_conflict_without_expected_version(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    """archiveSegment, unarchiveSegment and deleteSegment check the version only when given
    one ("Omitted: not checked"): an edit saved between their read and their write is no
    VERSION_CONFLICT (at an expectedVersion the client never sent). The edit, which names
    its version, is written when it comes first, and refused when it comes second."""
    for round_ in range(6):
        segment = seg.created(name=f"Racing {round_}")
        version = 1
        for toggle, archived in ((ARCHIVE, True), (UNARCHIVE, False)):
            edit = {"id": segment["id"], "expectedVersion": version, "name": f"v{version + 1}"}
            edited, toggled = at_once(
                http, (UPDATE, {"input": edit}), (toggle, segment_id(segment))
            )
            toggled = next(iter(toggled.values()))
            assert toggled["userErrors"] == [], f"round {round_}: {toggled['userErrors']}"
            edit_saved = edited["updateSegment"]["segment"] is not None
            version += 2 if edit_saved else 1
            stored = seg.get(segment["id"])
            assert stored is not None
            assert (stored["archived"], stored["version"]) == (archived, version)

        edit = {"id": segment["id"], "expectedVersion": version, "name": "Edited once more"}
        _, deleted = at_once(http, (UPDATE, {"input": edit}), (DELETE, segment_id(segment)))
        assert deleted["deleteSegment"]["userErrors"] == [], f"round {round_}"
        assert deleted["deleteSegment"]["deletedId"] == segment["id"]
        assert seg.get(segment["id"]) is None
    history_is_whole(sync_db)


def segment_id(segment: dict[str, Any]) -> dict[str, Any]:
    return {"id": segment["id"]}


# -- copySegmentToMode: one counterpart, whoever asks at once ----------------------------------


def test_copies_asked_at_once_make_one_counterpart_and_all_answer_it(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    for round_ in range(6):
        source = seg.created(name=f"Source {round_}", conditions=MRR_GT)
        answers = [
            a["copySegmentToMode"] for a in at_once(http, *[(COPY, {"id": source["id"]})] * 3)
        ]

        # The requests that lost the race answer the copy the winner made: same segment, same
        # version, no error (they asked for exactly what it holds).
        copy = the_one_copy_all_answer(sync_db, "LIVE", source["id"], answers, round_)
        for answer in answers:
            assert answer["segment"]["conditions"] == source["conditions"]
        history = list(sync_db.segment_history.find({"segment_id": str(copy["_id"])}))
        assert [h["action"] for h in history] == ["COPIED"]
    history_is_whole(sync_db)


def test_a_copy_onto_a_counterpart_and_a_live_edit_at_once_one_wins(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    """Two copies of an edited TEST segment and an edit of its LIVE counterpart, all from the
    counterpart's version 1: one is written, the others are told the version now stored."""
    copy_v1 = f"""mutation($id: ID!) {{ copySegmentToMode(id: $id, mode: LIVE,
      expectedVersion: 1) {{ {PAYLOAD} }} }}"""
    for round_ in range(6):
        source = seg.created(name=f"Source {round_}", conditions=MRR_GT)
        live = seg.run(COPY, id=source["id"])["copySegmentToMode"]["segment"]
        changed = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 7}]}
        assert (
            seg.update(id=source["id"], expectedVersion=1, conditions=changed)["userErrors"] == []
        )
        live_edit = {"id": live["id"], "expectedVersion": 1, "name": "Edited live"}
        answers = at_once(
            http,
            (copy_v1, {"id": source["id"]}),
            (UPDATE, {"input": live_edit}, "LIVE"),
            (copy_v1, {"id": source["id"]}),
        )
        payloads = [a.get("copySegmentToMode") or a["updateSegment"] for a in answers]
        winners = [p for p in payloads if p["segment"]]
        losers = [p for p in payloads if not p["segment"]]
        assert len(winners) == 1 and len(losers) == 2, f"round {round_}: {payloads}"
        for loser in losers:
            assert [e["code"] for e in loser["userErrors"]] == ["VERSION_CONFLICT"]
            assert loser["currentVersion"] == 2
        stored = seg.get(live["id"], mode="LIVE")
        assert stored is not None and stored["version"] == 2
        assert (stored["name"], stored["conditionsText"]) == (
            winners[0]["segment"]["name"],
            winners[0]["segment"]["conditionsText"],
        )
        assert sync_db.segments.count_documents({"mode": "LIVE", "source_id": source["id"]}) == 1
    history_is_whole(sync_db)


def test_copies_back_asked_at_once_update_the_original_once_and_make_no_segment(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    """Copying a LIVE copy back to TEST updates the TEST segment it came from: asked three
    times at once from its version, one write wins and the others are told the version now
    stored; no TEST segment is made. Once that original is deleted, copies back at once make
    one new TEST counterpart, and every request answers it."""
    copy_to_test = f"""mutation($id: ID!, $expected: Int) {{ copySegmentToMode(id: $id,
      mode: TEST, expectedVersion: $expected) {{ {PAYLOAD} }} }}"""
    for round_ in range(6):
        source = seg.created(name=f"Source {round_}", conditions=MRR_GT)
        live = seg.run(COPY, id=source["id"])["copySegmentToMode"]["segment"]
        live_edit = {"id": live["id"], "expectedVersion": 1, "name": f"Edited {round_}"}
        assert seg.update("LIVE", **live_edit)["userErrors"] == []

        back = (copy_to_test, {"id": live["id"], "expected": 1}, "LIVE")
        payloads = [a["copySegmentToMode"] for a in at_once(http, *[back] * 3)]
        winners = [p for p in payloads if p["segment"]]
        losers = [p for p in payloads if not p["segment"]]
        assert len(winners) == 1 and len(losers) == 2, f"round {round_}: {payloads}"
        assert winners[0]["segment"]["id"] == source["id"]
        assert winners[0]["segment"]["name"] == f"Edited {round_}"
        for loser in losers:
            assert [e["code"] for e in loser["userErrors"]] == ["VERSION_CONFLICT"]
            assert loser["currentVersion"] == 2
        stored = seg.get(source["id"])
        assert stored is not None and stored["version"] == 2
        assert sync_db.segments.count_documents({"source_id": live["id"]}) == 0

        # The original deleted: one new counterpart, however many ask at once.
        assert seg.run(DELETE, id=source["id"])["deleteSegment"]["userErrors"] == []
        anew = (copy_to_test, {"id": live["id"]}, "LIVE")
        payloads = [a["copySegmentToMode"] for a in at_once(http, *[anew] * 3)]
        the_one_copy_all_answer(sync_db, "TEST", live["id"], payloads, round_)
    history_is_whole(sync_db)


# -- deleteSegment against a new reference and a new usage -------------------------------------


def test_a_delete_racing_a_new_reference_and_a_new_usage_never_leaves_them_dangling(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    for round_ in range(24):
        target = seg.created(name=f"Target {round_}", conditions=MRR_GT)
        requests = [
            (CREATE, {"input": {"name": f"Ref {round_}", "conditions": in_segment(target["id"])}}),
            (
                REGISTER,
                {"input": {"segmentId": target["id"], "kind": "FLOW", "refId": f"flow_{round_}"}},
            ),
            (DELETE, {"id": target["id"]}),
        ]
        # Sent in every order in turn: each request gets its rounds of being first.
        order = ORDERS[round_ % len(ORDERS)]
        answers = at_once(http, *(requests[i] for i in order))
        created, registered, deleted = (answers[order.index(i)] for i in range(3))
        created, registered = created["createSegment"], registered["registerSegmentUsage"]
        deleted = deleted["deleteSegment"]

        referencing = sync_db.segments.count_documents({"refs": target["id"]})
        usages = sync_db.segment_usages.count_documents({"segment_id": target["id"]})
        stored = sync_db.segments.find_one({"_id": target_oid(target)})
        if deleted["deletedId"]:
            assert deleted["userErrors"] == []
            assert stored is None
            assert referencing == 0 and usages == 0, f"round {round_}: dangling after a delete"
        else:
            assert {e["code"] for e in deleted["userErrors"]} <= {
                "SEGMENT_IN_USE",
                "SEGMENT_REFERENCED",
            }, deleted
            assert stored is not None
            assert "deleting" not in stored, "a refused delete left its mark behind"
        # What each request answered is what is stored.
        assert (created["segment"] is not None) == (referencing == 1), (round_, created)
        assert (registered["usage"] is not None) == (usages == 1), (round_, registered)
        if created["segment"] is None:
            assert [e["code"] for e in created["userErrors"]] == ["UNKNOWN_SEGMENT"]
            assert created["userErrors"][0]["path"] == ["conditions"]
        if registered["usage"] is None:
            assert [e["code"] for e in registered["userErrors"]] == ["NOT_FOUND"]
            assert registered["userErrors"][0]["path"] == ["segmentId"]
    history_is_whole(sync_db)
    # A segment no longer stored was deleted (its history ends DELETED); one whose creation was
    # undone left no history at all.
    stored_ids = {str(doc["_id"]) for doc in sync_db.segments.find()}
    gone: dict[str, list[str]] = {}
    for entry in sync_db.segment_history.find({"segment_id": {"$nin": sorted(stored_ids)}}):
        gone.setdefault(entry["segment_id"], []).append(entry["action"])
    assert all(sorted(actions) == ["CREATED", "DELETED"] for actions in gone.values()), gone


def target_oid(segment: dict[str, Any]) -> ObjectId:
    return ObjectId(segment["id"])


def test_restore_is_also_refused_a_reference_to_a_segment_being_deleted(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """Any write that saves a reference checks it after writing: here a restore of a version
    that referenced a segment now marked by a delete in progress."""
    target = seg.created(name="Target")
    referrer = seg.created(name="Referrer", conditions=in_segment(target["id"]))
    assert seg.update(id=referrer["id"], expectedVersion=1, conditions=MRR_GT)["userErrors"] == []
    mark_deleting(sync_db, target["id"], seconds_ago=1)
    before = snapshot_without_tokens(sync_db)
    restored = seg.run(
        f"""mutation($id: ID!) {{ restoreSegmentVersion(id: $id, version: 1, expectedVersion: 2)
          {{ {PAYLOAD} }} }}""",
        id=referrer["id"],
    )["restoreSegmentVersion"]
    assert [(e["path"], e["code"]) for e in restored["userErrors"]] == [
        (["version"], "UNKNOWN_SEGMENT")
    ]
    assert "being deleted" in restored["userErrors"][0]["message"]
    # Nothing stays but the number the undone write used: version 3 is never used again.
    stored = sync_db.segments.find_one({"_id": ObjectId(referrer["id"])})
    assert stored is not None and (stored["version"], stored["versions_used"]) == (2, 3)
    sync_db.segments.update_one({"_id": stored["_id"]}, {"$set": {"versions_used": 2}})
    assert snapshot_without_tokens(sync_db) == before
    history_is_whole(sync_db)


# -- the mark a delete leaves while it checks --------------------------------------------------


def mark_deleting(db: Database[dict[str, Any]], segment_id: str, *, seconds_ago: float) -> None:
    """The mark a delete in progress puts on its segment (or one left by a delete that died)."""
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    db.segments.update_one(
        {"_id": ObjectId(segment_id)}, {"$set": {"deleting": {"token": ObjectId(), "at": at}}}
    )


def snapshot_without_tokens(db: Database[dict[str, Any]]) -> dict[str, list[bytes]]:
    """Every document but the write tokens (a write undone changes its mode's token again)."""
    taken = snapshot(db)
    taken.pop("segments_meta", None)
    return taken


def test_a_segment_being_deleted_reads_as_before_but_takes_no_new_reference_or_usage(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """A delete that does not finish (within the second a new reference or usage waits for
    it) keeps them away."""
    target = seg.created(name="Target")
    mark_deleting(sync_db, target["id"], seconds_ago=1)

    # Readers and evaluation see the segment as it is: the mark is not part of it.
    assert seg.get(target["id"]) == target
    evaluated = seg.run(
        'query($id: ID!) { segment(id: $id) { evaluate(subscriberId: "cus_1") { result } } }',
        id=target["id"],
    )
    assert evaluated["segment"]["evaluate"]["result"] == "MEMBER"  # empty ALL: everyone

    before = snapshot_without_tokens(sync_db)
    refused = seg.create(name="Ref", conditions=in_segment(target["id"]))
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["conditions"], "UNKNOWN_SEGMENT")
    ]
    assert "being deleted" in refused["userErrors"][0]["message"]
    usage = seg.run(REGISTER, input={"segmentId": target["id"], "kind": "FLOW", "refId": "flow_1"})[
        "registerSegmentUsage"
    ]
    assert [(e["path"], e["code"]) for e in usage["userErrors"]] == [(["segmentId"], "NOT_FOUND")]
    assert "being deleted" in usage["userErrors"][0]["message"]
    assert snapshot_without_tokens(sync_db) == before


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_a_new_reference_or_usage_waits_for_a_delete_in_progress_to_finish(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    # The delete is refused (its mark taken away): the reference and the usage stand.
    target = seg.created(name="Target")
    mark_deleting(sync_db, target["id"], seconds_ago=0)
    unmark = {"$unset": {"deleting": ""}}
    later(0.2, lambda: sync_db.segments.update_one({"_id": target_oid(target)}, unmark))
    referrer = seg.create(name="Ref", conditions=in_segment(target["id"]))
    assert referrer["userErrors"] == []
    mark_deleting(sync_db, target["id"], seconds_ago=0)
    later(0.2, lambda: sync_db.segments.update_one({"_id": target_oid(target)}, unmark))
    usage = seg.run(REGISTER, input={"segmentId": target["id"], "kind": "FLOW", "refId": "flow_1"})[
        "registerSegmentUsage"
    ]
    assert usage["userErrors"] == []
    assert sync_db.segment_usages.count_documents({"segment_id": target["id"]}) == 1

    # The delete goes through: they are refused, and nothing of them is left.
    other = seg.created(name="Other")
    mark_deleting(sync_db, other["id"], seconds_ago=0)
    later(0.2, lambda: sync_db.segments.delete_one({"_id": target_oid(other)}))
    refused = seg.create(name="Ref 2", conditions=in_segment(other["id"]))
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["conditions"], "UNKNOWN_SEGMENT")
    ]
    assert "deleted meanwhile" in refused["userErrors"][0]["message"]
    assert sync_db.segments.count_documents({"refs": other["id"]}) == 0
    history_is_whole(sync_db)
    assert sync_db.segment_history.count_documents({"snapshot.name": "Ref 2"}) == 0


def test_a_mark_left_by_a_delete_that_died_is_ignored_after_a_minute(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    target = seg.created(name="Target")
    mark_deleting(sync_db, target["id"], seconds_ago=61)
    assert seg.create(name="Ref", conditions=in_segment(target["id"]))["userErrors"] == []
    usage = seg.run(REGISTER, input={"segmentId": target["id"], "kind": "FLOW", "refId": "flow_1"})[
        "registerSegmentUsage"
    ]
    assert usage["userErrors"] == []

    # And a delete takes the stale mark over (here: to be refused, and to take its mark away).
    other = seg.created(name="Other")
    mark_deleting(sync_db, other["id"], seconds_ago=61)
    assert seg.run(DELETE, id=other["id"])["deleteSegment"] == {
        "deletedId": other["id"],
        "userErrors": [],
    }
    refused = seg.run(DELETE, id=target["id"])["deleteSegment"]
    assert {e["code"] for e in refused["userErrors"]} == {"SEGMENT_IN_USE", "SEGMENT_REFERENCED"}
    stored = sync_db.segments.find_one({"_id": target_oid(target)})
    assert stored is not None and "deleting" not in stored


def test_a_second_delete_while_one_is_in_progress_is_refused_and_writes_nothing(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    target = seg.created(name="Target")
    mark_deleting(sync_db, target["id"], seconds_ago=1)
    before = snapshot(sync_db)
    refused = seg.run(DELETE, id=target["id"])["deleteSegment"]
    assert refused["deletedId"] is None
    assert [(e["path"], e["code"]) for e in refused["userErrors"]] == [
        (["id"], "DELETE_IN_PROGRESS")
    ]
    assert snapshot(sync_db) == before
