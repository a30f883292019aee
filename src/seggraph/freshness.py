"""The small documents every request must read fresh, read together once per request.

Several parts of the service keep things in memory behind a document that every write
changes: the segments of each mode behind ``segments_meta``'s write tokens, the custom
properties' catalogue behind ``custom_meta``'s version. Each request has to read those
documents (another process may have written), and each read is a database round trip that,
made one after the other, costs more than the rest of a ``subscriber { segments }`` request.

A :class:`FreshnessBoard` holds the list of those documents (:meth:`FreshnessBoard.watch`,
called at start-up by whoever keeps something behind one) and reads them all in **one**
aggregation (the first collection's documents, the others' through ``$unionWith``), shared
among the requests that ask at once (:class:`~seggraph.coalescing.FreshRead`: never a read
started before the request asked). The GraphQL endpoint gives each HTTP request a
:class:`Snapshot` (:meth:`FreshnessBoard.begin_request`, kept in a context variable), read
the first time the request asks for one of the documents; the owners take their document
from it (:func:`current_document`), so a request reads them all once, or not at all.

What a request sees is therefore every write acknowledged before it started, as before. A
write made by the request itself forgets the document it changed (:func:`written`), so a
later read in the same request goes to the database. Code that serves several requests at once
(a shared provider call, a coalesced read) never consults a snapshot: it runs with the
context of whichever request started it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo.asynchronous.database import AsyncDatabase

from seggraph.coalescing import FreshRead
from seggraph.db import DatabaseHealth, database_unavailable


@dataclass(frozen=True, slots=True)
class Watched:
    """One watched document, ``collection``'s ``_id``: read with the others, once per request
    that asks for any of them."""

    collection: str
    doc_id: str


class NotInSnapshot:
    """Not in the snapshot (no snapshot, or forgotten after a write): read it yourself."""

    def __repr__(self) -> str:
        return "NOT_IN_SNAPSHOT"


NOT_IN_SNAPSHOT = NotInSnapshot()


class Snapshot:
    """The watched documents as one read made for a request found them (``None`` for a
    document that does not exist yet). The read is made when the request first asks for one
    of them, so a request that needs none (``{ __typename }``) costs no read; the request's
    concurrent resolvers share it."""

    def __init__(
        self,
        read: Callable[[], Awaitable[dict[Watched, dict[str, Any] | None]]],
        watched: Collection[Watched],
    ) -> None:
        """``read`` answers the documents of ``watched`` (and is not called for others)."""
        self._read = read
        self._watched = watched
        self._documents: dict[Watched, dict[str, Any] | None] | None = None
        self._unavailable: BaseException | None = None
        """The read's failure when the database did not answer it: raised again to the
        request's later askers rather than read again, so that a request waits for an
        unavailable database once (``SEGGRAPH_DATABASE_TIMEOUT_SECONDS``), not once for its
        freshness checks and once more for each resolver that asks after them."""
        self._forgotten: set[Watched] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, documents: dict[Watched, dict[str, Any] | None]) -> Snapshot:
        """A snapshot already read (tests)."""

        async def read() -> dict[Watched, dict[str, Any] | None]:
            return documents

        return cls(read, list(documents))

    async def get(self, watched: Watched) -> dict[str, Any] | NotInSnapshot | None:
        if watched in self._forgotten or watched not in self._watched:
            return NOT_IN_SNAPSHOT
        if self._documents is None:
            async with self._lock:
                if self._unavailable is not None:
                    raise self._unavailable
                if self._documents is None:
                    try:
                        self._documents = dict(await self._read())
                    except Exception as exc:
                        if database_unavailable(exc):
                            self._unavailable = exc
                        raise
        return self._documents.get(watched, NOT_IN_SNAPSHOT)

    def forget(self, watched: Watched) -> None:
        self._forgotten.add(watched)


_current: ContextVar[Snapshot | None] = ContextVar("seggraph_request_snapshot", default=None)


async def snapshot_document(watched: Watched) -> dict[str, Any] | NotInSnapshot | None:
    """``watched``'s document as the current request's snapshot has it (read now if it was
    not yet), or :data:`NOT_IN_SNAPSHOT` (outside a request, not watched, or after this request
    wrote it)."""
    snapshot = _current.get()
    return NOT_IN_SNAPSHOT if snapshot is None else await snapshot.get(watched)


async def current_document(
    watched: Watched, own_read: Callable[[], Awaitable[dict[str, Any] | None]]
) -> dict[str, Any] | None:
    """``watched``'s document, as an owner needs it: from the current request's snapshot when
    it has it, otherwise from ``own_read()`` (outside a request, or after the request wrote
    it), which should be a :class:`~seggraph.coalescing.FreshRead` of that one document."""
    doc = await snapshot_document(watched)
    return await own_read() if isinstance(doc, NotInSnapshot) else doc


def written(watched: Watched) -> None:
    """Called by every write of a watched document: the rest of this request reads it afresh."""
    snapshot = _current.get()
    if snapshot is not None:
        snapshot.forget(watched)


@contextmanager
def using_snapshot(snapshot: Snapshot | None) -> Iterator[None]:
    """Run a block with ``snapshot`` as the current request's (tests); the previous one is
    restored after."""
    token = _current.set(snapshot)
    try:
        yield
    finally:
        _current.reset(token)


class FreshnessBoard:
    """The watched documents of one database, read together."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        timeout: float | None = None,
        health: DatabaseHealth | None = None,
    ) -> None:
        self._db = db
        self._timeout = timeout
        """Seconds the read may take (``None``: PyMongo's defaults): a database that stops
        answering fails the requests waiting for it in that time, as unavailable."""
        self._health = health
        """Where the read's outcome is recorded: whether the database answered it."""
        self._watched: list[Watched] = []
        self._read = FreshRead(self._read_all)

    def watch(self, watched: Watched) -> None:
        """Add a document to the ones read together once per request (idempotent)."""
        if watched not in self._watched:
            self._watched.append(watched)

    @property
    def reads(self) -> int:
        """Reads made so far (each serving every request that asked at once)."""
        return self._read.reads

    async def read(self) -> dict[Watched, dict[str, Any] | None]:
        """Every watched document (``None``: not written yet), read after this call (shared
        with the callers that ask at once)."""
        return await self._read()

    def begin_request(self) -> Snapshot:
        """Make a new snapshot, read when first needed, the current request's (the caller's
        task and the tasks it starts from now on)."""
        snapshot = Snapshot(self.read, self._watched)
        _current.set(snapshot)
        return snapshot

    async def _read_all(self) -> dict[Watched, dict[str, Any] | None]:
        found: dict[Watched, dict[str, Any] | None] = dict.fromkeys(self._watched)
        if not self._watched:
            return found
        ids: dict[str, list[str]] = defaultdict(list)
        for watched in self._watched:
            ids[watched.collection].append(watched.doc_id)
        (first, first_ids), *others = ids.items()
        pipeline = _tagged(first, first_ids) + [
            {"$unionWith": {"coll": collection, "pipeline": _tagged(collection, doc_ids)}}
            for collection, doc_ids in others
        ]
        try:
            with pymongo.timeout(self._timeout):
                cursor = await self._db[first].aggregate(pipeline)
                rows = await cursor.to_list(None)
        except Exception as exc:
            if self._health is not None and database_unavailable(exc):
                self._health.unanswered()
            raise
        if self._health is not None:
            self._health.answered()
        for row in rows:
            found[Watched(row["c"], row["doc"]["_id"])] = row["doc"]
        return found


def _tagged(collection: str, doc_ids: list[str]) -> list[dict[str, Any]]:
    """One collection's watched documents, each tagged with the collection it came from."""
    return [
        {"$match": {"_id": {"$in": doc_ids}}},
        {"$project": {"_id": 0, "c": {"$literal": collection}, "doc": "$$ROOT"}},
    ]
