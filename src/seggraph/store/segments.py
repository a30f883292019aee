"""The ``segments`` collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from seggraph.db import IndexSpec
from seggraph.domain.segments import Segment
from seggraph.store.pagination import encode_cursor, newest_first_after

COLLECTION = "segments"
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]

INDEXES = IndexSpec(
    COLLECTION,
    (IndexModel(NEWEST_FIRST, name="newest_first"),),
)


def to_object_id(segment_id: str) -> ObjectId | None:
    try:
        return ObjectId(segment_id)
    except (InvalidId, TypeError):
        return None


def from_document(doc: dict[str, Any]) -> Segment:
    return Segment(
        id=str(doc["_id"]),
        name=doc["name"],
        description=doc.get("description", ""),
        tags=tuple(doc.get("tags", ())),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class SegmentStore:
    def __init__(self, db: AsyncDatabase[dict]) -> None:
        self.collection = db[COLLECTION]

    async def insert(
        self, *, name: str, description: str, tags: tuple[str, ...], now: datetime
    ) -> Segment:
        doc = {
            "_id": ObjectId(),
            "name": name,
            "description": description,
            "tags": list(tags),
            "created_at": now,
            "updated_at": now,
        }
        await self.collection.insert_one(doc)
        return from_document(doc)

    async def get(self, segment_id: str) -> Segment | None:
        oid = to_object_id(segment_id)
        if oid is None:
            return None
        doc = await self.collection.find_one({"_id": oid})
        return from_document(doc) if doc else None

    async def page(
        self, *, first: int, after: str | None
    ) -> tuple[list[tuple[str, Segment]], bool, int]:
        """One newest-first page: ``(cursor, segment)`` pairs, whether more follow, the total."""
        cursor = self.collection.find(newest_first_after(after)).sort(NEWEST_FIRST).limit(first + 1)
        docs = await cursor.to_list()
        total = await self.collection.count_documents({})
        rows = [(encode_cursor(d["created_at"], d["_id"]), from_document(d)) for d in docs[:first]]
        return rows, len(docs) > first, total
