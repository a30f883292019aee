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
