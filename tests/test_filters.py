"""``all_of``: one filter for the documents every filter matches, flat where it can be."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.synchronous.database import Database as SyncDatabase

from seggraph.store.filters import all_of

DOCS = [
    {"_id": "a", "deleted": True, "plan": "pro", "n": 1},
    {"_id": "b", "plan": "pro", "n": 5},
    {"_id": "c", "plan": "free", "n": 9},
    {"_id": "d", "deleted": False, "plan": "pro", "n": 12},
    {"_id": "e", "plan": "pro", "n": 20, "stub": True},
]


@pytest.fixture
def collection(sync_db: SyncDatabase[dict[str, Any]]) -> Any:
    coll = sync_db["test_filters"]
    coll.delete_many({})
    coll.insert_many([dict(d) for d in DOCS])
    yield coll
    coll.drop()


CASES = [
    # the directory check: a directory's filter and an id chunk
    ({"deleted": {"$ne": True}, "stub": {"$ne": True}}, {"_id": {"$in": ["a", "b", "e", "x"]}}),
    # two clauses on one field
    ({"n": {"$gt": 2}}, {"n": {"$lt": 15}}),
    # a filter with its own $and, and an $or on each side
    ({"$and": [{"plan": "pro"}], "$or": [{"n": 1}, {"n": 5}]}, {"$or": [{"_id": "b"}]}),
    ({}, {"plan": "free"}),
]


@pytest.mark.parametrize(("first", "second"), CASES)
def test_matches_what_both_filters_match(collection: Any, first: Any, second: Any) -> None:
    expected = {d["_id"] for d in collection.find({"$and": [first, second]})}
    assert {d["_id"] for d in collection.find(all_of(first, second))} == expected


def test_clauses_on_different_fields_stay_flat() -> None:
    """Flat, so a server that does not look inside ``$and`` still uses the ``_id`` index."""
    directory = {"deleted": {"$ne": True}, "stub": {"$ne": True}}
    assert all_of(directory, {"_id": {"$in": ["a"]}}) == {
        "deleted": {"$ne": True},
        "stub": {"$ne": True},
        "_id": {"$in": ["a"]},
    }


def test_a_field_asked_twice_keeps_both_clauses() -> None:
    assert all_of({"n": {"$gt": 2}}, {"n": {"$lt": 15}}, {"plan": "pro"}) == {
        "n": {"$gt": 2},
        "plan": "pro",
        "$and": [{"n": {"$lt": 15}}],
    }
