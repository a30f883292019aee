"""Reading stored segments: each version's tree is decoded once per process, and never
confused with another tree stored under the same version (a rolled-back write)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId

from seggraph.domain.conditions import Combinator, Condition, Group, Operator
from seggraph.domain.segments import Mode, Segment
from seggraph.store.segments import from_document, to_document


def stored(conditions: Group, segment_id: str) -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    segment = Segment(
        id=segment_id, mode=Mode.TEST, name="s", description="", tags=(),
        conditions=conditions, version=2, archived=False, created_at=now, created_by="a",
        updated_at=now, updated_by="a", source_id=None,
    )  # fmt: skip
    doc = to_document(segment)
    doc["_id"] = ObjectId(segment_id)
    return doc


def test_a_version_stored_again_with_another_tree_reads_as_stored() -> None:
    segment_id = str(ObjectId())
    first = Group(Combinator.ALL, (Condition("subscriber.mrr", Operator.GT, Decimal(100)),))
    second = Group(Combinator.ANY, (Condition("plan.interval", Operator.EQ, "YEAR"),))
    assert from_document(stored(first, segment_id)).conditions == first
    again = from_document(stored(first, segment_id))
    assert again.conditions is from_document(stored(first, segment_id)).conditions  # shared
    assert from_document(stored(second, segment_id)).conditions == second
