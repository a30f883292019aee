"""Segment writes that race: copies to the other mode, against each other and against edits.
Every race is fired for real (several requests at once against the live server, over several
rounds) and the invariant a user relies on is asserted every round."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pymongo.database import Database

from tests.segments.conftest import PAYLOAD, UPDATE, SegmentClient

COPY = f"""mutation($id: ID!) {{ copySegmentToMode(id: $id, mode: LIVE) {{ {PAYLOAD} }} }}"""
MRR_GT = {"conditions": [{"property": "subscriber.mrr", "operator": "GT", "value": 100}]}


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


def history_is_whole(db: Database[dict[str, Any]]) -> None:
    """Every stored segment has exactly the history entries 1..its version."""
    for doc in db.segments.find():
        versions = sorted(
            h["version"] for h in db.segment_history.find({"segment_id": str(doc["_id"])})
        )
        assert versions == list(range(1, doc["version"] + 1)), (doc["_id"], versions)


# -- copySegmentToMode: one counterpart, whoever asks at once ----------------------------------


def test_copies_asked_at_once_make_one_counterpart_and_all_answer_it(
    seg: SegmentClient, http: httpx.Client, sync_db: Database[dict[str, Any]]
) -> None:
    for round_ in range(6):
        source = seg.created(name=f"Source {round_}", conditions=MRR_GT)
        answers = [
            a["copySegmentToMode"] for a in at_once(http, *[(COPY, {"id": source["id"]})] * 3)
        ]

        copies = list(sync_db.segments.find({"mode": "LIVE", "source_id": source["id"]}))
        assert len(copies) == 1, f"round {round_}: {len(copies)} LIVE copies"
        # The requests that lost the race answer the copy the winner made: same segment, same
        # version, no error (they asked for exactly what it holds).
        for answer in answers:
            assert answer["userErrors"] == [], answer["userErrors"]
            assert answer["segment"]["id"] == str(copies[0]["_id"])
            assert answer["segment"]["version"] == 1
            assert answer["segment"]["conditions"] == source["conditions"]
        history = list(sync_db.segment_history.find({"segment_id": str(copies[0]["_id"])}))
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
