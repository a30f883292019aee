"""Segment queries."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from seggraph.api.context import Info
from seggraph.api.segments.types import PageInfo, SegmentConnection, SegmentEdge, SegmentType
from seggraph.domain.errors import InputRefused
from seggraph.store.pagination import BadCursor


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="One segment by id, or null when there is none.")
    async def segment(self, info: Info, id: strawberry.ID) -> SegmentType | None:
        segment = await info.context.services.segments.get(str(id))
        return SegmentType.of(segment) if segment else None

    @strawberry.field(description="Segments, newest first, with Relay cursor pagination.")
    async def segments(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> SegmentConnection:
        try:
            page = await info.context.services.segments.page(first=first, after=after)
        except (InputRefused, BadCursor) as exc:
            raise GraphQLError(str(exc)) from exc
        edges = [SegmentEdge(cursor=c, node=SegmentType.of(s)) for c, s in page.edges]
        return SegmentConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )
