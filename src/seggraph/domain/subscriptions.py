"""The spec's primary subscription, shared by every provider that reads Stripe-shaped
subscriptions (the billing provider, and custom properties that describe a subscription), so
that they cannot pick different ones for the same subscriber.

A subscriber's primary subscription is the most recently ``created`` one that is not canceled
(``canceled`` or ``incomplete_expired``), else the most recently created one; ties go to the
greatest subscription id. ``created`` is what the billing provider stores: Stripe's Unix
seconds, or an ISO 8601 date-time (imports may write one), or a ``datetime``. A ``created``
that is there but is no time (milliseconds, text) is no guess: when the choice turns on it,
which subscription is primary is not known (:class:`PrimaryNotKnown`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

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


def primary_note(subscription_id: Any, count: int) -> str:
    """The note on a value read from the primary subscription, when none was named and the
    subscriber has several: which one was read (the same words from every provider)."""
    return (
        f"read subscription {subscription_id}, the primary one of the subscriber's {count} "
        "(no subscriptionId was given)"
    )


class PrimaryNotKnown(ValueError):
    """Which subscription is primary is not known: it turns on a ``created`` that is there but
    is no time."""


def pick_primary(candidates: Iterable[T], read: Callable[[T], tuple[Any, Any, Any]]) -> T | None:
    """The primary subscription of ``candidates`` (``read`` gives one's status, ``created`` and
    id), None when there are none. :class:`PrimaryNotKnown` when one of those it is chosen
    among (the live ones, or all when none is live) has a ``created`` that is there but is no
    time: ranked as the oldest it was passed over, so every subscription value read another
    subscription's by a guess."""
    ranked = [(primary_rank(*read(candidate)), candidate) for candidate in candidates]
    if not ranked:
        return None
    best_rank, best = max(ranked, key=lambda pair: pair[0])
    among = [candidate for rank, candidate in ranked if rank[0] == best_rank[0]]
    if len(among) > 1:
        for candidate in among:
            _, created, ident = read(candidate)
            if created is not None and stripe_moment(created) is None:
                shown = repr(created)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                raise PrimaryNotKnown(
                    f"created of subscription {ident!r} is {shown}: not a Unix timestamp in "
                    "seconds (nor an ISO 8601 date-time), so which subscription is the primary "
                    "one is not known"
                )
    return best
