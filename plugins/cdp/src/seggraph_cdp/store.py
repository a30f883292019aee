"""The ``cdp_events`` and ``cdp_profiles`` collections.

- ``cdp_events``: every accepted message, ``_id`` = its ``messageId`` (which is what
  de-duplicates deliveries), with ``type``, ``user_id``, ``event``, ``timestamp``,
  ``received_at`` and its ``traits`` or ``properties``.
- ``cdp_profiles``: one document per ``userId`` (= subscriber id): ``first_seen``,
  ``last_seen``, ``traits`` (the latest value of each trait by event time) and ``trait_at`` (the
  event time each trait value is from, so an identify call that arrives late never overwrites a
  newer value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from seggraph_cdp.messages import Message

EVENTS = "cdp_events"
PROFILES = "cdp_profiles"
DUPLICATE_KEY = 11000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES: dict[str, list[IndexModel]] = {
    EVENTS: [
        IndexModel(
            [("user_id", ASCENDING), ("event", ASCENDING), ("timestamp", DESCENDING)],
            name="by_user_event_time",
        ),
    ],
    PROFILES: [],
}

Session = AsyncClientSession | None


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    ignored: int

    def as_json(self) -> dict[str, Any]:
        return {
            "success": True,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
        }


@dataclass(frozen=True)
class EventStats:
    count_30d: int
    last_at: datetime | None


def _event_document(message: Message, received_at: datetime) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": message.message_id,
        "type": message.type,
        "user_id": message.user_id,
        "timestamp": message.timestamp,
        "received_at": received_at,
    }
    if message.event is not None:
        doc["event"] = message.event
    if message.traits:
        doc["traits"] = message.traits
    if message.properties:
        doc["properties"] = message.properties
    return doc


def _profile_update(user_id: str, messages: Sequence[Message]) -> UpdateOne:
    """One pipeline update per user: seen times widened, each trait set if it is newer."""
    first = min(m.timestamp for m in messages)
    last = max(m.timestamp for m in messages)
    latest: dict[str, tuple[datetime, Any]] = {}
    for message in messages:
        for name, value in message.traits.items():
            held = latest.get(name)
            if held is None or message.timestamp >= held[0]:
                latest[name] = (message.timestamp, value)
    stage: dict[str, Any] = {
        "first_seen": {"$min": [{"$ifNull": ["$first_seen", first]}, first]},
        "last_seen": {"$max": [{"$ifNull": ["$last_seen", last]}, last]},
    }
    for name, (at, value) in latest.items():
        held_at = {"$ifNull": [f"$trait_at.{name}", _EPOCH]}
        stage[f"traits.{name}"] = {
            "$cond": [{"$gte": [at, held_at]}, {"$literal": value}, f"$traits.{name}"]
        }
        stage[f"trait_at.{name}"] = {"$max": [at, held_at]}
    return UpdateOne({"_id": user_id}, [{"$set": stage}], upsert=True)


class CdpStore:
    def __init__(self, db: AsyncDatabase[dict]) -> None:
        self.events = db[EVENTS]
        self.profiles = db[PROFILES]

    async def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            if indexes:
                await self.events.database[name].create_indexes(indexes)

    async def ingest(
        self, messages: Sequence[Message], received_at: datetime, session: Session = None
    ) -> IngestResult:
        """Store the new messages and fold them into profiles; repeats are skipped."""
        ignored = sum(1 for m in messages if m.user_id is None)
        unique: dict[str, Message] = {}
        for message in messages:
            if message.user_id is not None:
                unique.setdefault(message.message_id, message)
        if not unique:
            return IngestResult(0, len(messages) - ignored, ignored)
        cursor = self.events.find({"_id": {"$in": list(unique)}}, {"_id": 1}, session=session)
        seen = {doc["_id"] for doc in await cursor.to_list()}
        fresh = [m for key, m in unique.items() if key not in seen]
        if fresh:
            try:
                await self.events.insert_many(
                    [_event_document(m, received_at) for m in fresh], ordered=False, session=session
                )
            except BulkWriteError as exc:
                # A concurrent delivery of the same message won the race: that one applies it.
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                lost = {e["index"] for e in errors}
                fresh = [m for index, m in enumerate(fresh) if index not in lost]
        by_user: dict[str, list[Message]] = {}
        for message in fresh:
            assert message.user_id is not None
            by_user.setdefault(message.user_id, []).append(message)
        if by_user:
            await self.profiles.bulk_write(
                [_profile_update(user, batch) for user, batch in by_user.items()],
                ordered=False,
                session=session,
            )
        accepted = len(fresh)
        return IngestResult(accepted, len(messages) - ignored - accepted, ignored)

    async def load_profiles(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = self.profiles.find({"_id": {"$in": list(user_ids)}})
        return {doc["_id"]: doc for doc in await cursor.to_list()}

    async def event_stats(
        self, user_ids: Sequence[str], events: Sequence[str], since: datetime
    ) -> dict[tuple[str, str], EventStats]:
        """Per (user, event name): events since ``since`` and the latest event time."""
        pipeline: list[dict[str, Any]] = [
            {
                "$match": {
                    "user_id": {"$in": list(user_ids)},
                    "event": {"$in": list(events)},
                    "type": "track",
                }
            },
            {
                "$group": {
                    "_id": {"user": "$user_id", "event": "$event"},
                    "recent": {"$sum": {"$cond": [{"$gte": ["$timestamp", since]}, 1, 0]}},
                    "last_at": {"$max": "$timestamp"},
                }
            },
        ]
        cursor = await self.events.aggregate(pipeline)
        return {
            (doc["_id"]["user"], doc["_id"]["event"]): EventStats(
                int(doc["recent"]), doc.get("last_at")
            )
            for doc in await cursor.to_list()
        }
