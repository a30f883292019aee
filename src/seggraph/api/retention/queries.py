"""``retentionEvents``: a subscriber's recorded saves, cancellations and reactivations."""

from __future__ import annotations

import strawberry

from seggraph.api.context import Info
from seggraph.api.retention.backend import backend_or_none
from seggraph.api.retention.types import RetentionEventNode
from seggraph.api.subjects import check_id

MAX_EVENTS = 500


@strawberry.type
class RetentionQueries:
    @strawberry.field(description="A subscriber's retention events, latest first.")
    async def retention_events(
        self, info: Info, subscriber_id: strawberry.ID, first: int = 20
    ) -> list[RetentionEventNode]:
        check_id("subscriberId", subscriber_id)
        found = backend_or_none(info)
        if found is None:
            return []
        limit = max(0, min(first, MAX_EVENTS))
        events = await found.retention_events(str(subscriber_id), limit)
        return [RetentionEventNode.of(event) for event in events]
