"""The billing collections in MongoDB: Stripe-shaped objects in, derivation inputs out.

Each Stripe object is stored as it came (``_id`` is its id; a ``customer`` reference is kept as
the id) plus a ``_seggraph`` field with the bookkeeping that makes ingestion safe out of order:

- ``v``: the version of the object's state, the ``created`` time of the event that wrote it (or
  the ``--as-of`` time of a bulk import). A write older than ``v`` is ignored; an equal one is
  applied (the later arrival wins a tie, and re-applying the same event changes nothing).
- ``s``: the stage of the event that wrote it (``seggraph_billing.ingest.stage``): at an equal
  ``v``, an event of an earlier stage (a ``*.created`` snapshot, an invoice's ``open`` after
  its ``paid``, anything after a deletion) is ignored. Stripe's ``created`` is in whole
  seconds, and an object's events of one second arrive in any order. A write without a stage
  (an import) is ordered by ``v`` alone.
- ``dv``: the version of the ``discount`` field alone, which ``customer.discount.*`` events
  and an import's discount lines change without the rest of the object. A full object older
  than ``dv`` keeps the newer discount, and so does one that states no ``discount`` at all.
- ``dd``: true when the stored discount was written on its own (a discount event or line), not
  as a full object's ``discount`` field. At the same version, such a discount outranks the
  object's field, whichever was written first: ties are broken by what was written, never by
  the order of arrival, which webhooks do not keep and which an import's batches change (so
  importing a file again changes nothing). Two writes of one kind at one version: the later
  arrival wins. A discount that arrives before its object is kept in a stub (``stub``: no
  customer yet, not a subscriber), which the object's first write completes.
- ``w``: a token changed by every write; writes are conditional on it (optimistic concurrency),
  so two concurrent deliveries never lose an update.

Reads are batched, never one per subscriber: a small batch (a question about one subscriber) is
one aggregation joining the customers' objects, a larger one (a page of a walk) one ``$in``
query per collection (``BillingStore.load_batch``). The catalogue (prices, products, coupons)
changes rarely and every subscriber refers to it, so each process keeps the catalogue objects it
has read in memory behind a write token (``billing_meta``), changed by every catalogue write and
read with the batch's first read (added to the customers by ``$unionWith``, or one more query):
while it is unchanged, a batch costs no catalogue query at all.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bson
from bson import ObjectId
from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from seggraph.db import IndexSpec
from seggraph.domain.numbers import INT64_MAX, INT64_MIN, fits_int64
from seggraph_billing.derive import Lookups, SubscriberData, items_of, ref_id

PREFIX = "billing_"
CUSTOMERS = PREFIX + "customers"
SUBSCRIPTIONS = PREFIX + "subscriptions"
PRICES = PREFIX + "prices"
PRODUCTS = PREFIX + "products"
COUPONS = PREFIX + "coupons"
INVOICES = PREFIX + "invoices"
RETENTION_EVENTS = PREFIX + "retention_events"
WEBHOOK_EVENTS = PREFIX + "webhook_events"
#: One document, ``{_id: "catalogue", token}``: the token changes on every catalogue write.
BILLING_META = PREFIX + "meta"
CATALOGUE_TOKEN_ID = "catalogue"
#: The collections whose objects are kept in memory behind the catalogue token.
CATALOGUE = (PRICES, PRODUCTS, COUPONS)
#: Kept catalogue objects are dropped after this long even with an unchanged token: a safety
#: net for a writer that stopped between writing objects and changing the token.
CATALOGUE_MAX_AGE_SECONDS = 300.0
#: Beyond this many kept objects (a very large catalogue) the memory starts again empty.
CATALOGUE_MAX_OBJECTS = 20_000

#: A suggestion request reads at most this many objects of a catalogue collection.
SUGGESTION_SCAN = 5_000

#: The collection of each Stripe object type seggraph keeps.
COLLECTION_OF: dict[str, str] = {
    "customer": CUSTOMERS,
    "subscription": SUBSCRIPTIONS,
    "price": PRICES,
    "product": PRODUCTS,
    "coupon": COUPONS,
    "invoice": INVOICES,
}
META = "_seggraph"
_MAX_ATTEMPTS = 8
#: The customers that are subscribers: not deleted, and not a stub holding only a discount
#: that arrived before its customer.
DIRECTORY_QUERY: dict[str, Any] = {"deleted": {"$ne": True}, f"{META}.stub": {"$ne": True}}

INDEXES: list[IndexSpec] = [
    IndexSpec(SUBSCRIPTIONS, (IndexModel([("customer", ASCENDING)], name="by_customer"),)),
    IndexSpec(
        INVOICES,
        (IndexModel([("customer", ASCENDING), ("status", ASCENDING)], name="by_customer"),),
    ),
    IndexSpec(
        RETENTION_EVENTS,
        (
            IndexModel(
                [("subscriber_id", ASCENDING), ("recorded_at", ASCENDING), ("_id", ASCENDING)],
                name="by_subscriber",
            ),
            # recordRetentionEvent's idempotency keys: one event per key, also when two
            # calls with one key run at once.
            IndexModel(
                [("idempotency.key", ASCENDING)],
                name="by_idempotency_key",
                unique=True,
                partialFilterExpression={"idempotency.key": {"$type": "string"}},
            ),
        ),
    ),
    IndexSpec(WEBHOOK_EVENTS, (IndexModel([("received_at", ASCENDING)], name="by_received"),)),
]

#: The invoice fields a derivation reads (invoices carry large ``lines`` it never needs).
INVOICE_FIELDS = {
    "id": 1,
    "customer": 1,
    "subscription": 1,
    "parent.subscription_details.subscription": 1,
    "status": 1,
    "amount_paid": 1,
    "post_payment_credit_notes_amount": 1,
    "currency": 1,
}


#: MongoDB's limits on one document (its manual's "Limits and Thresholds"): 16 MiB of BSON, and
#: at most 100 levels of nesting (the document is the first level; each object or array inside
#: adds one).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_NESTING = 100
#: Room left in a stored document for what seggraph adds to an object (``_id``, ``_seggraph``).
BOOKKEEPING_BYTES = 64 * 1024


class BadObject(ValueError):
    """A Stripe object seggraph cannot store (no id, an unknown type)."""


def storage_problem(obj: Mapping[str, Any], *, embedded: bool = False) -> str | None:
    """Why MongoDB could not store ``obj`` (an object read from JSON) as a document, or with
    ``embedded`` as a field of one (a discount, kept in its customer or subscription); None
    when it can.

    Checked when an object is read (a webhook event, an import line), before anything is
    written: the driver raises on an integer beyond 64 bits or a field name with a NUL
    character, a top-level field name starting with ``$`` cannot be in a replacement, and
    the server refuses a document over 16 MiB or nested more than 100 levels; any of these in
    one object would otherwise fail the write of the whole batch it is in.
    """
    if not embedded and (dollar := next((k for k in obj if str(k).startswith("$")), None)):
        return f"the field name {dollar!r} starts with '$', which MongoDB refuses at the top level"
    if _nesting(obj, 2 if embedded else 1) > MAX_NESTING:
        return f"it is nested more than {MAX_NESTING} levels deep (MongoDB's limit)"
    try:
        size = len(bson.encode(obj))
    except (BSONError, OverflowError, ValueError, TypeError, RecursionError) as exc:
        return _unencodable(obj, "") or f"MongoDB cannot encode it ({exc})"
    if size > MAX_DOCUMENT_BYTES - BOOKKEEPING_BYTES:
        return (
            f"it takes {size} bytes of BSON; a MongoDB document holds at most "
            f"{MAX_DOCUMENT_BYTES} bytes, of which {BOOKKEEPING_BYTES} are kept for seggraph"
        )
    return None


def _nesting(obj: Mapping[str, Any], level: int) -> int:
    """The deepest level of an object at ``level`` (its objects and arrays one deeper each);
    not recursive, so any depth is measured. Stops counting past :data:`MAX_NESTING`."""
    deepest = level
    stack: list[tuple[Any, int]] = [(dict(obj), level)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return deepest


def _unencodable(value: Any, path: str) -> str | None:
    """The first value or field name of ``value`` BSON cannot encode, in words, or None.
    Recursive: called only on an object whose nesting is already known to be bounded."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            if isinstance(key, str) and "\x00" in key:
                where = f" in {path}" if path else ""
                return f"the field name {key!r}{where} has a NUL character, which MongoDB refuses"
            if (found := _unencodable(child, f"{path}.{key}" if path else key)) is not None:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if (found := _unencodable(child, f"{path}[{index}]")) is not None:
                return found
    elif isinstance(value, int) and not fits_int64(value):
        # BSON's integers are 64-bit; JSON's are not bounded (orjson reads up to 2**64 - 1).
        return f"{path} is {value}, beyond MongoDB's 64-bit integers ({INT64_MIN} to {INT64_MAX})"
    return None


