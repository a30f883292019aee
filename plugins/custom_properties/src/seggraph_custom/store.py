"""The ``custom_definitions``, ``custom_values`` and ``custom_meta`` collections.

- ``custom_definitions``: one document per definition, ``_id`` = the key.
- ``custom_values``: one document per subscriber (or subscription), ``_id`` =
  ``"<OBJECT>:<id>"``, with ``object``, ``subject_id`` and ``values`` (key → stored value), so a
  batch of subscribers is one ``$in`` query whatever the number of keys. Stored forms: text and
  enum identifiers as strings, numbers as ``int`` or ``Decimal128``, booleans, dates as
  ``YYYY-MM-DD`` strings, lists as arrays.
- ``custom_meta``: ``{"_id": "catalogue", "version": n, "token": random}``, changed by every
  definition change, so every worker process notices a change and refreshes its catalogue. It
  is one of the documents the service reads together, once per request
  (:data:`CATALOGUE_VERSION`, :mod:`seggraph.freshness`), so noticing costs no read of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128
from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from seggraph.domain.custom_properties import (
    CustomObject,
    CustomPropertyDefinition,
    CustomType,
    StoredValue,
)
from seggraph.domain.numbers import fits_int64
from seggraph.domain.segments import Mode
from seggraph.freshness import Watched, written

DEFINITIONS = "custom_definitions"
VALUES = "custom_values"
META = "custom_meta"
CATALOGUE_VERSION_ID = "catalogue"
#: The catalogue version's document, as watched by the service's freshness board.
CATALOGUE_VERSION = Watched(META, CATALOGUE_VERSION_ID)
SEGMENTS = "segments"
#: Deeper than any condition tree can be (the depth setting allows at most 20).
MAX_TREE_DEPTH = 25

INDEXES: dict[str, list[IndexModel]] = {
    VALUES: [IndexModel([("object", ASCENDING), ("subject_id", ASCENDING)], name="by_subject")],
}

Session = AsyncClientSession | None


def value_id(object: CustomObject, subject_id: str) -> str:
    return f"{object.value}:{subject_id}"


def encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, int) and not isinstance(value, bool) and not fits_int64(value):
        return Decimal128(Decimal(value))
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def decode(value: Any, kind: CustomType) -> Any:
    """A stored value as the evaluation core reads it for ``kind``."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if kind is CustomType.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def definition_document(definition: CustomPropertyDefinition) -> dict[str, Any]:
    return {
        "_id": definition.key,
        "label": definition.label,
        "description": definition.description,
        "type": definition.type.value,
        "object": definition.object.value,
        "enum_values": list(definition.enum_values),
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
    }


