"""Opaque Relay cursors over a stable (sort key, id) order."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from bson import ObjectId


class BadCursor(ValueError):
    """The ``after`` cursor is not one seggraph issued."""


def encode_cursor(created_at: datetime, object_id: ObjectId) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(object_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, oid = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(stamp), ObjectId(oid)
    except Exception as exc:  # any decoding failure means the same thing to the caller
        raise BadCursor(f"not a valid cursor: {cursor!r}") from exc


def newest_first_after(cursor: str | None) -> dict[str, Any]:
    """The filter that continues a newest-first (created_at desc, _id desc) listing."""
    if cursor is None:
        return {}
    created_at, oid = decode_cursor(cursor)
    return {
        "$or": [
            {"created_at": {"$lt": created_at}},
            {"created_at": created_at, "_id": {"$lt": oid}},
        ]
    }
