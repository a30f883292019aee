"""The CDP provider: ingestion, and property values in batches. ``seggraph_cdp.plugin`` connects
it to seggraph's hooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from starlette.routing import Route

from seggraph.db import Database
from seggraph.domain.properties import PropertyDefinition
from seggraph.evaluation.values import MISSING
from seggraph.settings import read_settings
from seggraph_cdp import properties
from seggraph_cdp.messages import Limits, Message
from seggraph_cdp.properties import PROVIDER, ValueReader
from seggraph_cdp.routes import cdp_routes
from seggraph_cdp.settings import CdpSettings
from seggraph_cdp.store import CdpStore, EventStats, IngestResult, ProfileFull

log = logging.getLogger(__name__)
#: How often a request is tried when a profile it writes is created meanwhile (see ``ingest``).
INGEST_ATTEMPTS = 3
#: Seconds between two deletions of the events past the retention.
PRUNE_EVERY = 3600.0


class SubjectLike(Protocol):
    @property
    def subscriber_id(self) -> str: ...


def _utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class CdpProvider:
    """One per process; ``bind`` it to the database and the account settings before use."""

    name = PROVIDER

    def __init__(
        self, settings: CdpSettings | None = None, *, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.settings = settings or read_settings(CdpSettings)
        self.clock = clock
        self.zone: tzinfo = ZoneInfo("UTC")
        self.currency = "USD"
        self._store: CdpStore | None = None
        self._database: Database | None = None
        self._reader = self._make_reader()
        self._upkeep: asyncio.Task[None] | None = None

    def _make_reader(self) -> ValueReader:
        return ValueReader(
            self.settings.trait_declarations,
            self.settings.event_names,
            zone=self.zone,
            currency=self.currency,
        )

    def bind(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        database: Database | None = None,
        zone: tzinfo | str = "UTC",
        currency: str = "USD",
        clock: Callable[[], datetime] | None = None,
    ) -> CdpProvider:
        self._store = CdpStore(db, max_traits=self.settings.max_traits)
        self._database = database
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.currency = currency.upper()
        if clock is not None:
            self.clock = clock
        self._reader = self._make_reader()
        return self

    @property
    def store(self) -> CdpStore:
        if self._store is None:
            raise RuntimeError("the CDP provider is not bound to a database yet")
        return self._store

    async def start(self) -> None:
        retention = self.settings.event_retention_days
        await self.store.ensure_indexes(retention=retention is not None)
        if self.settings.write_key is None:
            log.warning("SEGGRAPH_CDP_WRITE_KEY is not set: /cdp/v1/* refuses every request")
        if not await self.store.check_latest() or retention is not None:
            self._upkeep = asyncio.create_task(self.upkeep(), name="cdp-upkeep")

    async def stop(self) -> None:
        """Stop the upkeep (a build or a deletion under way is cancelled; either is taken up
        again at the next start)."""
        task, self._upkeep = self._upkeep, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def upkeep(self) -> None:
        """In the background (started by :meth:`start` when there is something to do): a turn
        of :meth:`upkeep_once` now and, with a retention set, every :data:`PRUNE_EVERY`
        seconds. A turn that fails is logged and tried again at the next."""
        while True:
            try:
                await self.upkeep_once()
            except Exception:  # kept running: the next turn tries again
                log.exception("CDP upkeep failed; trying again in %.0f s", PRUNE_EVERY)
            else:
                if self.settings.event_retention_days is None:
                    return
            await asyncio.sleep(PRUNE_EVERY)

    async def upkeep_once(self) -> None:
        """Fill ``cdp_event_latest`` from the events if this process does not know it complete
        (once, after an upgrade), then, with a retention set, delete the events past it.
        Nothing is deleted before the latest times are complete."""
        store = self.store
        if not store.latest_complete:
            log.info("CDP: keeping each event's latest time, from the events stored so far")
            pairs = await store.build_latest()
            log.info("CDP: the latest times of %d (subscriber, event) pairs kept", pairs)
        retention = self.settings.event_retention_days
        if retention is not None:
            deleted = await store.prune(self.clock() - timedelta(days=retention))
            if deleted:
                log.info("CDP: %d events older than %d days deleted", deleted, retention)

    def definitions(self) -> list[PropertyDefinition]:
        return properties.definitions(
            self.settings.trait_declarations, self.settings.event_names, self.currency
        )

    # --- ingestion (the routes' Ingestor) ---------------------------------------------------------

    def write_key(self) -> str | None:
        key = self.settings.write_key
        return key.get_secret_value() if key is not None else None

    def max_body_bytes(self) -> int:
        return self.settings.max_body_bytes

    def now(self) -> datetime:
        return self.clock()

    def limits(self) -> Limits:
        return self.settings.limits

    async def ingest(self, messages: list[Message], received_at: datetime) -> IngestResult:
        """Store the request, in a transaction where there is one. A request that would take a
        profile past ``SEGGRAPH_CDP_MAX_TRAITS`` raises
        :class:`~seggraph_cdp.messages.BadMessage` (and its transaction stores nothing).
        A profile found full is told from one created by a concurrent request, which another
        attempt settles (:meth:`CdpStore.refusal`)."""
        store = self.store
        for _attempt in range(INGEST_ATTEMPTS):
            try:
                if self._database is None:
                    return await store.ingest(messages, received_at)
                return await self._database.run_atomically(
                    lambda session: store.ingest(messages, received_at, session)
                )
            except ProfileFull as full:
                refusal = await store.refusal(full)
                if refusal is not None:
                    raise refusal from None
        raise RuntimeError(
            f"could not store the request: its profiles kept changing ({INGEST_ATTEMPTS} tries)"
        )

    def routes(self) -> list[Route]:
        return cdp_routes(self)

    # --- values ----------------------------------------------------------------------------------

    async def resolve(
        self,
        subjects: Sequence[SubjectLike],
        keys: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The values of ``keys`` (every CDP key by default) for each subject, in order: one
        query on the profiles and, when event keys are asked, beside it the aggregations of
        :meth:`CdpStore.event_stats` on the events (as many for any number of subjects)."""
        known = {d.key for d in self.definitions()}
        wanted = [k for k in (keys if keys is not None else known) if k in known]
        if not subjects or not wanted:
            return [{} for _ in subjects]
        moment = now or self.clock()
        ids = list(dict.fromkeys(s.subscriber_id for s in subjects))
        events = sorted(
            {found[0] for key in wanted if (found := self._reader.event_for(key)) is not None}
        )
        traits = {t.trait for key in wanted if (t := self._reader.traits.get(key)) is not None}
        profiles_query = self.store.load_profiles(ids, sorted(traits))
        if events:
            profiles, stats = await asyncio.gather(
                profiles_query,
                self.store.event_stats(ids, events, moment - properties.WINDOW),
            )
        else:
            profiles, stats = await profiles_query, {}
        per_user: dict[str, dict[str, EventStats]] = {}
        for (user, event), found in stats.items():
            per_user.setdefault(user, {})[event] = found
        out = []
        for subject in subjects:
            values = self._reader.values(
                wanted,
                profiles.get(subject.subscriber_id),
                per_user.get(subject.subscriber_id, {}),
                moment,
            )
            out.append({k: MISSING if v is None else v for k, v in values.items()})
        return out
