"""The ``cdp_events`` and ``cdp_profiles`` collections.

- ``cdp_events``: every accepted message, ``_id`` = its ``messageId`` (which is what
  de-duplicates deliveries), with ``type``, ``user_id``, ``event``, ``timestamp``,
  ``received_at`` and its ``traits`` or ``properties``.
- ``cdp_profiles``: one document per ``userId`` (= subscriber id): ``first_seen``,
  ``last_seen``, ``traits`` (the latest value of each trait by event time) and ``trait_at`` (the
  event time each trait value is from, so an identify call that arrives late never overwrites a
  newer value).
- ``cdp_event_latest``: one document per (``userId``, event name) ever tracked, with the
  latest time of that event (``last_at``), raised with ``$max`` by every request that stores
  one, so ``last_at`` never needs the events older than the 30-day window: a question reads one
  index entry per pair, and events past ``SEGGRAPH_CDP_EVENT_RETENTION_DAYS`` can be deleted
  (:meth:`CdpStore.prune`). A database whose events predate it is filled once from them
  (:meth:`CdpStore.build_latest`), and until then the latest times are read from the events.
- ``cdp_meta``: ``{_id: "event_latest", complete: true}`` once ``cdp_event_latest`` holds
  every event's time.

A profile holds at most ``max_traits`` trait names (``SEGGRAPH_CDP_MAX_TRAITS``). The update
that folds a request's messages into a profile checks, as it runs, that the profile already
holds every trait name it sets or can take the new ones within the bound; one that cannot
changes nothing and marks the profile with the request's token, which one indexed read then
finds. A request past the bound by itself is refused before anything is written; one that
finds a profile full (or two requests creating one profile at once: the second upsert finds
its ``_id`` taken) raises :class:`ProfileFull`, and :meth:`CdpStore.refusal` says which
message took the profile past its bound, from the profile as it is then (or that a retry
settles it). So the bound holds under concurrent identify calls without reading before
writing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from seggraph_cdp.messages import DEFAULT_MAX_TRAITS, BadMessage, Message

EVENTS = "cdp_events"
PROFILES = "cdp_profiles"
LATEST = "cdp_event_latest"
META = "cdp_meta"
#: The ``cdp_meta`` document saying ``cdp_event_latest`` is complete.
LATEST_BUILT = "event_latest"
#: Pairs written to ``cdp_event_latest`` in one bulk write while it is built.
BUILD_BATCH = 1000
DUPLICATE_KEY = 11000
#: The time of a trait the profile does not hold yet: before every message's (which are from
#: ``seggraph.clock.EARLIEST``, 0001-01-02), so a first value is taken whatever its time.
_NEVER = datetime(1, 1, 1, tzinfo=UTC)

#: Set on a profile, to the ingestion's token, by an update its trait names did not fit.
REFUSED = "refused_by"
#: Whether the names fit, while the update runs (never stored).
_FITS = "_fits"

INDEXES: dict[str, list[IndexModel]] = {
    EVENTS: [
        IndexModel(
            [("user_id", ASCENDING), ("event", ASCENDING), ("timestamp", DESCENDING)],
            name="by_user_event_time",
        ),
    ],
    # The updates a request's ingestion refused are found by its token (:func:`_profile_update`).
    PROFILES: [IndexModel([(REFUSED, ASCENDING)], name="by_refusal")],
    # ``cdp_event_latest`` is read and written by ``_id`` alone (:func:`latest_id`).
}
#: The events older than the retention are deleted by time (only with a retention set).
BY_TIME = IndexModel([("timestamp", ASCENDING)], name="by_time")

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


class ProfileFull(Exception):
    """The profiles of these users (each with the request's messages for it, in order) did not
    take the request's new trait names: see :meth:`CdpStore.refusal`."""

    def __init__(self, refused: dict[str, list[Message]]) -> None:
        super().__init__(f"profiles full: {', '.join(map(repr, refused))}")
        self.refused = refused


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


def latest_id(user_id: str, event: str) -> str:
    """The ``_id`` of a pair's document in ``cdp_event_latest``: one string (a JSON array), so
    that a pair is found by ``_id`` alone, by its upsert and by a question. On the embedded
    database an upsert whose filter is a sub-document, or more than the ``_id``, and a find
    by ``$in`` on the subscribers, read every document of the collection (a question's batch
    of 100 subscribers and 3 names took 225 ms that way over 30,000 pairs, growing with them,
    and 148 ms by ``_id``)."""
    return orjson.dumps([user_id, event]).decode()


def _latest_update(user_id: str, event: str, at: datetime) -> UpdateOne:
    return UpdateOne(
        {"_id": latest_id(user_id, event)},
        {"$max": {"last_at": at}, "$setOnInsert": {"user_id": user_id, "event": event}},
        upsert=True,
    )


def _held() -> dict[str, Any]:
    """The traits a profile holds, as ``[{k: name, v: value}]`` (an expression)."""
    return {"$objectToArray": {"$ifNull": ["$traits", {}]}}


def _within(names: list[str], limit: int) -> dict[str, Any]:
    """An expression: the profile holds each of ``names`` already (so a profile past a bound
    lowered since can still update its traits), or holds at most ``limit`` names with them.
    (The names held with them are as many as those held when it holds each: one union, where
    ``$setIsSubset`` costs a comparison per pair of names on SecantusDB, 400 ms at 500.)"""
    held_names = {"$map": {"input": _held(), "in": "$$this.k"}}
    with_them = {"$size": {"$setUnion": [held_names, {"$literal": names}]}}
    return {
        "$let": {
            "vars": {"with_them": with_them},
            "in": {
                "$or": [
                    {"$eq": ["$$with_them", {"$size": _held()}]},
                    {"$lte": ["$$with_them", limit]},
                ]
            },
        }
    }


def over_limit(
    user_id: str, messages: Sequence[Message], limit: int, held: int | None, new: set[str]
) -> BadMessage | None:
    """The refusal of the first of ``messages`` (one user's, in request order) whose trait names
    take the profile past ``limit`` names, or ``None``. The profile holds ``held`` names, none
    of ``new`` among them; ``held`` is ``None`` when the request is judged by itself (every
    name new: past ``limit`` whatever the profile holds)."""
    added: set[str] = set()
    for message in messages:
        added.update(name for name in message.traits if held is None or name in new)
        total = (held or 0) + len(added)
        if not added or total <= limit:
            continue
        where = f"{message.where}.traits" if message.where else "traits"
        holds = (
            f"this request alone sends {len(added)} distinct trait names for it"
            if held is None
            else f"it holds {held} and the request adds {len(added)} new ones"
        )
        return BadMessage(
            where,
            f"the profile of userId {user_id!r} would hold {total} trait names, but a profile "
            f"holds at most {limit} (SEGGRAPH_CDP_MAX_TRAITS): {holds} up to this message. Its "
            "traits can still be updated; nothing of the request was stored",
        )
    return None


def _profile_update(
    user_id: str, messages: Sequence[Message], limit: int, token: ObjectId
) -> UpdateOne:
    """One pipeline update per user: seen times widened, each trait set if it is newer; with
    traits, only on a profile that can take their names (:func:`_within`): one that cannot is
    left as it is, marked with ``token`` (:data:`REFUSED`).

    The bound is checked inside the update, not in its filter: on the embedded database a
    filter of more than the ``_id`` (an ``$expr``, an ``$or``) reads every profile, 13 ms an
    update over 2,000 profiles, where the update by ``_id`` takes 0.25 ms."""
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
        held_at = {"$ifNull": [f"$trait_at.{name}", _NEVER]}
        stage[f"traits.{name}"] = {
            "$cond": [{"$gte": [at, held_at]}, {"$literal": value}, f"$traits.{name}"]
        }
        stage[f"trait_at.{name}"] = {"$max": [at, held_at]}
    if not latest:
        return UpdateOne({"_id": user_id}, [{"$set": stage}], upsert=True)
    fits = f"${_FITS}"
    pipeline: list[dict[str, Any]] = [
        {"$set": {_FITS: _within(sorted(latest), limit)}},
        {"$set": {field: {"$cond": [fits, value, f"${field}"]} for field, value in stage.items()}},
        {"$set": {REFUSED: {"$cond": [fits, "$$REMOVE", token]}}},
        {"$unset": _FITS},
    ]
    return UpdateOne({"_id": user_id}, pipeline, upsert=True)


class CdpStore:
    def __init__(self, db: AsyncDatabase[dict], *, max_traits: int = DEFAULT_MAX_TRAITS) -> None:
        self.events = db[EVENTS]
        self.profiles = db[PROFILES]
        self.latest = db[LATEST]
        self.meta = db[META]
        self.max_traits = max_traits
        self.latest_complete = False
        """Whether ``cdp_event_latest`` holds every event's time, as this process knows (from
        ``cdp_meta`` at :meth:`check_latest`, or its own :meth:`build_latest`): until then
        each read of the latest times of quiet pairs asks ``cdp_meta`` again, and reads them
        from the events while it is not complete."""

    async def ensure_indexes(self, *, retention: bool = False) -> None:
        """The collections' indexes, and ``by_time`` on the events when a retention deletes
        them by time."""
        for name, indexes in INDEXES.items():
            if indexes:
                await self.events.database[name].create_indexes(indexes)
        if retention:
            await self.events.create_indexes([BY_TIME])

    async def check_latest(self) -> bool:
        """Whether ``cdp_event_latest`` is complete: ``cdp_meta`` says so, or this process
        knows it (remembered). An answer saying not complete never undoes what this process
        learnt meanwhile: its own fill may end while the question is on its way."""
        found = await self.meta.find_one({"_id": LATEST_BUILT})
        self.latest_complete = self.latest_complete or bool(found and found.get("complete"))
        return self.latest_complete

    async def build_latest(self) -> int:
        """Fill ``cdp_event_latest`` from the events (each pair's latest time, by ``$max``, so
        ingestion may write meanwhile), then mark it complete. Answers the pairs written."""
        cursor = await self.events.aggregate(
            [
                {"$match": {"event": {"$exists": True}}},
                {
                    "$group": {
                        "_id": {"user": "$user_id", "event": "$event"},
                        "last_at": {"$max": "$timestamp"},
                    }
                },
            ],
            allowDiskUse=True,
        )
        written = 0
        batch: list[UpdateOne] = []
        async for doc in cursor:
            batch.append(_latest_update(doc["_id"]["user"], doc["_id"]["event"], doc["last_at"]))
            if len(batch) >= BUILD_BATCH:
                written += await self._write_latest(batch, None)
                batch = []
        if batch:
            written += await self._write_latest(batch, None)
        await self.meta.update_one({"_id": LATEST_BUILT}, {"$set": {"complete": True}}, upsert=True)
        self.latest_complete = True
        return written

    async def prune(self, before: datetime) -> int:
        """Delete the events with a time before ``before``; answers how many. Refused while
        ``cdp_event_latest`` is not known complete: their latest times would be lost."""
        if not self.latest_complete:
            raise RuntimeError("cdp_event_latest is not complete yet: no event may be deleted")
        deleted = await self.events.delete_many({"timestamp": {"$lt": before}})
        return deleted.deleted_count

    async def ingest(
        self, messages: Sequence[Message], received_at: datetime, session: Session = None
    ) -> IngestResult:
        """Store the new messages and fold them into profiles; repeats are skipped.

        Raises :class:`~seggraph_cdp.messages.BadMessage` for a user whose messages alone
        hold more trait names than a profile may, before anything is written, and
        :class:`ProfileFull` when a profile cannot take a request's new trait names: the
        profiles are written first, so the request's events are not stored then (and a
        transaction undoes the other profiles' updates)."""
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
        by_user: dict[str, list[Message]] = {}
        for message in fresh:
            assert message.user_id is not None
            by_user.setdefault(message.user_id, []).append(message)
        for user, batch in by_user.items():
            refusal = over_limit(user, batch, self.max_traits, None, set())
            if refusal is not None:
                raise refusal
        if by_user:
            await self._fold(by_user, session)
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
                # (Its profile update, folded above, is the same update again: a no-op.)
                fresh = [m for index, m in enumerate(fresh) if index not in lost]
            await self._note_latest(fresh, session)
        accepted = len(fresh)
        return IngestResult(accepted, len(messages) - ignored - accepted, ignored)

    async def _note_latest(self, stored: Sequence[Message], session: Session) -> None:
        """Raise each stored event's pair's latest time in ``cdp_event_latest``."""
        latest: dict[tuple[str, str], datetime] = {}
        for message in stored:
            if message.event is None or message.user_id is None:
                continue
            pair = (message.user_id, message.event)
            held = latest.get(pair)
            if held is None or message.timestamp > held:
                latest[pair] = message.timestamp
        if latest:
            updates = [_latest_update(user, event, at) for (user, event), at in latest.items()]
            await self._write_latest(updates, session)

    async def _write_latest(self, updates: list[UpdateOne], session: Session) -> int:
        """Apply ``updates`` to ``cdp_event_latest``; answers how many were applied. An upsert
        that finds its ``_id`` taken (another request noted the same new pair at once) is
        applied again: the document exists now, and ``$max`` keeps the later time."""
        try:
            await self.latest.bulk_write(updates, ordered=False, session=session)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            again = [updates[e["index"]] for e in errors]
            await self.latest.bulk_write(again, ordered=False, session=session)
        return len(updates)

    async def _fold(self, by_user: dict[str, list[Message]], session: Session) -> None:
        users = list(by_user)
        token = ObjectId()
        try:
            await self.profiles.bulk_write(
                [_profile_update(user, by_user[user], self.max_traits, token) for user in users],
                ordered=False,
                session=session,
            )
        except BulkWriteError as exc:
            # Two requests created the profile at once: the second upsert finds its _id
            # taken (a retry settles it, see ``refusal``).
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            full = [users[e["index"]] for e in errors]
            raise ProfileFull({user: by_user[user] for user in full}) from None
        if any(message.traits for batch in by_user.values() for message in batch):
            cursor = self.profiles.find({REFUSED: token}, {"_id": 1}, session=session)
            refused = [doc["_id"] for doc in await cursor.to_list()]
            if refused:
                raise ProfileFull({user: by_user[user] for user in refused})

    async def refusal(self, full: ProfileFull) -> BadMessage | None:
        """Why ``full`` was raised, from the profiles as they are now: the refusal of the first
        message that takes its profile past the bound, or ``None`` when every profile can take
        its messages' names now (a concurrent write created it meanwhile: try again)."""
        for user, batch in full.refused.items():
            names = sorted({name for message in batch for name in message.traits})
            # Each name looked up (``$setDifference`` compares every pair on SecantusDB).
            absent = [{"$eq": [{"$type": f"$traits.{name}"}, "missing"]} for name in names]
            cursor = await self.profiles.aggregate(
                [
                    {"$match": {"_id": user}},
                    {
                        "$project": {
                            "count": {"$size": _held()},
                            "absent": absent,
                        }
                    },
                ]
            )
            found = await cursor.to_list()
            if found:
                held = found[0]["count"]
                new = {name for name, gone in zip(names, found[0]["absent"], strict=True) if gone}
            else:
                held, new = 0, set(names)
            refusal = over_limit(user, batch, self.max_traits, held, new)
            if refusal is not None:
                return refusal
        return None

    async def load_profiles(
        self, user_ids: Sequence[str], traits: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """The seen times and the named ``traits`` of each profile found: only those, so that
        a question costs the same whatever else a profile holds."""
        fields = {"first_seen": 1, "last_seen": 1, **{f"traits.{name}": 1 for name in traits}}
        cursor = self.profiles.find({"_id": {"$in": list(user_ids)}}, fields)
        return {doc["_id"]: doc for doc in await cursor.to_list()}

    async def event_stats(
        self, user_ids: Sequence[str], events: Sequence[str], since: datetime
    ) -> dict[tuple[str, str], EventStats]:
        """Per (user, event name) with an event: the events at or after ``since`` and the latest
        event time. Each query is one round trip for the whole batch and reads only what its
        answer needs, whatever a subscriber's history holds. The counts come first
        (:func:`_recent_pipeline`: each pair's entries of ``by_user_event_time`` back to
        ``since``), with each counted pair's latest time: every event later than ``since`` is
        among them. Only the pairs with no event in the window are then asked their latest
        time (:meth:`_latest_times`), so a subscriber active this month costs its month's
        events alone (the README's *Storage*)."""
        users, names = list(dict.fromkeys(user_ids)), list(dict.fromkeys(events))
        if not users or not names:
            return {}
        found: dict[tuple[str, str], EventStats] = {}
        for doc in await self._aggregate(_recent_pipeline(users, names, since)):
            pair = (doc["_id"]["user"], doc["_id"]["event"])
            found[pair] = EventStats(int(doc["count"]), doc["last_at"])
        quiet = [(user, name) for user in users for name in names if (user, name) not in found]
        for pair, at in (await self._latest_times(quiet)).items():
            # A pair counted above keeps its figures; one whose first event in the window was
            # stored between the two reads shows that event's time with a count of 0.
            found.setdefault(pair, EventStats(0, at))
        return found

    async def _latest_times(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
        """The latest event time of each of ``pairs`` that has one: from ``cdp_event_latest``
        once it is complete (one read of those pairs by ``_id``), else from the events
        (:func:`_latest_queries`: an index entry per pair on MongoDB)."""
        if not pairs:
            return {}
        # Another process may have completed them since this one looked (and deleted the
        # events past a retention then): until this process knows them complete, it asks
        # again, so it never reads the latest times from events another process pruned.
        if self.latest_complete or await self.check_latest():
            ids = [latest_id(user, name) for user, name in pairs]
            cursor = self.latest.find(
                {"_id": _among(ids)}, {"user_id": 1, "event": 1, "last_at": 1}
            )
            return {
                (doc["user_id"], doc["event"]): doc["last_at"] for doc in await cursor.to_list()
            }
        users = list(dict.fromkeys(user for user, _ in pairs))
        names = list(dict.fromkeys(name for _, name in pairs))
        queries = _latest_queries(users, names)
        answers = await asyncio.gather(*(self._aggregate(query.pipeline()) for query in queries))
        return {
            query.pair(doc["_id"]): doc["last_at"]
            for query, docs in zip(queries, answers, strict=True)
            for doc in docs
        }

    async def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = await self.events.aggregate(pipeline)
        return await cursor.to_list()


#: ``by_user_event_time``'s own order: a ``$sort`` in it is an index walk, not a sort.
_INDEX_ORDER = {"user_id": 1, "event": 1, "timestamp": -1}


def _among(values: list[str]) -> Any:
    """A match on any of ``values``: the value itself when there is one. MongoDB plans a
    one-element ``$in`` as that equality; SecantusDB walks a range of a compound index only
    under equalities (there ``{user_id: {$in: [u]}, …}`` reads every event of ``u``)."""
    return values[0] if len(values) == 1 else {"$in": values}


# No ``type: "track"`` in the matches below: only track calls store an ``event``
# (``_event_document`` sets it from ``Message.event``, which ``parse_message`` sets for a track
# call alone, as it has since the collection's first version), so a match on ``event`` is a
# match on track calls. The index does not hold ``type``: with it, MongoDB must fetch every
# document in range to check it, and a fetch with a filter rules the DISTINCT_SCAN out.


def _recent_pipeline(users: list[str], names: list[str], since: datetime) -> list[dict[str, Any]]:
    """Per pair, its events at or after ``since`` (a clock ahead's future ones included) and
    the latest of them. On MongoDB the match is index bounds, each asked (user, name) pair from
    its newest entry back to ``since``: the entries of the window and no older one."""
    return [
        {
            "$match": {
                "user_id": _among(users),
                "event": _among(names),
                "timestamp": {"$gte": since},
            }
        },
        {
            "$group": {
                "_id": {"user": "$user_id", "event": "$event"},
                "count": {"$sum": 1},
                "last_at": {"$max": "$timestamp"},
            }
        },
    ]


@dataclass(frozen=True)
class _Latest:
    """One aggregation of the latest event time per value of ``by`` (``event`` under one user,
    or ``user_id`` under one event name): ``fixed`` is that user or name."""

    by: str
    fixed: str
    match: dict[str, Any]

    def pipeline(self) -> list[dict[str, Any]]:
        return [
            {"$match": self.match},
            {"$sort": dict(_INDEX_ORDER)},
            {"$group": {"_id": f"${self.by}", "last_at": {"$first": "$timestamp"}}},
        ]

    def pair(self, key: str) -> tuple[str, str]:
        """The (user, event name) of the group ``key``."""
        return (self.fixed, key) if self.by == "event" else (key, self.fixed)


def _latest_queries(users: list[str], names: list[str]) -> list[_Latest]:
    """The latest time of each (user, name) pair, in the shape MongoDB answers with a
    DISTINCT_SCAN over ``by_user_event_time``: per group, its first index entry (the newest),
    then a seek to the next group. The manual (Aggregation Pipeline Optimization, "$group
    stage"; $group, "Optimization to Return the First Document of Each Group") asks that the
    pipeline sort and group by the same field, ``$first`` (or ``$last``) be the only
    accumulator and an index have the sort's order; the server's rewrite
    (``DocumentSourceGroup::rewriteGroupAsTransformOnFirstDocument``) takes a group on one
    field only, and the scan (``turnIxscanIntoDistinctIxscan``) no predicate the index bounds
    leave to check, and only equalities on the fields before the grouped one.

    So a group on the pair ``{user, event}`` would read every entry of every pair. A question
    about one subscriber is one aggregation grouped by ``event`` under that user; a batch of
    several is one per asked name (as many as the configured names at most, whatever the
    batch's size), grouped by ``user_id`` under that name."""
    if len(users) == 1:
        return [_Latest("event", users[0], {"user_id": users[0], "event": _among(names)})]
    return [_Latest("user_id", name, {"user_id": {"$in": users}, "event": name}) for name in names]
