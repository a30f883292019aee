"""The ``api_keys`` collection: one document per key, its secret only as a SHA-256 hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from seggraph.db import IndexSpec
from seggraph.domain.api_keys import ApiKey, Role
from seggraph.domain.segments import Mode

API_KEYS = "api_keys"

INDEXES = [
    IndexSpec(
        API_KEYS,
        (IndexModel([("created_at", DESCENDING), ("_id", ASCENDING)], name="newest_first"),),
    )
]


def to_document(key: ApiKey) -> dict[str, Any]:
    return {
        "_id": key.id,
        "mode": key.mode.value,
        "role": key.role.value,
        "name": key.name,
        "secret_sha256": key.secret_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def from_document(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=doc["_id"],
        mode=Mode(doc["mode"]),
        role=Role(doc["role"]),
        name=doc.get("name", ""),
        secret_hash=doc["secret_sha256"],
        created_at=doc["created_at"],
        revoked_at=doc.get("revoked_at"),
    )


class ApiKeyStore:
    def __init__(self, db: AsyncDatabase[dict]) -> None:
        self.keys = db[API_KEYS]

    async def insert(self, key: ApiKey) -> None:
        await self.keys.insert_one(to_document(key))

    async def get(self, key_id: str) -> ApiKey | None:
        doc = await self.keys.find_one({"_id": key_id})
        return from_document(doc) if doc else None

    async def list(self, *, include_revoked: bool) -> list[ApiKey]:
        query: dict[str, Any] = {} if include_revoked else {"revoked_at": None}
        cursor = self.keys.find(query).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
        return [from_document(doc) for doc in await cursor.to_list()]

    async def revoke(self, key_id: str, at: datetime) -> tuple[ApiKey | None, bool]:
        """Mark the key revoked (once: a second revocation keeps the first time); the key and
        whether this call revoked it."""
        result = await self.keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return await self.get(key_id), result.modified_count == 1
