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
from tests.segments.conftest import PAYLOAD, SegmentClient, errors_by_path, snapshot

COPY = f"""mutation($id: ID!, $expected: Int, $ack: Boolean! = false) {{
  copySegmentToMode(id: $id, mode: LIVE, expectedVersion: $expected, acknowledgeLiveUsage: $ack)
  {{ {PAYLOAD} }} }}"""
RESTORE = f"""mutation($id: ID!, $version: Int!, $expected: Int!, $ack: Boolean! = false) {{
  restoreSegmentVersion(id: $id, version: $version, expectedVersion: $expected,
    acknowledgeLiveUsage: $ack) {{ {PAYLOAD} }} }}"""
REGISTER = """mutation($input: SegmentUsageInput!) { registerSegmentUsage(input: $input) {
  usage { refId } userErrors { path code message } } }"""


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
    assert "no LIVE copy" in refused["userErrors"][0]["message"]
    assert snapshot(sync_db) == before


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
            response = http.post(
                "/graphql", json={"query": COPY, "variables": {"id": source_id, "expected": 1}}
            )
            copied = response.json()["data"]["copySegmentToMode"]
        assert copied["userErrors"] == [] and copied["segment"]["id"] == copy_ids[0]
        assert copied["segment"]["version"] == 2
    finally:
        client.drop_database(name)
        client.close()
