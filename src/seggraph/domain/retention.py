"""Retention events: a subscriber saved by an offer, canceled, or reactivated.

The cancellation flow records them through the GraphQL API (``recordRetentionEvent``); the
billing provider keeps them and derives ``subscriber.status``, ``subscriber.active_offer_id`` and
``subscriber.days_since_saved`` from them. The API reaches the provider through
:class:`RetentionBackend`, which the bundled billing provider registers on the services when it
starts, so the core never imports a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class RetentionKind(StrEnum):
    #: The subscriber accepted a retention offer (with its offer id, and a coupon id if any).
    SAVED = "SAVED"
    #: The subscriber went through with the cancellation.
    CANCELED = "CANCELED"
    #: A canceled subscriber came back.
    REACTIVATED = "REACTIVATED"


@dataclass(frozen=True, slots=True)
class RetentionEvent:
    id: str
    subscriber_id: str
    kind: RetentionKind
    at: datetime
    """When it happened (what "latest" and "days since" read)."""
    recorded_at: datetime
    """When it was recorded (breaks ties on ``at``: the one recorded last wins)."""
    offer_id: str | None = None
    coupon_id: str | None = None
    actor: str | None = None
    idempotency_key: str | None = None
    """The client's key for this event: a second call with it records nothing."""
    replayed: bool = False
    """Answered for an idempotency key an earlier call recorded: this call wrote nothing."""


class RetentionBackend(Protocol):
    """What the GraphQL API needs from the provider that keeps retention events."""

    async def record_retention_event(
        self,
        *,
        subscriber_id: str,
        kind: str,
        offer_id: str | None,
        coupon_id: str | None,
        at: datetime | None,
        actor: str | None,
        idempotency_key: str | None = None,
    ) -> RetentionEvent:
        """Validate and store one event; raises
        :class:`~seggraph.domain.errors.InputRefused` (nothing written) when refused.

        With an ``idempotency_key`` an earlier call recorded, nothing is written: the event
        that call recorded is answered (``replayed``) when this call asks for the same event,
        and the key is refused (``IDEMPOTENCY_KEY_REUSED``) when it asks for another."""
        ...

    async def retention_events(self, subscriber_id: str, limit: int) -> list[RetentionEvent]:
        """A subscriber's events, latest first (by ``at``, then by recording)."""
        ...
