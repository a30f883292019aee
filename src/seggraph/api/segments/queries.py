"""Segment queries. Each reads the request's mode only."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

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
from seggraph.api.subjects import given_id
from seggraph.services.segments import MAX_TAG, MAX_TAGS
from seggraph.store.segments import SegmentFilter


@strawberry.enum(description="How SegmentFilterInput.tags select segments.")
class TagMatch(Enum):
    ANY = strawberry.enum_value("ANY", description="Segments carrying at least one of the tags.")
    ALL = strawberry.enum_value("ALL", description="Segments carrying every one of the tags.")


@strawberry.enum(description="Which segments to list by whether they are archived.")
class ArchivedFilter(Enum):
    ACTIVE = strawberry.enum_value("ACTIVE", description="Segments not archived (the default).")
    ARCHIVED = strawberry.enum_value("ARCHIVED", description="Archived segments only.")
    ALL = strawberry.enum_value("ALL", description="Both.")


@strawberry.input(description="Which segments to list. Every filter is served by an index.")
class SegmentFilterInput:
    tags: list[str] = strawberry.field(
        default_factory=list,
        description=f"Tags to match, case-insensitively: at most {MAX_TAGS} (else TOO_MANY), "
        f"each at most {MAX_TAG} characters (else TOO_LONG); empty: any segment.",
    )
    tag_match: TagMatch = strawberry.field(
        default=TagMatch.ANY, description="ANY: at least one of the tags; ALL: every tag."
    )
    search: str = strawberry.field(
        default="",
        description="Words (at most 200 characters, in composed form, NFC, as names are kept) "
        "each matched, case-insensitively, against the start of a word of the name or "
        "description; empty: any segment.",
    )
    archived: ArchivedFilter = strawberry.field(
        default=ArchivedFilter.ACTIVE, description="Archived or not; default ACTIVE."
    )


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="One segment of the request's mode by id, or null.")
    @direct
    async def segment(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The segment's id (archived segments included)."),
        ],
    ) -> SegmentType | None:
        segment = await info.context.services.segments.get(info.context.mode, given_id(id))
        return SegmentType.of(segment) if segment else None

    @strawberry.field(
        description="The request's mode's segments, newest (by createdAt) first, with Relay "
        "cursor pagination."
    )
    async def segments(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(
                description="How many segments on the page: 0 to 100, default 20 (else "
                "OUT_OF_RANGE)."
            ),
        ] = 20,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="The endCursor of the previous page (or an edge's cursor); "
                "omitted: from the newest. A cursor of the other mode or malformed is refused "
                "(INVALID_CURSOR)."
            ),
        ] = None,
        filter: Annotated[
            SegmentFilterInput | None,
            strawberry.argument(description="Which segments; omitted: every active one."),
        ] = None,
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
                # An empty page (first: 0, or past the last) ends where it began: its after,
                # so a client continuing from endCursor never starts over from the newest.
                end_cursor=edges[-1].cursor if edges else after,
            ),
            total_count=page.total_count,
        )

    @strawberry.field(
        description="Every tag of the mode's segments with how many carry it, most used first "
        "(then alphabetically)."
    )
    async def tags(
        self,
        info: Info,
        include_archived: Annotated[
            bool,
            strawberry.argument(description="Count archived segments too; default false."),
        ] = False,
    ) -> list[TagCount]:
        rows = await info.context.services.segments.tags(info.context.mode, include_archived)
        return [TagCount(tag=tag, count=count) for tag, count in rows]
