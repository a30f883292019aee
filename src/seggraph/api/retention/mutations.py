"""``recordRetentionEvent``: the cancellation flow reports a save, a cancellation or a
reactivation."""

from __future__ import annotations

from datetime import datetime

import strawberry

from seggraph.api.context import Info
from seggraph.api.errors import user_errors
from seggraph.api.retention.backend import backend
from seggraph.api.retention.types import (
    RecordRetentionEventPayload,
    RetentionEventNode,
    RetentionKindEnum,
)
from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph.domain.errors import InputRefused


@strawberry.input
class RecordRetentionEventInput:
    subscriber_id: strawberry.ID = strawberry.field(description="The billing customer's id.")
    kind: RetentionKindEnum  # type: ignore[valid-type]
    offer_id: str | None = strawberry.field(
        default=None,
        description=f"The offer accepted; required for SAVED (at most {MAX_SUBJECT_ID} "
        "characters).",
    )
    coupon_id: str | None = strawberry.field(
        default=None,
        description=f"The coupon that came with the offer, if any (at most {MAX_SUBJECT_ID} "
        "characters).",
    )
    at: datetime | None = strawberry.field(
        default=None,
        description="When it happened (default: now; not in the future). Without an offset it "
        "is read in the account time zone. Kept (and answered) to the millisecond.",
    )


@strawberry.type
class RetentionMutations:
    @strawberry.mutation(
        description="Record that a subscriber was saved by an offer, canceled, or reactivated "
        "(subscriber.status, active_offer_id and days_since_saved follow the latest)."
    )
    async def record_retention_event(
        self, info: Info, input: RecordRetentionEventInput
    ) -> RecordRetentionEventPayload:
        try:
            event = await backend(info).record_retention_event(
                subscriber_id=str(input.subscriber_id),
                kind=str(input.kind),
                offer_id=input.offer_id,
                coupon_id=input.coupon_id,
                at=input.at,
                actor=info.context.actor,
            )
        except InputRefused as refused:
            return RecordRetentionEventPayload(user_errors=user_errors(list(refused.errors)))
        return RecordRetentionEventPayload(retention_event=RetentionEventNode.of(event))
