"""copySegmentToMode and restoreSegmentVersion follow updateSegment's rules: the version you
loaded (a stale one is a VERSION_CONFLICT with the current version), and acknowledgeLiveUsage
to change the conditions of a segment that live usages route by."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

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
