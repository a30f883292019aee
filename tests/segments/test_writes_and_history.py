"""Updates with optimistic concurrency, history, restore, duplicate, archive and delete."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure

from tests.segments.conftest import (
    PAYLOAD,
    UPDATE,
    SegmentClient,
    errors_by_path,
    mode_header,
    snapshot,
)

MRR_GT = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 100}]}
HISTORY = """query($id: ID!) { segment(id: $id) { version history {
  version action by note changes { field before after } segment { name version } } } }"""


def test_update_bumps_the_version_and_records_a_readable_diff(seg: SegmentClient) -> None:
    segment = seg.created(name="Big", tags=["a"], conditions=MRR_GT)
    payload = seg.update(
        id=segment["id"],
        expectedVersion=1,
        name="Bigger",
        tags=["a", "b"],
        conditions={"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 200}]},
    )
    assert payload["userErrors"] == []
    assert payload["segment"]["version"] == 2
    history = seg.run(HISTORY, id=segment["id"])["segment"]["history"]
    assert [(h["version"], h["action"]) for h in history] == [(2, "UPDATED"), (1, "CREATED")]
    assert {c["field"]: (c["before"], c["after"]) for c in history[0]["changes"]} == {
        "name": ("Big", "Bigger"),
        "tags": ("a", "a, b"),
        "conditions": ("subscriber.mrr > 100", "subscriber.mrr > 200"),
    }
    assert history[1]["segment"] == {"name": "Big", "version": 1}


def test_a_stale_version_is_a_conflict_carrying_the_current_version(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="x")
    assert seg.update(id=segment["id"], expectedVersion=1, name="y")["userErrors"] == []
    before = snapshot(sync_db)
    stale = seg.update(id=segment["id"], expectedVersion=1, name="z")
    assert errors_by_path(stale) == {"expectedVersion": "VERSION_CONFLICT"}
    assert stale["currentVersion"] == 2
    assert snapshot(sync_db) == before


def test_ten_concurrent_updates_from_one_version_one_wins(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="contended", conditions=MRR_GT)

    async def edit(client: httpx.AsyncClient, i: int) -> dict[str, Any]:
        response = await client.post(
            "/graphql",
            json={
                "query": UPDATE,
                "variables": {
                    "input": {
                        "id": segment["id"],
                        "expectedVersion": 1,
                        "name": f"edit {i}",
                        "conditions": {
                            "conditions": [
                                {"property": "subscriber.mrr", "operator": "GT", "value": i}
                            ]
                        },
                    }
                },
            },
        )
        result: dict[str, Any] = response.json()["data"]["updateSegment"]
        return result

    async def all_at_once() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as client:
            return await asyncio.gather(*(edit(client, i) for i in range(10)))

    results = asyncio.run(all_at_once())
    winners = [r for r in results if r["segment"]]
    losers = [r for r in results if not r["segment"]]
    assert len(winners) == 1 and len(losers) == 9
    for loser in losers:
        assert [e["code"] for e in loser["userErrors"]] == ["VERSION_CONFLICT"]
        assert loser["currentVersion"] == 2
    stored = seg.get(segment["id"])
    assert stored is not None
    assert stored["version"] == 2 and stored["name"] == winners[0]["segment"]["name"]
    # Nothing lost, nothing extra: exactly the creation and the winning edit are in history.
    versions = sorted(
        d["version"] for d in sync_db.segment_history.find({"segment_id": segment["id"]})
    )
    assert versions == [1, 2]


def test_restore_writes_a_new_version_equal_to_an_old_one(seg: SegmentClient) -> None:
    segment = seg.created(name="v1", conditions=MRR_GT)
    seg.update(id=segment["id"], expectedVersion=1, name="v2", conditions={"conditions": []})
    restored = seg.run(
        f"mutation($id: ID!) {{ restoreSegmentVersion(id: $id, version: 1, expectedVersion: 2) {{ {PAYLOAD} }} }}",
        id=segment["id"],
    )["restoreSegmentVersion"]
    assert restored["userErrors"] == []
    assert restored["segment"]["version"] == 3
    assert restored["segment"]["name"] == "v1"
    assert restored["segment"]["conditions"] == segment["conditions"]
    history = seg.run(HISTORY, id=segment["id"])["segment"]["history"]
    assert history[0]["action"] == "RESTORED" and history[0]["note"] == "restored version 1"


def test_duplicate_archive_unarchive(seg: SegmentClient) -> None:
    segment = seg.created(name="Original", tags=["t"], conditions=MRR_GT)
    copy = seg.run(
        f"mutation($id: ID!) {{ duplicateSegment(id: $id) {{ {PAYLOAD} }} }}", id=segment["id"]
    )["duplicateSegment"]["segment"]
    assert copy["name"] == "Original (copy)" and copy["id"] != segment["id"]
    assert copy["conditions"] == segment["conditions"] and copy["version"] == 1

    archived = seg.run(
        f"mutation($id: ID!) {{ archiveSegment(id: $id) {{ {PAYLOAD} }} }}", id=segment["id"]
    )["archiveSegment"]["segment"]
    assert archived["archived"] is True and archived["version"] == 2
    listed = seg.run("{ segments { nodes { id } } }")["segments"]["nodes"]
    assert [n["id"] for n in listed] == [copy["id"]]
    only_archived = seg.run("{ segments(filter: {archived: ARCHIVED}) { nodes { id } } }")
    assert [n["id"] for n in only_archived["segments"]["nodes"]] == [segment["id"]]

    back = seg.run(
        f"mutation($id: ID!) {{ unarchiveSegment(id: $id) {{ {PAYLOAD} }} }}", id=segment["id"]
    )["unarchiveSegment"]["segment"]
    assert back["archived"] is False and back["version"] == 3


def test_delete_removes_the_segment_and_keeps_its_history(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    segment = seg.created(name="doomed")
    deleted = seg.run(
        "mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }",
        id=segment["id"],
    )["deleteSegment"]
    assert deleted == {"deletedId": segment["id"], "userErrors": []}
    assert seg.get(segment["id"]) is None
    actions = [d["action"] for d in sync_db.segment_history.find({"segment_id": segment["id"]})]
    assert sorted(actions) == ["CREATED", "DELETED"]


def test_updating_a_missing_segment_is_a_clear_error(seg: SegmentClient) -> None:
    payload = seg.update(id="000000000000000000000000", expectedVersion=1, name="x")
    assert errors_by_path(payload) == {"id": "NOT_FOUND"}


def test_a_page_asked_again_after_an_update_shows_the_new_version(seg: SegmentClient) -> None:
    """The same document before and after an edit: the page answers the edited segment (a
    segment's view keeps what it answered, and an edit makes a new view)."""
    segment = seg.created(name="Before", tags=["page-again"])
    page = 'query { segments(first: 5, filter: {tags: ["page-again"]}) { nodes { name version } } }'
    assert seg.run(page)["segments"]["nodes"] == [{"name": "Before", "version": 1}]
    assert seg.run(page)["segments"]["nodes"] == [{"name": "Before", "version": 1}]
    assert seg.update(id=segment["id"], expectedVersion=1, name="After")["userErrors"] == []
    assert seg.run(page)["segments"]["nodes"] == [{"name": "After", "version": 2}]


def test_a_copy_of_the_longest_name_keeps_its_suffix(seg: SegmentClient) -> None:
    longest = seg.created(name="x" * 200)  # the copy's name is shortened, not "(copy)"
    copy = seg.run(
        f"mutation($id: ID!) {{ duplicateSegment(id: $id) {{ {PAYLOAD} }} }}", id=longest["id"]
    )["duplicateSegment"]["segment"]
    assert copy["name"] == "x" * 193 + " (copy)"


def edited(seg: SegmentClient, versions: int) -> str:
    """The id of a new segment written ``versions`` times (created, then updated)."""
    segment_id: str = seg.created(name="v1")["id"]
    for version in range(1, versions):
        payload = seg.update(id=segment_id, expectedVersion=version, name=f"v{version + 1}")
        assert payload["userErrors"] == []
    return segment_id


def test_a_duplicate_and_a_copy_number_their_own_versions_from_1(seg: SegmentClient) -> None:
    """A segment made from another starts its own numbering: its first edit is version 2, not
    the number after the source's (a gap README promises only where a write was undone)."""
    source_id = edited(seg, 4)
    duplicate = seg.run(
        f"mutation($id: ID!) {{ duplicateSegment(id: $id) {{ {PAYLOAD} }} }}", id=source_id
    )["duplicateSegment"]["segment"]
    copy = seg.run(
        f"mutation($id: ID!) {{ copySegmentToMode(id: $id, mode: LIVE) {{ {PAYLOAD} }} }}",
        mode="LIVE",
        id=source_id,
    )["copySegmentToMode"]["segment"]
    for made, mode in ((duplicate, "TEST"), (copy, "LIVE")):
        assert made["version"] == 1
        edit = seg.update(mode, id=made["id"], expectedVersion=1, name="edited")
        assert edit["userErrors"] == []
        assert edit["segment"]["version"] == 2
        history = seg.run(HISTORY, mode=mode, id=made["id"])["segment"]["history"]
        assert [entry["version"] for entry in history] == [2, 1]


HISTORY_PAGE = """query($id: ID!, $first: Int!, $before: Int) {
  segment(id: $id) { history(first: $first, beforeVersion: $before) { version } } }"""


def test_history_is_read_a_page_at_a_time_newest_first(seg: SegmentClient) -> None:
    """first bounds the page; the last version answered, as beforeVersion, asks for the next."""
    segment_id = edited(seg, 7)

    def page(first: int, before: int | None = None) -> list[int]:
        found = seg.run(HISTORY_PAGE, id=segment_id, first=first, before=before)
        return [v["version"] for v in found["segment"]["history"]]

    assert page(3) == [7, 6, 5]
    assert page(3, before=5) == [4, 3, 2]
    assert page(3, before=2) == [1]
    assert page(3, before=1) == []
    assert page(2, before=1000) == [7, 6]  # past the newest: from the newest
    assert page(500) == [7, 6, 5, 4, 3, 2, 1]
    everything = "query($id: ID!) { segment(id: $id) { history { version } } }"
    answered = seg.run(everything, id=segment_id)["segment"]["history"]
    assert [v["version"] for v in answered] == [7, 6, 5, 4, 3, 2, 1]


def test_history_page_bounds_are_refused_naming_the_argument(seg: SegmentClient) -> None:
    """Out of range, first or beforeVersion is an OUT_OF_RANGE error at that history alone:
    the other fields of the question are answered."""
    segment_id = edited(seg, 2)
    for arguments, message in (
        ("first: 0", "first must be 1..500, got 0"),
        ("first: -1", "first must be 1..500, got -1"),
        ("first: 501", "first must be 1..500, got 501"),
        ("beforeVersion: 0", "beforeVersion must be 1..2147483647, got 0"),
        ("first: 2, beforeVersion: -3", "beforeVersion must be 1..2147483647, got -3"),
    ):
        body = seg.gql.execute(
            f"query($id: ID!) {{ refused: segment(id: $id) {{ history({arguments}) {{ version }} }}"
            " segment(id: $id) { name history(first: 1) { version } } }",
            {"id": segment_id},
            **mode_header("TEST"),
        )
        assert body["data"] == {
            "refused": None,
            "segment": {"name": "v2", "history": [{"version": 2}]},
        }, arguments
        [error] = body["errors"]
        assert error["path"] == ["refused", "history"]
        assert error["message"] == message
        assert error["extensions"]["code"] == "OUT_OF_RANGE"


def test_a_history_page_is_read_through_an_index(
    seg: SegmentClient, sync_db: Database[dict[str, Any]]
) -> None:
    """The page's query (SegmentStore.list_history's) scans one segment's versions in an
    index, not every segment's history."""
    segment_id = edited(seg, 3)
    edited(seg, 2)  # another segment's history beside it
    page = (
        sync_db.segment_history.find(
            {"segment_id": segment_id, "mode": "TEST", "version": {"$lt": 3}}
        )
        .sort("version", -1)
        .limit(1)
    )
    assert [d["version"] for d in page.clone()] == [2]
    stages = []
    plan = page.explain()["queryPlanner"]["winningPlan"]
    plan = plan.get("queryPlan", plan)  # MongoDB's slot-based engine nests it
    while plan:
        stages.append(plan["stage"])
        plan = plan.get("inputStage")
    assert "IXSCAN" in stages and "COLLSCAN" not in stages, stages


def _fails_after_the_write(store: Any, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the first call of ``store.<method>`` after the next segment write fail, as the
    database failing would (the checks a write makes once it is saved)."""
    written: list[bool] = []
    failed: list[bool] = []
    for write in ("insert", "replace_if_version"):
        original_write = getattr(store, write)

        async def writing(*args: Any, _original: Any = original_write, **kwargs: Any) -> Any:
            result = await _original(*args, **kwargs)
            written.append(True)
            return result

        monkeypatch.setattr(store, write, writing)
    original = getattr(store, method)

    async def failing(*args: Any, **kwargs: Any) -> Any:
        if written and not failed:
            failed.append(True)
            raise OperationFailure("injected failure", code=2)
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, method, failing)


@pytest.mark.parametrize("check", ["count_active", "delete_marks", "reference_graph"])
def test_a_write_whose_checks_after_it_fail_is_undone_and_answered_an_error(
    seg: SegmentClient,
    live_server: Any,
    sync_db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    check: str,
) -> None:
    """The database fails while a saved write is checked (the mode's limit, the segments it
    references, a cycle): the client is answered an error, so nothing stays saved, neither
    the segment nor its history entry (a client writing again would make a second one, and
    an unchecked reference could name a segment deleted meanwhile)."""
    target = seg.created(name="Target")["id"]
    before = snapshot(sync_db)
    store = live_server.app.state.services.segments.store
    _fails_after_the_write(store, check, monkeypatch)
    created = seg.gql.execute(
        f"mutation($input: CreateSegmentInput!) {{ createSegment(input: $input) {{ {PAYLOAD} }} }}",
        {"input": {"name": "Ref", "conditions": in_segment(target)}},
    )
    assert created["data"] is None
    assert created["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert created["errors"][0]["message"].startswith("Unexpected error; request id")
    after = snapshot(sync_db)
    assert after["segments"] == before["segments"]
    assert after["segment_history"] == before["segment_history"]
    assert seg.gql.query("{ segments { totalCount } }")["segments"]["totalCount"] == 1

    monkeypatch.undo()
    if check == "count_active":
        return  # an update adds no active segment: the mode is not counted
    # An update the same: the segment stays at its version, with its history.
    ref = seg.created(name="Ref")["id"]
    before = snapshot(sync_db)
    _fails_after_the_write(store, check, monkeypatch)
    updated = seg.gql.execute(
        UPDATE, {"input": {"id": ref, "expectedVersion": 1, "conditions": in_segment(target)}}
    )
    assert updated["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    stored = sync_db.segments.find_one({"name": "Ref"})
    assert stored is not None
    assert (stored["version"], stored["refs"]) == (1, [])  # (its number 2 stays used)
    assert snapshot(sync_db)["segment_history"] == before["segment_history"]
    # and the same edit saved again goes through, at the next version
    assert seg.update(id=ref, expectedVersion=1, conditions=in_segment(target))["segment"][
        "version"
    ] in (2, 3)


def in_segment(segment_id: str) -> dict[str, Any]:
    return {"conditions": [{"property": "segment", "operator": "IN_SEGMENT", "value": segment_id}]}
