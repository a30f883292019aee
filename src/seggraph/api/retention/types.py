"""GraphQL types of retention events."""

from __future__ import annotations

from datetime import datetime

import strawberry

from seggraph.api.errors import UserErrorType
from seggraph.domain import retention as dr

RetentionKindEnum = strawberry.enum(
    dr.RetentionKind,
    name="RetentionEventKind",
    description="SAVED: accepted a retention offer; CANCELED: went through with the "
    "cancellation; REACTIVATED: came back.",
)


@strawberry.type(
    name="RetentionEvent",
    description="A save, cancellation or reactivation recorded by the cancellation flow.",
)
class RetentionEventNode:
    id: strawberry.ID
    subscriber_id: strawberry.ID
    kind: RetentionKindEnum  # type: ignore[valid-type]
    offer_id: str | None = strawberry.field(description="The offer accepted (a save).")
    coupon_id: str | None = strawberry.field(description="The coupon that came with the offer.")
    at: datetime = strawberry.field(description="When it happened.")
    recorded_at: datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def of(cls, event: dr.RetentionEvent) -> RetentionEventNode:
        return cls(
            id=strawberry.ID(event.id),
            subscriber_id=strawberry.ID(event.subscriber_id),
            kind=event.kind,
            offer_id=event.offer_id,
            coupon_id=event.coupon_id,
            at=event.at,
            recorded_at=event.recorded_at,
        )


@strawberry.type
class RecordRetentionEventPayload:
    retention_event: RetentionEventNode | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
