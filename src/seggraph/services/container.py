"""Every service of a running process, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from seggraph.catalogue import Catalogue
from seggraph.db import Database, IndexSpec
from seggraph.evaluation import EvaluationOptions, SegmentCompiler
from seggraph.freshness import FreshnessBoard, using_snapshot
from seggraph.plugins.manager import PluginManager
from seggraph.services.api_keys import ApiKeyService
from seggraph.services.counts import CountsUnderWay
from seggraph.services.evaluation import (
    EvaluationService,
    PreparedSets,
    RequestValueSource,
    WalkAnswer,
)
from seggraph.services.properties import PropertyBatcher, PropertyResolver
from seggraph.services.segments import SegmentService
from seggraph.services.walk_slots import FairSlots
from seggraph.settings import Settings
from seggraph.store import api_keys as api_key_store
from seggraph.store import segments as segment_store
from seggraph.validation.conditions import TreeLimits

if TYPE_CHECKING:
    from seggraph.domain.custom_properties import CustomPropertiesBackend
    from seggraph.domain.retention import RetentionBackend

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    database: Database
    segments: SegmentService = field(init=False)
    catalogue: Catalogue = field(default_factory=Catalogue)
    """The current snapshot; replaced (never mutated) when providers' definitions change."""
    plugins: PluginManager = field(default_factory=PluginManager.empty)
    """The providers (set in the app's lifespan)."""
    properties: PropertyResolver = field(init=False)
    compiler: SegmentCompiler = field(default_factory=SegmentCompiler)
    """Compiled segment versions, shared by every request of the process."""
    prepared_sets: PreparedSets = field(default_factory=PreparedSets)
    """Segment sets prepared for evaluation, shared likewise."""
    counts_under_way: CountsUnderWay[WalkAnswer] = field(default_factory=CountsUnderWay)
    """Member counts being made, which another request asking for the same count joins."""
    custom_properties: CustomPropertiesBackend | None = None
    """The custom properties provider's definitions and values (set by it at start-up), for
    the GraphQL API; ``None`` when it is not installed."""
    retention: RetentionBackend | None = None
    """Where retention events are kept (the billing provider sets it at start-up), for the
    GraphQL API; ``None`` when no provider keeps them."""
    freshness_checks: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    """Run at the start of each GraphQL request, before its operation
    (:meth:`begin_request`). A provider whose definitions another worker process can change
    registers one cheap check here that, when they changed, refreshes them (and so the
    catalogue) in this process."""
    api_keys: ApiKeyService = field(init=False)
    """API keys: created and revoked by the CLI, checked on every GraphQL request."""
    freshness: FreshnessBoard = field(init=False)
    """The documents read together, once per GraphQL request that asks for one
    (:mod:`seggraph.freshness`): the segments' write tokens and whatever a provider
    :meth:`~FreshnessBoard.watch`-es."""
    walk_slots: FairSlots = field(init=False)
    """Walks over the whole subscriber directory running at once (``SEGGRAPH_BULK_CONCURRENCY``),
    the waiting ones served fairly between clients (:mod:`seggraph.services.walk_slots`)."""

    def __post_init__(self) -> None:
        self.walk_slots = FairSlots(self.settings.bulk_concurrency)
        self.freshness = FreshnessBoard(
            self.database.db, self.database.operation_timeout, self.database.health
        )
        self.api_keys = ApiKeyService(
            api_key_store.ApiKeyStore(self.database.db),
            cache_seconds=self.settings.api_key_cache_seconds,
            lookup_timeout=self.database.operation_timeout,
        )
        self.properties = PropertyResolver(lambda: self.plugins, lambda: self.catalogue)
        self.segments = SegmentService(
            self.database,
            segment_store.SegmentStore(
                self.database.db, self.freshness, self.database.operation_timeout
            ),
            lambda: self.catalogue,
            currency=self.settings.currency,
            zone=self.settings.zone,
            limits=TreeLimits(
                max_depth=self.settings.max_condition_depth,
                max_conditions=self.settings.max_conditions,
            ),
            refresh_catalogue=self.refresh_catalogue_now,
        )

    def begin_request(self) -> asyncio.Future[None]:
        """Give the current request its snapshot of the watched documents
        (:mod:`seggraph.freshness`, read when first asked for) and start the freshness checks
        without waiting for them: the future of their end (already done when there are
        none). The request's operation runs once they are done (the executor waits for
        :attr:`~seggraph.api.context.Context.fresh`), after it has started the reads it will
        need (:mod:`seggraph.api.prefetch`)."""
        self.freshness.begin_request()
        if self.freshness_checks:
            return asyncio.ensure_future(self.ensure_fresh())
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def ensure_fresh(self) -> None:
        """Run the freshness checks (an HTTP request's through :meth:`begin_request`, after
        its snapshot is given). A failing check is logged and the request goes on."""
        for check in self.freshness_checks:
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - a stale catalogue beats a failed request
                log.warning("catalogue freshness check failed: %s", exc)

    async def refresh_catalogue_now(self) -> None:
        """Run the freshness checks against the database as it is now, not as the current
        request's snapshot had it when the request began (a write checking what it saved)."""
        with using_snapshot(None):
            await self.ensure_fresh()

    @cached_property
    def evaluation_options(self) -> EvaluationOptions:
        """Made once: every question's compiled segments and prepared sets are kept by them
        (the settings do not change while the process runs)."""
        return EvaluationOptions(timezone=self.settings.zone, currency=self.settings.currency)

    def evaluation_for(self, batcher: PropertyBatcher, walk_owner: Hashable) -> EvaluationService:
        """Query-time evaluation for one request, around that request's batcher; its walks
        hold the process's walk slots as ``walk_owner``'s (its client: the API key's id, or
        the actor)."""
        return EvaluationService(
            self.segments,
            RequestValueSource(
                batcher, self.properties, self.settings.bulk_provider_timeout_seconds
            ),
            lambda: self.catalogue,
            self.evaluation_options,
            self.compiler,
            pushdown=self.settings.pushdown,
            walk_slots=self.walk_slots,
            walk_owner=walk_owner,
            prepared_sets=self.prepared_sets,
            counts_under_way=self.counts_under_way,
        )

    @classmethod
    def build(
        cls, settings: Settings, database: Database, catalogue: Catalogue | None = None
    ) -> Services:
        return cls(settings=settings, database=database, catalogue=catalogue or Catalogue())


def all_indexes() -> list[IndexSpec]:
    """The indexes of every collection seggraph owns."""
    return [*segment_store.INDEXES, *api_key_store.INDEXES]
