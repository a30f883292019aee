"""Tickets in MongoDB: one collection, read a whole batch of subscribers per query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from seggraph.db import Database

#: Collections are named after the provider, so they never clash with seggraph's or another's.
COLLECTION = "support_tickets"
#: The helpdesk's ``updated_at`` of the stored state (``updated_at`` is when seggraph wrote it).
SOURCE_TIME = "source_updated_at"


class Written(NamedTuple):
    """What a request did: tickets written, and tickets not written because the stored state
    is newer."""

    written: int
    stale: int


def older_than(ticket: dict[str, Any], time: datetime | None) -> bool:
    """Whether ``ticket`` states an older state than one of helpdesk ``time`` (both known)."""
    mine = ticket.get(SOURCE_TIME)
    return mine is not None and time is not None and bool(mine < time)


def _write(ticket: dict[str, Any], now: datetime) -> UpdateOne:
    """The ticket's upsert; one with a helpdesk time writes only over an older or unversioned
    state (an equal time is written again: the later arrival wins)."""
    fields = {k: v for k, v in ticket.items() if k != "id"}
    mine = ticket.get(SOURCE_TIME)
    if mine is None:
        return UpdateOne(
            {"_id": ticket["id"]},
            {"$set": {**fields, "updated_at": now}, "$unset": {SOURCE_TIME: ""}},
            upsert=True,
        )
    return UpdateOne(
        {"_id": ticket["id"], SOURCE_TIME: {"$not": {"$gt": mine}}},
        {"$set": {**fields, "updated_at": now}},
        upsert=True,
    )


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

    async def upsert(self, tickets: Sequence[dict[str, Any]], now: datetime) -> Written:
        """Write tickets by id (a ticket sent again replaces the stored one): all or none, in
        one transaction where the database has them (the README's promise; one bulk write is
        not atomic, and a server stopping in its middle kept the first tickets).

        A ticket with a ``source_updated_at`` (the helpdesk's ``updated_at``) older than the
        stored one's is not written (``stale``): a late delivery of an older state does not
        undo a newer one. One without it replaces the stored ticket whatever its time."""
        if not tickets:
            return Written(0, 0)

        async def write(session: AsyncClientSession | None) -> Written:
            versioned = [t["id"] for t in tickets if t.get(SOURCE_TIME) is not None]
            stored = {
                doc["_id"]: doc.get(SOURCE_TIME)
                async for doc in self.collection.find(
                    {"_id": {"$in": versioned}}, {SOURCE_TIME: 1}, session=session
                )
            }
            fresh = [t for t in tickets if not older_than(t, stored.get(t["id"]))]
            writes = [_write(ticket, now) for ticket in fresh]
            if writes:
                try:
                    await self.collection.bulk_write(writes, ordered=False, session=session)
                except BulkWriteError as exc:
                    # Without a transaction, another request may store a newer state between
                    # the read and the write: the write's filter then matches nothing, and its
                    # upsert collides with the stored id. Any other error is the caller's.
                    errors = exc.details.get("writeErrors", [])
                    if session is not None or any(e.get("code") != 11000 for e in errors):
                        raise
                    return Written(
                        len(fresh) - len(errors), len(tickets) - len(fresh) + len(errors)
                    )
            return Written(len(fresh), len(tickets) - len(fresh))

        return await self.database.run_atomically(write)

    async def tags_starting_with(self, prefix: str, limit: int) -> list[str]:
        """Distinct tags starting with ``prefix`` (case-insensitively, as ``casefold()`` has
        it), sorted. Every distinct tag is read: a database's case-insensitive regex is not
        ``casefold()`` (it misses ``strasse`` for ``straß``), so it cannot narrow them first."""
        tags = await self.collection.distinct("tags")
        folded = prefix.casefold()
        return sorted(t for t in tags if isinstance(t, str) and t.casefold().startswith(folded))[
            :limit
        ]
