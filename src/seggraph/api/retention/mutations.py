"""``recordRetentionEvent``: the cancellation flow reports a save, a cancellation or a
reactivation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

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


@strawberry.input(description="A save, cancellation or reactivation to record.")
class RecordRetentionEventInput:
    subscriber_id: strawberry.ID = strawberry.field(
        description=f"The billing customer's id, trimmed (blank: BLANK; at most "
        f"{MAX_SUBJECT_ID} characters, else TOO_LONG); one billing does not know is refused "
        "(UNKNOWN_SUBSCRIBER)."
    )
    kind: RetentionKindEnum = strawberry.field(  # type: ignore[valid-type]
        description="What happened; SAVED needs offerId."
    )
    offer_id: str | None = strawberry.field(
        default=None,
        description="The offer accepted; required for SAVED (else BLANK), at most "
        f"{MAX_SUBJECT_ID} characters (else TOO_LONG).",
    )
    coupon_id: str | None = strawberry.field(
        default=None,
        description=f"The coupon that came with the offer, if any (at most {MAX_SUBJECT_ID} "
        "characters, else TOO_LONG).",
    )
    at: datetime | None = strawberry.field(
        default=None,
        description="When it happened (default: now); at most 5 minutes after the server's "
        "clock (else IN_FUTURE), and from 0001-01-02T00:00:00Z on, the first time that is a "
        "calendar day in every time zone (else OUT_OF_RANGE). Without an offset it is read in "
        "the account time zone. Stored "
        "and answered in UTC, cut to the millisecond: 2026-01-02T05:04:05.261474+02:00 is "
        "answered as 2026-01-02T03:04:05.261000+00:00.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A key of the client's choosing (such as a UUID), 1 to "
        f"{MAX_SUBJECT_ID} characters (else BLANK or TOO_LONG), that makes a retry safe: a call "
        "with a key an earlier call recorded writes nothing and answers that call's event "
        "(replayed true) when it asks for the same event (the same subscriberId, kind, "
        "offerId, couponId, and at given by both at the same millisecond or by neither), and "
        "is refused (IDEMPOTENCY_KEY_REUSED) when it asks for another. Keys are kept with "
        "their events, for every subscriber and in both modes.",
    )


@strawberry.type
class RetentionMutations:
    @strawberry.mutation(
        description="Record that a subscriber was saved by an offer, canceled, or reactivated. "
        "The billing properties follow the events (the latest being the one with the latest "
        "at): subscriber.status is SAVED or REACTIVATED when the latest event is of that kind, "
        "else ACTIVE, while a subscription is live, and CANCELED only when none is (the "
        "subscriptions decide it: a CANCELED event leaves ACTIVE); subscriber.active_offer_id "
        "and days_since_saved follow the latest SAVED event. No subscription is changed."
    )
    async def record_retention_event(
        self,
        info: Info,
        input: Annotated[RecordRetentionEventInput, strawberry.argument(description="The event.")],
    ) -> RecordRetentionEventPayload:
        try:
            event = await backend(info).record_retention_event(
                subscriber_id=str(input.subscriber_id),
                kind=str(input.kind),
                offer_id=input.offer_id,
                coupon_id=input.coupon_id,
                at=input.at,
                actor=info.context.actor,
                idempotency_key=input.idempotency_key,
            )
        except InputRefused as refused:
            return RecordRetentionEventPayload(user_errors=user_errors(list(refused.errors)))
        return RecordRetentionEventPayload(
            retention_event=RetentionEventNode.of(event), replayed=event.replayed
        )
