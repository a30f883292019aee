"""Segments that read other segments through long chains of IN_SEGMENT references."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from seggraph.domain.segments import Mode, Segment
from seggraph.services.segments import find_cycle
from seggraph.store.segments import to_document
from seggraph.textform import parse
from tests.conftest import GraphQLClient

CREATE = """mutation($input: CreateSegmentInput!) { createSegment(input: $input) {
  segment { id version } userErrors { path code message } } }"""
EDIT = """mutation($input: UpdateSegmentInput!) { updateSegment(input: $input) {
  segment { version } userErrors { path code message } } }"""
EVALUATE = """query($id: ID!) { segment(id: $id) {
  evaluate(subscriberId: "sub_020") { result } } }"""


def stored_chain(db: Database[dict[str, Any]], length: int) -> list[str]:
    """``length`` archived TEST segments, each reading the one before it (the first reads
    ``subscriber.mrr > 100``), written as they are stored (archived segments do not count
    towards a mode's 500: a chain may be longer than that); their ids, first to last."""
    now = datetime.now(UTC)
    ids = [str(ObjectId()) for _ in range(length)]
    documents = []
    for i, segment_id in enumerate(ids):
        text = "subscriber.mrr > 100" if i == 0 else f'IN SEGMENT "{ids[i - 1]}"'
        segment = Segment(
            segment_id, Mode.TEST, f"link {i}", "", (), parse(text), 1, True, now, "t", now, "t"
        )
        documents.append(to_document(segment))
    db.segments.insert_many(documents)
    return ids


def test_a_chain_longer_than_the_recursion_limit_is_read_and_checked_for_cycles(
    q: GraphQLClient, sync_db: Database[dict[str, Any]]
) -> None:
    """The look for a cycle after each write recursed once per segment of the chain, so
    every write naming the end of a chain of about a thousand (create, edit, archive) was
    answered an internal error."""
    chain = stored_chain(sync_db, 1200)
    created = q.query(
        CREATE, {"input": {"name": "reader", "conditionsText": f'IN SEGMENT "{chain[-1]}"'}}
    )["createSegment"]
    assert created["userErrors"] == []
    reader = created["segment"]["id"]
    assert q.query(EVALUATE, {"id": reader})["segment"]["evaluate"]["result"] == "MEMBER"

    closing = {"id": chain[0], "expectedVersion": 1, "conditionsText": f'IN SEGMENT "{reader}"'}
    [refused] = q.query(EDIT, {"input": closing})["updateSegment"]["userErrors"]
    assert refused["code"] == "REFERENCE_CYCLE"
    named = " -> ".join([chain[0], reader, *reversed(chain)])
    assert named in refused["message"]


def test_find_cycle_walks_a_long_chain_without_recursing() -> None:
    ids = [f"s{i}" for i in range(5000)]
    chain = {a: [b] for a, b in itertools.pairwise(ids)}
    assert find_cycle(chain, ids[0]) is None
    assert find_cycle({**chain, ids[-1]: [ids[0]]}, ids[0]) == [*ids, ids[0]]


def stored_cycle(db: Database[dict[str, Any]]) -> tuple[str, str]:
    """Two active TEST segments, A -> B -> A, written as they are stored (a cycle saved
    before cycles were refused, or by another tool); their ids."""
    now = datetime.now(UTC)
    a, b = str(ObjectId()), str(ObjectId())
    for this, other in ((a, b), (b, a)):
        tree = parse(f'IN SEGMENT "{other}"')
        segment = Segment(this, Mode.TEST, this, "", (), tree, 1, False, now, "t", now, "t")
        db.segments.insert_one(to_document(segment))
    return a, b


IMPACT = """query($id: ID!, $text: String!) { segmentEditImpact(id: $id, conditionsText: $text) {
  impact { evaluated } userErrors { path code message } } }"""


def test_a_reference_into_a_stored_cycle_is_refused_naming_the_way_in(
    q: GraphQLClient, sync_db: Database[dict[str, Any]]
) -> None:
    """An edit (or an edit's impact) naming a segment of a stored cycle the edited segment is
    not part of was answered an internal error, and a new segment naming one was refused as
    if it closed the cycle, "an edit saved meanwhile closed it". Each is refused at the
    condition, naming the path from the segment into the cycle."""
    a, b = stored_cycle(sync_db)
    into = f'IN SEGMENT "{a}"'
    d = q.query(CREATE, {"input": {"name": "D", "conditionsText": "subscriber.mrr > 10"}})
    d_id = d["createSegment"]["segment"]["id"]

    edit = {"id": d_id, "expectedVersion": 1, "conditionsText": into}
    [refused] = q.query(EDIT, {"input": edit})["updateSegment"]["userErrors"]
    assert refused["path"] == ["conditionsText", "conditions", "0", "value"]
    assert refused["code"] == "REFERENCE_CYCLE"
    assert f"lead into a cycle: {d_id} -> {a} -> {b} -> {a}" in refused["message"]

    impact = q.query(IMPACT, {"id": d_id, "text": into})["segmentEditImpact"]
    assert impact["impact"] is None
    assert [e["code"] for e in impact["userErrors"]] == ["REFERENCE_CYCLE"]

    # A new segment is refused before it is written, at the condition as an edit is, and
    # its path starts from "the new segment": it was saved, then undone, and refused at
    # ["conditionsText"] naming the id of a segment that no longer existed.
    other = f"subscriber.mrr > 10 AND {into}"
    new = q.query(CREATE, {"input": {"name": "E", "conditionsText": other}})["createSegment"]
    [refused] = new["userErrors"]
    assert refused["code"] == "REFERENCE_CYCLE"
    assert refused["path"] == ["conditionsText", "conditions", "1", "value"]
    assert f"lead into a cycle: the new segment -> {a} -> {b} -> {a}" in refused["message"]
    assert "meanwhile" not in refused["message"]
    names = "{ segments(filter: {archived: ALL}) { nodes { name } } }"
    assert sorted(n["name"] for n in q.query(names)["segments"]["nodes"]) == sorted(["D", a, b])

    # Breaking the cycle is an edit like any other; D may then read A.
    broken = {"id": a, "expectedVersion": 1, "conditionsText": "subscriber.mrr > 10"}
    assert q.query(EDIT, {"input": broken})["updateSegment"]["userErrors"] == []
    assert q.query(EDIT, {"input": edit})["updateSegment"]["userErrors"] == []