@dataclass(slots=True)
class WriteReport:
    """What a write did: objects applied, and those ignored because newer state was stored."""

    applied: int = 0
    stale: int = 0

    def add(self, other: WriteReport) -> None:
        self.applied += other.applied
        self.stale += other.stale


@dataclass(slots=True)
class _KeptCatalogue:
    """Catalogue objects read under one token: collection -> id -> document (``None`` when
    the id was looked up and is not stored)."""

    token: Any
    since: float
    docs: dict[str, dict[str, dict[str, Any] | None]]

    @classmethod
    def empty(cls, token: Any) -> _KeptCatalogue:
        return cls(token, time.monotonic(), {name: {} for name in CATALOGUE})

    def size(self) -> int:
        return sum(len(docs) for docs in self.docs.values())


@dataclass(slots=True)
class Batch:
    """A batch's derivation inputs: each subscriber's objects and the shared lookups."""

    subscribers: dict[str, SubscriberData]
    lookups: Lookups
    queries: int = 0
    collections: list[str] = field(default_factory=list)


def normalize(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The document stored for a Stripe object (its fields, ``_id``, references as ids)."""
    ident = obj.get("id")
    if not isinstance(ident, str) or not ident:
        raise BadObject(f"a {kind} needs a non-empty string id")
    if kind not in COLLECTION_OF:
        raise BadObject(f"objects of type {kind!r} are not kept")
    doc = {k: v for k, v in obj.items() if k != META and k != "_id"}
    doc["_id"] = ident
    if kind in ("subscription", "invoice") and "customer" in doc:
        doc["customer"] = ref_id(doc["customer"])
    return doc


def _newer(meta: Mapping[str, Any], version: float, stage: int | None) -> bool:
    """Whether the stored state (its ``meta``) is newer than a write at ``version``, of
    ``stage``: of a later version, or of the same one and a later stage (both known)."""
    if meta["v"] != version:
        return bool(meta["v"] > version)
    stored = meta.get("s")
    return stage is not None and stored is not None and stored > stage


def _keeps_discount(doc: Mapping[str, Any], meta: Mapping[str, Any], version: float) -> bool:
    """Whether a full object written at ``version`` keeps the stored discount (whose own
    version is ``meta["dv"]``) rather than its own ``discount`` field: when the stored one is
    newer, when the object does not state a discount at all, and when the stored one was
    written on its own (a discount event or import line) at the object's version.

    That tie matters most to the import, which writes every line at one version (``--as-of``):
    a discount line and its object's line (``discount: null``, or a discount of its own) are
    written in an order that depends on the batches and on what an earlier run stored, and the
    discount line must win every time. Events of one second arrive in any order too; a
    discount event is the one that says what became of the discount."""
    stored = meta.get("dv")
    if stored is None:
        return False
    return stored > version or "discount" not in doc or (stored == version and _own_discount(meta))


def _own_discount(meta: Mapping[str, Any]) -> bool:
    """Whether the stored discount was written on its own (a stub's always was: ``stub`` alone
    marks those stored before ``dd`` was kept)."""
    return bool(meta.get("dd") or meta.get("stub"))


@dataclass(frozen=True)
class _OwnedPart:
    """A collection of objects owned by a subscriber, as a batch reads it: by the owner's id
    (``owner`` field), filtered, sorted and projected the same way whether it is joined to the
    customers (``$lookup``) or read on its own."""

    collection: str
    owner: str
    joined_as: str
    """Where the join puts the owned objects in a customer document (removed after)."""
    match: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[tuple[str, int], ...] = ()
    projection: Mapping[str, Any] | None = None

    def lookup(self) -> dict[str, Any]:
        stages: list[dict[str, Any]] = []
        if self.match:
            stages.append({"$match": dict(self.match)})
        if self.sort:
            stages.append({"$sort": dict(self.sort)})
        if self.projection:
            stages.append({"$project": dict(self.projection)})
        spec: dict[str, Any] = {
            "from": self.collection,
            "localField": "_id",
            "foreignField": self.owner,
            "as": self.joined_as,
        }
        if stages:
            spec["pipeline"] = stages
        return {"$lookup": spec}

    async def by_owner(self, store: BillingStore, owners: list[str]) -> list[dict[str, Any]]:
        query = {self.owner: {"$in": owners}, **self.match}
        return await store._all(self.collection, query, self.projection, list(self.sort) or None)


_TOKEN_FIELD = "__seggraph_catalogue_token"
#: Appended to a batch's aggregation: the catalogue token as one more row, without an ``_id``.
_TOKEN_UNION: dict[str, Any] = {
    "$unionWith": {
        "coll": BILLING_META,
        "pipeline": [
            {"$match": {"_id": CATALOGUE_TOKEN_ID}},
            {"$project": {"_id": 0, _TOKEN_FIELD: "$token"}},
        ],
    }
}

#: A batch of at most this many subscribers is read by one aggregation joining every
#: collection; a larger one by one query per collection (``BillingStore.load_batch``).
JOIN_MAX_IDS = 8
#: What a batch's first read gives: customers by id, each part's objects by owner (by
#: collection), and the catalogue token.
_Read = tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[dict[str, Any]]]], Any]

_SUBSCRIPTIONS = _OwnedPart(SUBSCRIPTIONS, "customer", "__seggraph_subscriptions")
_INVOICES = _OwnedPart(
    INVOICES,
    "customer",
    "__seggraph_invoices",
    match={"status": "paid", "deleted": {"$ne": True}},
    projection=INVOICE_FIELDS,
)
_RETENTION = _OwnedPart(
    RETENTION_EVENTS,
    "subscriber_id",
    "__seggraph_retention_events",
    sort=(("recorded_at", ASCENDING), ("_id", ASCENDING)),
)


class BillingStore:
    """Reads and writes the ``billing_*`` collections of one database."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self._catalogue = _KeptCatalogue.empty(None)

    async def ensure_indexes(self) -> None:
        for spec in INDEXES:
            await self.db[spec.collection].create_indexes(list(spec.indexes))

    # --- writes ----------------------------------------------------------------------------------

    async def put_objects(
        self,
        kind: str,
        entries: Sequence[tuple[Mapping[str, Any], float]],
        *,
        source: str,
        stage: int | None = None,
    ) -> WriteReport:
        """Store whole objects of one type, each with its version; older ones are ignored, and
        so are those of an equal version and an earlier ``stage`` than the stored one's.

        Entries for the same id are applied in order. Costs one read and one bulk write per
        call (plus a retry for ids another writer changed in between).
        """
        collection = COLLECTION_OF.get(kind)
        if collection is None:
            raise BadObject(f"objects of type {kind!r} are not kept")
        docs = [(normalize(kind, obj), version) for obj, version in entries]
        report = WriteReport()
        pending = docs
        for _ in range(_MAX_ATTEMPTS):
            if not pending:
                return report
            attempt, conflicted = await self._put_once(collection, pending, source, stage)
            report.add(attempt)
            pending = [(doc, version) for doc, version in pending if doc["_id"] in conflicted]
        raise RuntimeError(f"could not write {len(pending)} {kind} objects: too many conflicts")

    async def _put_once(
        self,
        collection: str,
        docs: list[tuple[dict[str, Any], float]],
        source: str,
        stage: int | None,
    ) -> tuple[WriteReport, set[str]]:
        ids = list(dict.fromkeys(doc["_id"] for doc, _ in docs))
        stored = {
            doc["_id"]: doc
            async for doc in self.db[collection].find(
                {"_id": {"$in": ids}}, {META: 1, "discount": 1}
            )
        }
        report = WriteReport()
        final: dict[str, dict[str, Any]] = {}
        state: dict[str, Mapping[str, Any] | None] = {i: stored.get(i) for i in ids}
        for doc, version in docs:
            current = state[doc["_id"]]
            meta = (current or {}).get(META) or {}
            if current is not None and meta.get("v") is not None and _newer(meta, version, stage):
                report.stale += 1
                continue
            new = dict(doc)
            new_meta: dict[str, Any] = {"v": version, "dv": version, "source": source}
            if stage is not None:
                new_meta["s"] = stage
            if (
                current is not None
                and "discount" in current
                and _keeps_discount(doc, meta, version)
            ):
                new["discount"] = current.get("discount")
                new_meta["dv"] = meta["dv"]
                if _own_discount(meta):
                    new_meta["dd"] = True
            new[META] = new_meta
            state[doc["_id"]] = new
            final[doc["_id"]] = new
            report.applied += 1
        token = uuid.uuid4().hex
        operations: list[Any] = []
        for ident, new in final.items():
            new[META]["w"] = token
            before = stored.get(ident)
            if before is None:
                operations.append(InsertOne(new))
            else:
                previous = (before.get(META) or {}).get("w")
                operations.append(ReplaceOne({"_id": ident, f"{META}.w": previous}, new))
        if not operations:
            return report, set()
        try:
            conflicted = await self._bulk(collection, operations, expected=len(operations))
        finally:
            if collection in CATALOGUE:
                await self._catalogue_written()
        if conflicted:
            written = {
                doc["_id"]
                async for doc in self.db[collection].find(
                    {"_id": {"$in": list(final)}, f"{META}.w": token}, {"_id": 1}
                )
            }
            lost = set(final) - written
            if lost:
                report.applied -= sum(1 for doc, _ in docs if doc["_id"] in lost)
                return report, lost
        return report, set()

    async def _catalogue_written(self) -> None:
        """Change the catalogue token, after the write (so a reader that kept an object from
        before the write finds a new token on its next read). A fresh random value rather
        than a counter: a wiped or restored database never brings back a token in use."""
        await self.db[BILLING_META].update_one(
            {"_id": CATALOGUE_TOKEN_ID}, {"$set": {"token": ObjectId()}}, upsert=True
        )

    async def _bulk(self, collection: str, operations: list[Any], *, expected: int) -> bool:
        """Run the writes; True when some did not apply (a concurrent writer got there first)."""
        try:
            result = await self.db[collection].bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != 11000 for error in errors):
                raise
            return True
        return result.inserted_count + result.matched_count < expected

    async def put_discount(
        self, kind: str, ident: str, discount: Mapping[str, Any] | None, version: float
    ) -> WriteReport:
        """Set (or, with ``None``, remove) the discount of a customer or subscription.

        Applies when ``version`` is at least the stored discount's, and is marked as written on
        its own (``dd``: a full object of the same version keeps it); an object not stored yet
        gets a stub holding only the discount, which its first full write completes.
        """
        collection = COLLECTION_OF[kind]
        for _ in range(_MAX_ATTEMPTS):
            current = await self.db[collection].find_one({"_id": ident}, {META: 1})
            meta = (current or {}).get(META) or {}
            if meta.get("dv") is not None and meta["dv"] > version:
                return WriteReport(stale=1)
            token = uuid.uuid4().hex
            value = dict(discount) if discount is not None else None
            if current is None:
                stub = {
                    "_id": ident,
                    "id": ident,
                    "discount": value,
                    META: {"v": None, "dv": version, "dd": True, "w": token, "stub": True},
                }
                try:
                    await self.db[collection].insert_one(stub)
                except DuplicateKeyError:
                    continue
                return WriteReport(applied=1)
            result = await self.db[collection].update_one(
                {"_id": ident, f"{META}.w": meta.get("w")},
                {
                    "$set": {
                        "discount": value,
                        f"{META}.dv": version,
                        f"{META}.dd": True,
                        f"{META}.w": token,
                    }
                },
            )
            if result.matched_count:
                return WriteReport(applied=1)
        raise RuntimeError(f"could not write the discount of {kind} {ident}: too many conflicts")

    # --- webhook events --------------------------------------------------------------------------

    async def seen_event(self, event_id: str) -> dict[str, Any] | None:
        return await self.db[WEBHOOK_EVENTS].find_one({"_id": event_id})

    async def record_event(
        self, event_id: str, event_type: str, created: float, outcome: str, received_at: datetime
    ) -> bool:
        """Remember a processed event; False when it was already recorded (a concurrent
        delivery of the same event)."""
        try:
            await self.db[WEBHOOK_EVENTS].insert_one(
                {
                    "_id": event_id,
                    "type": event_type,
                    "created": created,
                    "outcome": outcome,
                    "received_at": received_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    # --- retention events ------------------------------------------------------------------------

    async def add_retention_event(self, event: Mapping[str, Any]) -> Any:
        result = await self.db[RETENTION_EVENTS].insert_one(dict(event))
        return result.inserted_id

    async def retention_event_by_key(self, key: str) -> dict[str, Any] | None:
        """The event recorded with the idempotency key ``key``, if any."""
        return await self.db[RETENTION_EVENTS].find_one({"idempotency.key": key})

    async def add_retention_event_once(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Record ``event`` unless an event with its ``idempotency.key`` is recorded meanwhile:
        None when this call recorded it (its ``_id`` set), else the event recorded with the
        key. Two calls with one key at once record one event (the unique index
        ``by_idempotency_key``); look the key up first (:meth:`retention_event_by_key`)."""
        key = event["idempotency"]["key"]
        try:
            event["_id"] = await self.add_retention_event(event)
        except DuplicateKeyError:
            event.pop("_id", None)
            found = await self.retention_event_by_key(key)
            if found is None:  # the index refused something else: not ours to hide
                raise
            return found
        return None

    async def put_retention_events(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Store recorded events in one bulk write, each replacing any stored event with its
        ``_id`` (a bulk load, such as the demo's, that may be run again)."""
        operations = [ReplaceOne({"_id": e["_id"]}, dict(e), upsert=True) for e in events]
        if operations:
            await self.db[RETENTION_EVENTS].bulk_write(operations, ordered=False)
        return len(operations)

    async def retention_events(self, subscriber_id: str, limit: int) -> list[dict[str, Any]]:
        """Latest first: by ``at``, then by recording."""
        if limit <= 0:
            return []
        cursor = (
            self.db[RETENTION_EVENTS]
            .find({"subscriber_id": subscriber_id})
            .sort([("at", DESCENDING), ("recorded_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return await cursor.to_list(None)

    async def has_customer(self, subscriber_id: str) -> bool:
        """Whether the id is a subscriber: a customer, not deleted, and not a stub holding
        only a discount that arrived before its customer."""
        found = await self.db[CUSTOMERS].find_one(
            {"_id": subscriber_id, **DIRECTORY_QUERY}, {"_id": 1}
        )
        return found is not None

    # --- reads -----------------------------------------------------------------------------------

    async def load_batch(
        self,
        subscriber_ids: Iterable[str],
        *,
        invoices: bool = True,
        retention: bool = True,
        subscriptions: bool = True,
    ) -> Batch:
        """Everything a derivation needs for these subscribers.

        A small batch (at most :data:`JOIN_MAX_IDS` ids: the questions about one subscriber)
        is one aggregation over the customers, joining each customer's subscriptions, paid
        invoices and retention events (``$lookup`` on their indexed owner field), with the
        catalogue token added by ``$unionWith``: a database operation costs the client far
        more than the documents it returns (about 0.3 ms of CPU for PyMongo's async client on
        our 2-core machine, whatever the operation). A larger batch (the pages of a walk over
        the directory) is one ``$in`` query per collection, in parallel, and one read of the
        token: the join looks up each customer's objects one customer at a time, which costs
        the database more than the few extra operations cost the client. Either way the token
        is read after the batch asked, so it is as fresh as the customers. Ids without a
        customer document (objects that arrived before their customer, retention events of an
        unknown id) are read from every collection by owner.

        ``invoices``, ``retention`` and ``subscriptions`` leave out collections the requested
        properties do not read.
        """
        ids = list(dict.fromkeys(subscriber_ids))
        wanted = [
            part
            for part, asked in (
                (_SUBSCRIPTIONS, subscriptions),
                (_INVOICES, invoices),
                (_RETENTION, retention),
            )
            if asked
        ]
        joined = len(ids) <= JOIN_MAX_IDS
        read = self._joined if joined else self._by_collection
        customers, owned, token = await read(ids, wanted)
        for ident in [i for i, doc in customers.items() if (doc.get(META) or {}).get("stub")]:
            # A discount that arrived before its customer: no customer yet, so the id is read
            # as the other ids without one are (known only by objects that name it).
            del customers[ident]
        names = [CUSTOMERS, *(part.collection for part in wanted), BILLING_META]
        if orphans := [ident for ident in ids if ident not in customers]:
            # Every part, asked or not: without a customer, whether billing knows the
            # subscriber at all (SubscriberData.is_known) rests on them, and that must not
            # change with the keys asked. Rare: objects that arrived before their customer.
            # The join found none of their objects; the queries per collection found those
            # of the parts asked.
            unread = [
                part for part in (_SUBSCRIPTIONS, _INVOICES, _RETENTION) if part not in wanted
            ]
            every = [*wanted, *unread] if joined else unread
            found = await asyncio.gather(*(part.by_owner(self, orphans) for part in every))
            for part, docs in zip(every, found, strict=True):
                owned.setdefault(part.collection, {}).update(_group(docs, part.owner))
            names += [part.collection for part in unread]
        subs = owned.get(SUBSCRIPTIONS, {})
        invs = owned.get(INVOICES, {})
        events = owned.get(RETENTION_EVENTS, {})
        lookups, lookup_names = await self._lookups(
            customers.values(), [s for docs in subs.values() for s in docs], token
        )
        names += lookup_names
        subscribers = {
            ident: SubscriberData(
                ident,
                customer=customers.get(ident),
                subscriptions=subs.get(ident, []),
                invoices=invs.get(ident, []),
                retention_events=events.get(ident, []),
            )
            for ident in ids
        }
        return Batch(subscribers, lookups, queries=len(names), collections=names)

    async def _joined(self, ids: list[str], wanted: list[_OwnedPart]) -> _Read:
        """The customers with the ``wanted`` parts joined, and the catalogue token: one
        aggregation."""
        pipeline: list[dict[str, Any]] = [{"$match": {"_id": {"$in": ids}}}]
        pipeline += [part.lookup() for part in wanted]
        pipeline.append(_TOKEN_UNION)
        customers: dict[str, dict[str, Any]] = {}
        owned: dict[str, dict[str, list[dict[str, Any]]]] = {p.collection: {} for p in wanted}
        token: Any = None
        for doc in await self._aggregate(CUSTOMERS, pipeline):
            if "_id" not in doc:  # the token's row (every customer has an _id)
                token = doc.get(_TOKEN_FIELD)
                continue
            for part in wanted:
                owned[part.collection][doc["_id"]] = doc.pop(part.joined_as)
            customers[doc["_id"]] = doc
        return customers, owned, token

    async def _by_collection(self, ids: list[str], wanted: list[_OwnedPart]) -> _Read:
        """The customers, the ``wanted`` parts (of every id, customer or not) and the
        catalogue token: one query each, in parallel."""
        customer_docs, meta, *parts = await asyncio.gather(
            self._all(CUSTOMERS, {"_id": {"$in": ids}}),
            self.db[BILLING_META].find_one({"_id": CATALOGUE_TOKEN_ID}),
            *(part.by_owner(self, ids) for part in wanted),
        )
        customers = {doc["_id"]: doc for doc in customer_docs}
        owned = {
            part.collection: _group(docs, part.owner)
            for part, docs in zip(wanted, parts, strict=True)
        }
        return customers, owned, None if meta is None else meta.get("token")

    async def _aggregate(
        self, collection: str, pipeline: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        cursor = await self.db[collection].aggregate(pipeline)
        return await cursor.to_list(None)

    async def _lookups(
        self,
        customers: Iterable[Mapping[str, Any]],
        subscriptions: Iterable[Mapping[str, Any]],
        token: Any,
    ) -> tuple[Lookups, list[str]]:
        """Prices and coupons the batch refers to (in parallel), then the prices' products;
        only those not kept in memory under ``token`` are read."""
        price_ids: set[str] = set()
        coupon_ids: set[str] = set()
        product_ids: set[str] = set()
        for subscription in subscriptions:
            for item in items_of(subscription):
                raw = item.get("price") if item.get("price") is not None else item.get("plan")
                if (ident := ref_id(raw)) is not None:
                    price_ids.add(ident)
                if isinstance(raw, Mapping) and (pid := ref_id(raw.get("product"))):
                    product_ids.add(pid)
            _add_coupon(coupon_ids, subscription.get("discount"))
        for customer in customers:
            _add_coupon(coupon_ids, customer.get("discount"))
        kept = self._kept_catalogue(token)
        names: list[str] = []
        prices, coupons = await self._catalogue_objects(
            kept, {PRICES: price_ids, COUPONS: coupon_ids}, names
        )
        for price in prices.values():
            if (pid := ref_id(price.get("product"))) is not None:
                product_ids.add(pid)
        (products,) = await self._catalogue_objects(kept, {PRODUCTS: product_ids}, names)
        return Lookups(prices=prices, products=products, coupons=coupons), names

    def _kept_catalogue(self, token: Any) -> _KeptCatalogue:
        """The memory of catalogue objects valid under ``token`` (emptied when the token
        changed, it is too old or too big). Before the first catalogue write there is no
        token: then a memory of this batch alone, kept nowhere."""
        if token is None:
            return _KeptCatalogue.empty(None)
        kept = self._catalogue
        if (
            kept.token != token
            or time.monotonic() - kept.since > CATALOGUE_MAX_AGE_SECONDS
            or kept.size() > CATALOGUE_MAX_OBJECTS
        ):
            kept = self._catalogue = _KeptCatalogue.empty(token)
        return kept

    async def _catalogue_objects(
        self, kept: _KeptCatalogue, wanted: Mapping[str, set[str]], names: list[str]
    ) -> list[dict[str, dict[str, Any]]]:
        """Per collection, the wanted objects by id: from memory, the rest in one query per
        collection (in parallel), remembered under the token read before the query (an object
        written since is kept under a token that is already out of date, so never reused)."""
        missing = {
            collection: absent
            for collection, ids in wanted.items()
            if (absent := sorted(i for i in ids if i not in kept.docs[collection]))
        }
        read = (
            await asyncio.gather(
                *(self._all(name, {"_id": {"$in": ids}}) for name, ids in missing.items())
            )
            if missing
            else []  # all kept (the usual case): no gathering future to make and await
        )
        for (collection, asked), docs in zip(missing.items(), read, strict=True):
            names.append(collection)
            by_id = {doc["_id"]: doc for doc in docs}
            memory = kept.docs[collection]
            for ident in asked:
                memory[ident] = by_id.get(ident)
        return [
            {i: doc for i in ids if (doc := kept.docs[collection][i]) is not None}
            for collection, ids in wanted.items()
        ]

    async def _all(
        self,
        collection: str,
        query: Mapping[str, Any],
        projection: Mapping[str, Any] | None = None,
        sort: list[tuple[str, int]] | None = None,
    ) -> list[dict[str, Any]]:
        cursor = self.db[collection].find(dict(query), projection)
        if sort:
            cursor = cursor.sort(sort)
        return await cursor.to_list(None)

    async def catalogue_objects(
        self,
        collection: str,
        fields: Sequence[str],
        *,
        starting: tuple[str, str] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The catalogue objects of ``collection`` (prices, products, coupons) that are not
        deleted, with ``fields``, for suggestions: those whose ``starting`` field (a field and
        a prefix) starts with the prefix in any case, and match ``where``; at most
        :data:`SUGGESTION_SCAN` of them. The prefix is matched by the database (an anchored
        case-insensitive ``$regex``), so a keystroke reads only what may be suggested."""
        query: dict[str, Any] = {"deleted": {"$ne": True}, **(where or {})}
        if starting is not None and starting[1]:
            field, prefix = starting
            query[field] = {"$regex": "^" + re.escape(prefix), "$options": "i"}
        cursor = self.db[collection].find(query, dict.fromkeys(fields, 1)).limit(SUGGESTION_SCAN)
        return await cursor.to_list(None)

    async def subscriber_ids(self, after: str | None, limit: int) -> list[str]:
        """A page of subscriber ids (customers not deleted), in id order, after ``after``."""
        query: dict[str, Any] = dict(DIRECTORY_QUERY)
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self.db[CUSTOMERS].find(query, {"_id": 1}).sort("_id", ASCENDING).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def clear(self) -> None:
        """Remove every billing object (tests, and `seggraph import billing --replace`)."""
        for name in (*COLLECTION_OF.values(), RETENTION_EVENTS, WEBHOOK_EVENTS):
            await self.db[name].delete_many({})
        await self._catalogue_written()


def _add_coupon(into: set[str], discount: Any) -> None:
    if not isinstance(discount, Mapping):
        return
    raw = discount.get("coupon")
    if raw is None and isinstance(discount.get("source"), Mapping):
        raw = discount["source"].get("coupon")
    if (ident := ref_id(raw)) is not None:
        into.add(ident)


def _group(docs: Iterable[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        owner = doc.get(key)
        if isinstance(owner, str):
            out.setdefault(owner, []).append(doc)
    return out
