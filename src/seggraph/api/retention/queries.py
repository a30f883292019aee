"""``retentionEvents``: a subscriber's recorded saves, cancellations and reactivations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from seggraph.api.context import Info
from seggraph.api.deadlines import read_deadline
from seggraph.api.retention.backend import backend_or_none
from seggraph.api.retention.types import RetentionEventNode
from seggraph.api.subjects import check_id
from seggraph.domain.errors import check_first

MAX_EVENTS = 500


@strawberry.type
class RetentionQueries:
    @strawberry.field(
        description=f"A subscriber's retention events, latest first; first is 0..{MAX_EVENTS}."
    )
    async def retention_events(
        self,
        info: Info,
        subscriber_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The billing customer's id, at most 256 characters (else TOO_LONG)."
            ),
        ],
        first: Annotated[
            int,
            strawberry.argument(
                description=f"At most this many events: 0 to {MAX_EVENTS}, default 20 (else "
                "OUT_OF_RANGE)."
            ),
        ] = 20,
    ) -> list[RetentionEventNode]:
        subscriber = check_id("subscriberId", subscriber_id)
        check_first(first, MAX_EVENTS)
        found = backend_or_none(info)
        if found is None:
            return []
        with read_deadline(info):
            events = await found.retention_events(subscriber, first)
        return [RetentionEventNode.of(event) for event in events]
