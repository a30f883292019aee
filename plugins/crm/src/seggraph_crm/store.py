"""The ``crm_contacts`` and ``crm_companies`` collections, and the batched read.

Contacts and companies are stored by their CRM id (``_id``); a re-import of the same id
replaces the record. Amounts are ``Decimal128``, dates ``YYYY-MM-DD`` strings.

A batch read costs one query per collection: subscribers' emails from the email source (by
default the billing provider's customers), then the contacts matching the subscriber ids
(``external_id``) or those emails, then their companies.

Contacts carry ``match_keys`` (``id:<external_id>``, ``email:<email>``), one multikey index,
so that "by external id or by email" is a single ``$in`` on one index: an ``$or`` of two
``$in`` on two indexes may be planned as a collection scan (SecantusDB does, 70x slower per
batch of 200 on the demo's 10,000 contacts), where one ``$in`` is an index scan on any planner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bson import Decimal128
from pymongo import ASCENDING, IndexModel, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from seggraph.chunking import chunks

CONTACTS = "crm_contacts"
COMPANIES = "crm_companies"

INDEXES: dict[str, list[IndexModel]] = {
    CONTACTS: [
        IndexModel([("external_id", ASCENDING)], name="by_external_id", sparse=True),
        IndexModel([("email", ASCENDING)], name="by_email", sparse=True),
        IndexModel([("match_keys", ASCENDING)], name="by_match_key"),
    ],
    COMPANIES: [],
}


def to_document(record: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": record["id"]}
    for name, value in record.items():
        if name == "id":
            continue
        if isinstance(value, Decimal):
            value = Decimal128(value)
        elif isinstance(value, date) and not hasattr(value, "hour"):
            value = value.isoformat()
        doc[name] = value
    return doc


#: The field holding a contact's ways of being matched to a subscriber (indexed, multikey).
MATCH_KEYS = "match_keys"


def match_keys(contact: dict[str, Any]) -> list[str]:
    """``id:<external_id>`` and ``email:<email>``, for those the contact has."""
    keys = []
    if contact.get("external_id"):
        keys.append(f"id:{contact['external_id']}")
    if contact.get("email"):
        keys.append(f"email:{contact['email']}")
    return keys


def from_document(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if name == MATCH_KEYS:
            continue
        if isinstance(value, Decimal128):
            value = value.to_decimal()
        out[name] = value
    return out


@dataclass(frozen=True)
class EmailSource:
    """Where subscribers' emails are read: a collection keyed by subscriber id, and a field."""

    collection: str
    field: str


@dataclass
class Matches:
    contacts: dict[str, dict[str, Any]]
    """Subscriber id → its contact."""
    companies: dict[str, dict[str, Any]]
    """Company id → company."""
    queries: int = 0


def _rank(contact: dict[str, Any], by_external_id: bool) -> tuple[Any, ...]:
    updated = contact.get("updated_at")
    return (by_external_id, updated is not None, updated or 0, str(contact.get("_id")))


class CrmStore:
    def __init__(self, db: AsyncDatabase[dict], email_source: EmailSource | None) -> None:
        self.db = db
        self.contacts = db[CONTACTS]
        self.companies = db[COMPANIES]
        self.email_source = email_source

    async def ensure_indexes(self) -> None:
        for name, indexes in INDEXES.items():
            if indexes:
                await self.db[name].create_indexes(indexes)
        await self._add_missing_match_keys()

    async def _add_missing_match_keys(self) -> None:
        """Give contacts stored before ``match_keys`` existed theirs (once; cheap after)."""
        cursor = self.contacts.find(
            {MATCH_KEYS: {"$exists": False}}, {"external_id": 1, "email": 1}
        )
        updates = [
            UpdateOne({"_id": doc["_id"]}, {"$set": {MATCH_KEYS: match_keys(doc)}})
            for doc in await cursor.to_list()
        ]
        for batch in chunks(updates, 1000):
            await self.contacts.bulk_write(list(batch), ordered=False)

    async def put(self, collection: str, records: Sequence[dict[str, Any]]) -> int:
        if not records:
            return 0
        docs = [to_document(record) for record in records]
        if collection == CONTACTS:
            for doc in docs:
                doc[MATCH_KEYS] = match_keys(doc)
        operations = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in docs]
        await self.db[collection].bulk_write(operations, ordered=True)
        return len(operations)

    async def emails(self, subscriber_ids: Sequence[str]) -> dict[str, str]:
        """Subscriber id → email (lower-cased), from the email source."""
        source = self.email_source
        if source is None:
            return {}
        cursor = self.db[source.collection].find(
            {"_id": {"$in": list(subscriber_ids)}}, {source.field: 1}
        )
        out: dict[str, str] = {}
        for doc in await cursor.to_list():
            value = doc.get(source.field)
            if isinstance(value, str) and value.strip():
                out[str(doc["_id"])] = value.strip().casefold()
        return out

    async def match(self, subscriber_ids: Sequence[str], with_companies: bool) -> Matches:
        """Each subscriber's contact (external id first, then email) and their companies."""
        ids = list(dict.fromkeys(subscriber_ids))
        emails = await self.emails(ids)
        queries = 1 if self.email_source is not None else 0
        by_email: dict[str, list[str]] = {}
        for subscriber, email in emails.items():
            by_email.setdefault(email, []).append(subscriber)
        wanted_keys = [f"id:{i}" for i in ids] + [f"email:{e}" for e in by_email]
        cursor = self.contacts.find({MATCH_KEYS: {"$in": wanted_keys}})
        found = [from_document(doc) for doc in await cursor.to_list()]
        queries += 1
        best: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        wanted = set(ids)
        for contact in found:
            candidates: list[tuple[str, bool]] = []
            external = contact.get("external_id")
            if external in wanted:
                candidates.append((external, True))
            for subscriber in by_email.get(contact.get("email") or "", ()):
                candidates.append((subscriber, False))
            for subscriber, exact in candidates:
                rank = _rank(contact, exact)
                held = best.get(subscriber)
                if held is None or rank > held[0]:
                    best[subscriber] = (rank, contact)
        contacts = {subscriber: contact for subscriber, (_, contact) in best.items()}
        companies: dict[str, dict[str, Any]] = {}
        company_ids = {c["company_id"] for c in contacts.values() if c.get("company_id")}
        if with_companies and company_ids:
            cursor = self.companies.find({"_id": {"$in": sorted(company_ids)}})
            companies = {str(doc["_id"]): from_document(doc) for doc in await cursor.to_list()}
            queries += 1
        return Matches(contacts, companies, queries)

    async def counts(self) -> dict[str, int]:
        return {
            CONTACTS: await self.contacts.count_documents({}),
            COMPANIES: await self.companies.count_documents({}),
        }
