"""Who a property value is asked for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """A subscriber (a billing customer, by id) and, optionally, one of its subscriptions.

    With no ``subscription_id`` the subscriber's primary subscription is meant (see the
    property spec); providers decide what that is for their own data. Hashable, so it keys the
    mappings a provider returns.
    """

    subscriber_id: str
    subscription_id: str | None = None
