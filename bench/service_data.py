"""Data for the service stages: the synthetic subscribers as Stripe-shaped billing objects and
support tickets, the segments to create, and the member counts those must give.

The billing provider derives its properties from Stripe objects (``spec/properties.md``), so
each synthetic subscriber becomes a customer with at most one subscription, shaped so that the
derivation gives back exact values: four shared prices whose normalised monthly amount is one
cent, and the MRR in cents as the item's quantity. ``expected_*`` recompute, from the same
subscribers and that derivation, which of them each segment must select: the service's counts
are checked against them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from .workload import SEED, Subscriber

#: Per plan interval: (Stripe interval, unit amount, interval count) normalising to 1 cent a
#: month (day: x365/12, week: x52/12, month: x1, year: /12; then / interval count).
_PRICE_SHAPES = {
    "DAY": ("day", 12, 365),
    "WEEK": ("week", 12, 52),
    "MONTH": ("month", 1, 1),
    "YEAR": ("year", 12, 1),
}
_CREATED = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())

#: The segment of the service stages: the core stage's, less the CRM and CDP conditions (their
#: providers would need data sets of their own), over billing properties only.
BILLING_SEGMENT = (
    'subscriber.mrr > 100 AND plan.interval IN ("MONTH", "YEAR") AND '
    '(subscriber.status = "SAVED" OR subscription.is_free_trial IS FALSE) AND '
    'subscription.next_billing_date BEFORE "2026-07-01"'
)
#: A segment every provider of which translates to a database query (support ticket tags).
TAGS_SEGMENT = 'support.tags CONTAINS ANY ("billing", "churn-risk")'
#: Pushed down too, with fewer candidates (under 5,000 of 100,000 subscribers), so the answer
#: is kept to the directory by ``$in`` chunks rather than by reading the directory's ids.
BOTH_TAGS_SEGMENT = (
    'support.tags CONTAINS ANY ("billing") AND support.tags CONTAINS ANY ("churn-risk")'
)
_TAGS = ("billing", "bug", "feature-request", "churn-risk", "vip", "onboarding")


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def _interval(s: Subscriber) -> str:
    return s.interval or "MONTH"  # a plan always has an interval


def billing_objects(population: Sequence[Subscriber]) -> Iterator[dict[str, Any]]:
    """Products, prices, then per subscriber a customer and (when it has an MRR) one
    subscription: trialing when on a free trial, canceled when its status is CANCELED; without
    a next billing date it is set to cancel at the period end (so it will not renew)."""
    yield {"object": "product", "id": "prod_bench", "name": "Bench plan"}
    for currency in ("usd", "eur"):
        for name, (interval, amount, count) in _PRICE_SHAPES.items():
            yield {
                "object": "price",
                "id": f"price_{name.lower()}_{currency}",
                "nickname": f"Bench {name.lower()}",
                "unit_amount": amount,
                "currency": currency,
                "recurring": {"interval": interval, "interval_count": count},
                "product": "prod_bench",
            }
    for s in population:
        yield {"object": "customer", "id": s.id, "email": s.email, "discount": None}
        if s.mrr is None:
            continue
        currency = s.currency.lower()
        billing = s.next_billing_date
        period_end = _midnight(billing or date(2026, 12, 31))
        trialing = s.is_free_trial is True
        status = "canceled" if s.status == "CANCELED" else "trialing" if trialing else "active"
        yield {
            "object": "subscription",
            "id": f"sub_{s.id[4:]}",
            "customer": s.id,
            "status": status,
            "currency": currency,
            "created": _CREATED,
            "current_period_end": period_end,
            "trial_end": period_end if trialing else None,
            "cancel_at_period_end": billing is None,
            "cancel_at": None,
            "canceled_at": _CREATED if status == "canceled" else None,
            "discount": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_{s.id[4:]}",
                        "object": "subscription_item",
                        "price": f"price_{_interval(s).lower()}_{currency}",
                        "quantity": int(s.mrr * 100),
                        "metadata": {"kind": "plan"},
                    }
                ],
            },
        }


def expected_billing_members(population: Sequence[Subscriber]) -> set[str]:
    """Who ``BILLING_SEGMENT`` selects, by the derivation of the objects above: MRR counts only
    an active subscription in the account currency (USD); status is ACTIVE while the
    subscription is live (never SAVED: no retention events); the next billing date is missing
    when the subscription will not renew."""
    members = set()
    for s in population:
        if s.mrr is None or s.status == "CANCELED" or s.is_free_trial is True:
            continue  # no MRR over 100: none, canceled, or trialing (MRR 0)
        if s.currency != "USD" or s.mrr <= 100:
            continue
        if _interval(s) not in ("MONTH", "YEAR"):
            continue
        if s.next_billing_date is None or s.next_billing_date >= date(2026, 7, 1):
            continue
        members.add(s.id)
    return members


def tickets(population: Sequence[Subscriber], seed: int = SEED) -> list[dict[str, Any]]:
    """Support tickets for about 40% of the subscribers, one to three each, with tags."""
    rng = random.Random(seed + 1)
    out: list[dict[str, Any]] = []
    for s in population:
        if rng.random() >= 0.4:
            continue
        for n in range(rng.randint(1, 3)):
            out.append(
                {
                    "id": f"T-{s.id[4:]}-{n}",
                    "subscriber_id": s.id,
                    "status": rng.choice(("open", "pending", "solved", "closed")),
                    "priority": rng.choice(("LOW", "NORMAL", "HIGH", "URGENT")),
                    "tags": rng.sample(_TAGS, rng.randint(0, 2)),
                    "created_at": f"2026-0{rng.randint(1, 2)}-{rng.randint(10, 28)}T10:00:00+00:00",
                }
            )
    return out


def expected_tag_members(ticket_list: Sequence[dict[str, Any]]) -> set[str]:
    return {t["subscriber_id"] for t in ticket_list if {"billing", "churn-risk"} & set(t["tags"])}


def expected_both_tags_members(ticket_list: Sequence[dict[str, Any]]) -> set[str]:
    """Subscribers with a ticket tagged billing and a ticket (the same or another) tagged
    churn-risk."""
    tagged: dict[str, set[str]] = {}
    for t in ticket_list:
        tagged.setdefault(t["subscriber_id"], set()).update(t["tags"])
    return {s for s, tags in tagged.items() if {"billing", "churn-risk"} <= tags}


def page_segments(count: int) -> list[tuple[str, str, list[str]]]:
    """``count`` (name, conditions text, tags) segments over billing properties, all different,
    for ``subscriber { segments }`` and the page of segments."""
    out = []
    for k in range(count):
        out.append(
            (
                f"Bench segment {k:03d}",
                f'subscriber.mrr > {20 + 5 * k} AND plan.interval IN ("MONTH", "YEAR") '
                f"AND subscription.is_free_trial IS FALSE AND subscription.next_billing_date "
                f'BEFORE "2026-{1 + k % 12:02d}-15"',
                ["bench", "bench-20" if k < 20 else "bench-page"],
            )
        )
    return out
