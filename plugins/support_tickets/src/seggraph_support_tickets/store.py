"""Tickets in MongoDB: one collection, read a whole batch of subscribers per query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from seggraph.db import Database

#: Collections are named after the provider, so they never clash with seggraph's or another's.
COLLECTION = "support_tickets"


class TicketStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.collection: AsyncCollection[dict[str, Any]] = database.db[COLLECTION]

    async def ensure_indexes(self) -> None:
        """Idempotent: called at every start."""
        await self.collection.create_indexes(
            [
                IndexModel([("subscriber_id", ASCENDING), ("created_at", ASCENDING)]),
                IndexModel([("tags", ASCENDING)]),
            ]
        )

    async def tickets_of(self, subscriber_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every ticket of every subscriber of a batch, in ONE query."""
        found: dict[str, list[dict[str, Any]]] = {}
        cursor = self.collection.find(
            {"subscriber_id": {"$in": list(subscriber_ids)}},
            {
                "subscriber_id": 1,
                "status": 1,
                "priority": 1,
                "tags": 1,
                "created_at": 1,
                "satisfaction": 1,
            },
        )
        async for ticket in cursor:
            found.setdefault(ticket["subscriber_id"], []).append(ticket)
        return found

    async def upsert(self, tickets: Sequence[dict[str, Any]], now: datetime) -> int:
        """Write tickets by id (a ticket sent again replaces the stored one): all or none, in
        one transaction where the database has them (the README's promise; one bulk write is
        not atomic, and a server stopping in its middle kept the first tickets)."""
        if not tickets:
            return 0
        writes = [
            UpdateOne(
                {"_id": ticket["id"]},
                {"$set": {**{k: v for k, v in ticket.items() if k != "id"}, "updated_at": now}},
                upsert=True,
            )
            for ticket in tickets
        ]

        async def write(session: AsyncClientSession | None) -> None:
            await self.collection.bulk_write(writes, ordered=False, session=session)

        await self.database.run_atomically(write)
        return len(tickets)

    async def tags_starting_with(self, prefix: str, limit: int) -> list[str]:
        """Distinct tags starting with ``prefix`` (case-insensitively, as ``casefold()`` has
        it), sorted. Every distinct tag is read: a database's case-insensitive regex is not
        ``casefold()`` (it misses ``strasse`` for ``straß``), so it cannot narrow them first."""
        tags = await self.collection.distinct("tags")
        folded = prefix.casefold()
        return sorted(t for t in tags if isinstance(t, str) and t.casefold().startswith(folded))[
            :limit
        ]