def definition_from(doc: dict[str, Any]) -> CustomPropertyDefinition:
    return CustomPropertyDefinition(
        key=doc["_id"],
        label=doc["label"],
        type=CustomType(doc["type"]),
        object=CustomObject(doc.get("object", CustomObject.SUBSCRIBER.value)),
        description=doc.get("description", ""),
        enum_values=tuple(doc.get("enum_values", ())),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


def _uses_key(key: str) -> dict[str, Any]:
    """A filter on ``segments`` matching every tree with a condition on ``key`` at any depth."""
    clauses = [
        {"conditions." + "children." * depth + "property": key}
        for depth in range(1, MAX_TREE_DEPTH + 1)
    ]
    return {"$or": clauses}


def version_of(doc: dict[str, Any] | None) -> tuple[int, str]:
    """The version and token in the catalogue version's document (``None``: never changed)."""
    return (int(doc["version"]), str(doc.get("token", ""))) if doc else (0, "")


class CustomStore:
    def __init__(self, db: AsyncDatabase[dict]) -> None:
        self.db = db
        self.definitions = db[DEFINITIONS]
        self.values = db[VALUES]
        self.meta = db[META]

    async def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            await self.db[name].create_indexes(indexes)

    # -- definitions ----------------------------------------------------------------------------

    async def all_definitions(self, session: Session = None) -> list[CustomPropertyDefinition]:
        cursor = self.definitions.find({}, session=session).sort("_id", ASCENDING)
        return [definition_from(doc) for doc in await cursor.to_list()]

    async def get_definition(
        self, key: str, session: Session = None
    ) -> CustomPropertyDefinition | None:
        doc = await self.definitions.find_one({"_id": key}, session=session)
        return definition_from(doc) if doc else None

    async def definitions_of(
        self, keys: Iterable[str], session: Session = None
    ) -> dict[str, CustomPropertyDefinition]:
        cursor = self.definitions.find({"_id": {"$in": sorted(set(keys))}}, session=session)
        return {doc["_id"]: definition_from(doc) for doc in await cursor.to_list()}

    async def insert_definition(
        self, definition: CustomPropertyDefinition, session: Session = None
    ) -> None:
        await self.definitions.insert_one(definition_document(definition), session=session)

    async def replace_definition(
        self, definition: CustomPropertyDefinition, session: Session = None
    ) -> None:
        await self.definitions.replace_one(
            {"_id": definition.key}, definition_document(definition), session=session
        )

    async def mark_values_written(self, keys: Iterable[str], session: Session = None) -> None:
        """Note on each definition that values of it are being written (in ``session``'s
        transaction): a transaction changing the definition meanwhile writes the same document,
        so the database lets only one of them commit and the other runs again."""
        await self.definitions.update_many(
            {"_id": {"$in": sorted(set(keys))}},
            {"$set": {"values_written": uuid.uuid4().hex}},
            session=session,
        )

    async def delete_definition(self, key: str, session: Session = None) -> None:
        await self.definitions.delete_one({"_id": key}, session=session)
        await self.values.update_many(
            {f"values.{key}": {"$exists": True}}, {"$unset": {f"values.{key}": ""}}, session=session
        )

    async def bump_version(self, session: Session = None) -> tuple[int, str]:
        """Mark the definitions changed: the version counts changes, and a random token makes
        a reset counter (a restored or emptied database) still look changed."""
        written(CATALOGUE_VERSION)
        doc = await self.meta.find_one_and_update(
            {"_id": CATALOGUE_VERSION_ID},
            {
                "$inc": {"version": 1},
                "$set": {"token": uuid.uuid4().hex, "changed_at": datetime.now(UTC)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert doc is not None  # upserted
        return int(doc["version"]), str(doc["token"])

    async def version(self) -> tuple[int, str]:
        """The catalogue version and token; ``(0, "")`` before any change."""
        return version_of(await self.version_document())

    async def version_document(self) -> dict[str, Any] | None:
        """The catalogue version's document (:func:`version_of` reads it)."""
        return await self.meta.find_one({"_id": CATALOGUE_VERSION_ID}, {"version": 1, "token": 1})

    async def segments_using(
        self, property_key: str, session: Session = None
    ) -> list[tuple[str, Mode, bool]]:
        """(name, mode, archived) of each segment, of either mode, with a condition on
        ``property_key``."""
        cursor = self.db[SEGMENTS].find(
            _uses_key(property_key), {"name": 1, "mode": 1, "archived": 1}, session=session
        )
        return [
            (str(doc.get("name", doc["_id"])), Mode(doc["mode"]), bool(doc.get("archived")))
            for doc in await cursor.to_list()
        ]

    # -- values -----------------------------------------------------------------------------------

    async def write_values(self, values: Sequence[StoredValue], session: Session = None) -> None:
        """One bulk write: a ``$set`` / ``$unset`` per subject (later values win)."""
        per_subject: dict[str, tuple[StoredValue, dict[str, Any], dict[str, Any]]] = {}
        for item in values:
            ident = value_id(item.object, item.subject_id)
            entry = per_subject.setdefault(ident, (item, {}, {}))
            field = f"values.{item.key}"
            if item.value is None:
                entry[1].pop(field, None)
                entry[2][field] = ""
            else:
                entry[2].pop(field, None)
                entry[1][field] = encode(item.value)
        operations = []
        for ident, (first, sets, unsets) in per_subject.items():
            update: dict[str, Any] = {
                "$setOnInsert": {"object": first.object.value, "subject_id": first.subject_id}
            }
            if sets:
                update["$set"] = sets
            if unsets:
                update["$unset"] = unsets
            operations.append(UpdateOne({"_id": ident}, update, upsert=bool(sets)))
        if operations:
            await self.values.bulk_write(operations, ordered=False, session=session)

    async def load(
        self, object: CustomObject, subject_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Subject id → {key: stored value}, for the keys asked (one query)."""
        projection = {"subject_id": 1, **{f"values.{key}": 1 for key in keys}}
        cursor = self.values.find(
            {"_id": {"$in": [value_id(object, s) for s in dict.fromkeys(subject_ids)]}},
            projection,
        )
        return {doc["subject_id"]: doc.get("values", {}) for doc in await cursor.to_list()}

    async def values_of(self, key: str, session: Session = None) -> list[tuple[str, Any]]:
        """(subject id, stored value) of every value of ``key``."""
        cursor = self.values.find(
            {f"values.{key}": {"$exists": True}},
            {"subject_id": 1, f"values.{key}": 1},
            session=session,
        )
        return [(doc["subject_id"], doc["values"][key]) for doc in await cursor.to_list()]

    async def replace_values(
        self,
        key: str,
        object: CustomObject,
        values: Sequence[tuple[str, Any]],
        session: Session = None,
    ) -> None:
        operations = [
            UpdateOne({"_id": value_id(object, subject)}, {"$set": {f"values.{key}": encode(v)}})
            for subject, v in values
        ]
        if operations:
            await self.values.bulk_write(operations, ordered=False, session=session)
