"""The segment aggregate as the services see it (no Mongo documents, no GraphQL types)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
