"""Segment mutations: they validate first, write nothing when refused, and return userErrors."""

from __future__ import annotations

import strawberry

from seggraph.api.context import Info
from seggraph.api.errors import UserErrorType, user_errors
from seggraph.api.segments.types import SegmentType
from seggraph.domain.errors import InputRefused


@strawberry.input
class CreateSegmentInput:
    name: str
    description: str = ""
    tags: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class SegmentPayload:
    segment: SegmentType | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description="Create a segment.")
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        try:
            segment = await info.context.services.segments.create(
                name=input.name, description=input.description, tags=input.tags
            )
        except InputRefused as refused:
            return SegmentPayload(user_errors=user_errors(list(refused.errors)))
        return SegmentPayload(segment=SegmentType.of(segment))
