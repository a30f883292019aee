"""Every service of a running process, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from seggraph.catalogue import Catalogue
from seggraph.db import Database, IndexSpec
from seggraph.services.segments import SegmentService
from seggraph.settings import Settings
from seggraph.store import segments as segment_store
from seggraph.validation.conditions import TreeLimits


@dataclass
class Services:
    settings: Settings
    database: Database
    segments: SegmentService = field(init=False)
    catalogue: Catalogue = field(default_factory=Catalogue)
    """The current snapshot; replaced (never mutated) when providers' definitions change."""

    def __post_init__(self) -> None:
        self.segments = SegmentService(
            self.database,
            segment_store.SegmentStore(self.database.db),
            lambda: self.catalogue,
            currency=self.settings.currency,
            limits=TreeLimits(
                max_depth=self.settings.max_condition_depth,
                max_conditions=self.settings.max_conditions,
            ),
        )

    @classmethod
    def build(
        cls, settings: Settings, database: Database, catalogue: Catalogue | None = None
    ) -> Services:
        return cls(settings=settings, database=database, catalogue=catalogue or Catalogue())


def all_indexes() -> list[IndexSpec]:
    """The indexes of every collection seggraph owns."""
    return [*segment_store.INDEXES]
