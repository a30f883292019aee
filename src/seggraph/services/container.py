"""Every service of a running process, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from seggraph.db import Database, IndexSpec
from seggraph.services.segments import SegmentService
from seggraph.settings import Settings
from seggraph.store import segments as segment_store


@dataclass
class Services:
    settings: Settings
    database: Database
    segments: SegmentService

    @classmethod
    def build(cls, settings: Settings, database: Database) -> Services:
        return cls(
            settings=settings,
            database=database,
            segments=SegmentService(segment_store.SegmentStore(database.db)),
        )


def all_indexes() -> list[IndexSpec]:
    """The indexes of every collection seggraph owns."""
    return [segment_store.INDEXES]
