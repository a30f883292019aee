"""GraphQL types of segments."""

from __future__ import annotations

from datetime import datetime

import strawberry

from seggraph.domain.segments import Segment


@strawberry.type(
    name="Segment", description="A named, tagged set of conditions over subscriber properties."
)
class SegmentType:
    id: strawberry.ID
    name: str
    description: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, segment: Segment) -> SegmentType:
        return cls(
            id=strawberry.ID(segment.id),
            name=segment.name,
            description=segment.description,
            tags=list(segment.tags),
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SegmentEdge:
    cursor: str
    node: SegmentType


@strawberry.type
class SegmentConnection:
    edges: list[SegmentEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[SegmentType]:
        return [edge.node for edge in self.edges]
