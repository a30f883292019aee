"""GraphQL types of retention events."""

from __future__ import annotations

from datetime import datetime

import strawberry

from seggraph.api.enums import described_enum
from seggraph.api.errors import UserErrorType
from seggraph.api.segments.types import USER_ERRORS
from seggraph.domain import retention as dr

RetentionKindEnum = described_enum(
    dr.RetentionKind,
    name="RetentionEventKind",
    description="What the cancellation flow saw happen.",
    values={
        "SAVED": "Accepted a retention offer (offerId) instead of canceling.",
        "CANCELED": "Went through with the cancellation.",
        "REACTIVATED": "Came back after canceling.",
    },
)


@strawberry.type(
    name="RetentionEvent",
    description="A save, cancellation or reactivation recorded by the cancellation flow.",
)
class RetentionEventNode:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    subscriber_id: strawberry.ID = strawberry.field(description="The billing customer's id.")
    kind: RetentionKindEnum = strawberry.field(  # type: ignore[valid-type]
        description="What happened."
    )
    offer_id: str | None = strawberry.field(description="The offer accepted (a save).")
    coupon_id: str | None = strawberry.field(description="The coupon that came with the offer.")
    at: datetime = strawberry.field(
        description="When it happened (UTC, to the millisecond): the latest by at is the one "
        "the subscriber.* properties follow."
    )
    recorded_at: datetime = strawberry.field(
        description="When it was recorded (UTC, to the millisecond)."
    )
    idempotency_key: str | None = strawberry.field(
        description="The idempotencyKey it was recorded with, if any."
    )

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
            idempotency_key=event.idempotency_key,
        )


@strawberry.type(description="The result of recordRetentionEvent.")
class RecordRetentionEventPayload:
    retention_event: RetentionEventNode | None = strawberry.field(
        default=None, description="The event as stored; null when refused."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )
    replayed: bool = strawberry.field(
        default=False,
        description="True when the input's idempotencyKey named an event recorded before: "
        "that event is answered and this call wrote nothing.",
    )
