"""The CRM provider: property values in batches and the bulk import. ``seggraph_crm.plugin``
connects it to seggraph's hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from seggraph.domain.properties import PropertyDefinition
from seggraph.evaluation.values import MISSING
from seggraph.settings import read_settings
from seggraph_crm import properties
from seggraph_crm.importer import read_records, write_records
from seggraph_crm.properties import COMPANY_KEYS, PROVIDER
from seggraph_crm.records import ParsedRecords, RecordKind
from seggraph_crm.settings import CrmSettings
from seggraph_crm.store import CrmStore

#: Subscribers read per round of queries.
BATCH = 1000


class SubjectLike(Protocol):
    @property
    def subscriber_id(self) -> str: ...


class CrmProvider:
    """One per process; ``bind`` it to the database and the account currency before use."""

    name = PROVIDER

    def __init__(self, settings: CrmSettings | None = None) -> None:
        self.settings = settings or read_settings(CrmSettings)
        self.currency = "USD"
        self._store: CrmStore | None = None

    def bind(self, db: AsyncDatabase[dict[str, Any]], *, currency: str = "USD") -> CrmProvider:
        self._store = CrmStore(db, self.settings.email_source)
        self.currency = currency.upper()
        return self

    @property
    def store(self) -> CrmStore:
        if self._store is None:
            raise RuntimeError("the CRM provider is not bound to a database yet")
        return self._store

    async def start(self) -> None:
        await self.store.ensure_indexes()

    def definitions(self) -> list[PropertyDefinition]:
        return properties.definitions(self.currency)

    async def resolve(
        self,
        subjects: Sequence[SubjectLike],
        keys: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The values of ``keys`` (every CRM key by default) for each subject, in order."""
        wanted = [
            k for k in (keys if keys is not None else properties.KEYS) if k in properties.KEYS
        ]
        if not wanted:
            return [{} for _ in subjects]
        with_companies = not COMPANY_KEYS.isdisjoint(wanted)
        out: list[dict[str, Any]] = []
        for start in range(0, len(subjects), BATCH):
            chunk = subjects[start : start + BATCH]
            matches = await self.store.match([s.subscriber_id for s in chunk], with_companies)
            for subject in chunk:
                contact = matches.contacts.get(subject.subscriber_id)
                company = (
                    matches.companies.get(contact.get("company_id") or "") if contact else None
                )
                values = properties.values(wanted, contact, company, self.currency)
                out.append({k: MISSING if v is None else v for k, v in values.items()})
        return out

    # --- import ----------------------------------------------------------------------------------

    def read_file(self, path: Path, kind: RecordKind | None) -> ParsedRecords:
        return read_records(path, kind, self.currency)

    async def write(
        self, parsed: ParsedRecords, progress: Callable[[int], None] | None = None
    ) -> dict[str, int]:
        return await write_records(self.store, parsed, progress)
