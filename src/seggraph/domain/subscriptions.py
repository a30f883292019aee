"""The spec's primary subscription, shared by every provider that reads Stripe-shaped
subscriptions (the billing provider, and custom properties that describe a subscription), so
that they cannot pick different ones for the same subscriber.

A subscriber's primary subscription is the most recently ``created`` one that is not canceled
(``canceled`` or ``incomplete_expired``), else the most recently created one; ties go to the
greatest subscription id. ``created`` is what the billing provider stores: Stripe's Unix
seconds, or an ISO 8601 date-time (imports may write one), or a ``datetime``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CANCELED_STATUSES = frozenset({"canceled", "incomplete_expired"})

#: Before every real ``created`` (a subscription without one ranks below those with one).
_NEVER = datetime.min.replace(tzinfo=UTC)


def stripe_moment(value: Any) -> datetime | None:
    """A Stripe timestamp (Unix seconds), a ``datetime`` (naive = UTC) or an ISO string (no
    offset = UTC); None for anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # beyond the years a datetime holds
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def primary_rank(status: Any, created: Any, subscription_id: Any) -> tuple[bool, datetime, str]:
    """A subscription's rank: the primary subscription has the greatest."""
    return (
        status not in CANCELED_STATUSES,
        stripe_moment(created) or _NEVER,
        str(subscription_id or ""),
    )
