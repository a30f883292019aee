"""Segment queries. Each reads the request's mode only."""

from __future__ import annotations

from enum import Enum

import strawberry

from seggraph.api.context import Info
from seggraph.api.direct import direct
from seggraph.api.segments.types import (
    PageInfo,
    SegmentConnection,
    SegmentEdge,
    SegmentType,
    TagCount,
)
from seggraph.store.segments import SegmentFilter


@strawberry.enum
class TagMatch(Enum):
    ANY = "ANY"
    ALL = "ALL"


@strawberry.enum
class ArchivedFilter(Enum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    ALL = "ALL"


@strawberry.input(description="Which segments to list. Every filter is served by an index.")
class SegmentFilterInput:
    tags: list[str] = strawberry.field(
        default_factory=list, description="Tags to match, case-insensitively."
    )
    tag_match: TagMatch = strawberry.field(
        default=TagMatch.ANY, description="ANY: at least one of the tags; ALL: every tag."
    )
    search: str = strawberry.field(
        default="",
        description="Words matched against the start of words in the name and description.",
    )
    archived: ArchivedFilter = ArchivedFilter.ACTIVE


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="One segment of the request's mode by id, or null.")
    @direct
    async def segment(self, info: Info, id: strawberry.ID) -> SegmentType | None:
        segment = await info.context.services.segments.get(info.context.mode, str(id))
        return SegmentType.of(segment) if segment else None

    @strawberry.field(description="Segments, newest first, with Relay cursor pagination.")
    async def segments(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        filter: SegmentFilterInput | None = None,
    ) -> SegmentConnection:
        wanted = filter or SegmentFilterInput()
        segment_filter = SegmentFilter(
            tags=tuple(wanted.tags),
            all_tags=wanted.tag_match is TagMatch.ALL,
            search=wanted.search,
            archived={ArchivedFilter.ACTIVE: False, ArchivedFilter.ARCHIVED: True}.get(
                wanted.archived
            ),
        )
        page = await info.context.services.segments.page(
            info.context.mode, segment_filter, first=first, after=after
        )
        edges = [SegmentEdge(cursor=c, node=SegmentType.of(s)) for c, s in page.edges]
        return SegmentConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )

    @strawberry.field(description="Every tag of the mode's segments with how many carry it.")
    async def tags(self, info: Info, include_archived: bool = False) -> list[TagCount]:
        rows = await info.context.services.segments.tags(info.context.mode, include_archived)
        return [TagCount(tag=tag, count=count) for tag, count in rows]
