"""Opaque Relay cursors over a stable (sort key, id) order."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import ObjectId


class BadCursor(ValueError):
    """The ``after`` cursor is not one seggraph issued."""


def encode_cursor(created_at: datetime, object_id: ObjectId, scope: str) -> str:
    """A position in a listing of ``scope`` (e.g. a mode's segments): a cursor of another
    listing is refused rather than read as a position in this one."""
    raw = orjson.dumps([created_at.isoformat(), str(object_id), scope])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str) -> tuple[datetime, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, oid, of = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(stamp)
        # In UTC here, as the database compares it: a time that is no moment BSON can hold
        # (0001-01-01T00:00:00+14:00) is a bad cursor, not an error when the query is sent.
        created_at = created_at.replace(tzinfo=created_at.tzinfo or UTC).astimezone(UTC)
        position = created_at, ObjectId(oid)
    except Exception as exc:  # any decoding failure means the same thing to the caller
        raise BadCursor(f"not a valid cursor: {cursor!r}") from exc
    if of != scope:
        raise BadCursor(f"a cursor of the {of} listing, not of the {scope} one: {cursor!r}")
    return position


def newest_first_after(cursor: str | None, scope: str) -> dict[str, Any]:
    """The filter that continues a newest-first (created_at desc, _id desc) listing."""
    if cursor is None:
        return {}
    created_at, oid = decode_cursor(cursor, scope)
    return {
        "$or": [
            {"created_at": {"$lt": created_at}},
            {"created_at": created_at, "_id": {"$lt": oid}},
        ]
    }


def encode_member_cursor(segment_id: str, subscriber_id: str) -> str:
    """A page of a segment's members ends at ``subscriber_id`` (pages go in the directory's
    order); the cursor names the segment too, so that it cannot continue another listing."""
    raw = orjson.dumps(["members", segment_id, subscriber_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_member_cursor(cursor: str, segment_id: str) -> str:
    """The subscriber id a page of ``segment_id``'s members ended at, or :class:`BadCursor`
    when ``cursor`` is not an ``endCursor`` of that segment's members."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, of, subscriber_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception as exc:  # any decoding failure means the same thing to the caller
        raise BadCursor(f"not a valid cursor: {cursor!r}") from exc
    if kind != "members" or not isinstance(subscriber_id, str):
        raise BadCursor(f"not a cursor of a segment's members: {cursor!r}")
    if of != segment_id:
        raise BadCursor(f"a cursor of segment {of!r}'s members, not of {segment_id!r}'s")
    return subscriber_id
