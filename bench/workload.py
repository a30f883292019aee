"""The shared workload: synthetic subscribers, the segment, and the hand-written predicate.

Every engine answers the same question about the same subscribers:

    subscriber.mrr > 100 (USD)
      AND plan.interval IN (MONTH, YEAR)
      AND (subscriber.status = SAVED OR subscription.is_free_trial IS FALSE)
      AND crm.country IN (US, CA, GB, DE, FR, AU)
      AND cdp.trait.email ENDS WITH ".com"
      AND subscription.next_billing_date BEFORE 2026-07-01

The subscribers are generated from ``random.Random(SEED)``, so every run, on every machine,
sees the same 100,000 rows. Some values are missing (absent, or ``None``), and some MRR is in
EUR, which seggraph reads as UNKNOWN for a USD condition (see ``bench/README.md``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from seggraph.domain.conditions import Combinator, Condition, Group, Money, Operator
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation import CompiledSegment, EvaluationOptions, compile_segment

SEED = 42
SEGMENT_ID = "bench-high-value"

# The segment's constants, shared by every engine's native expression of it.
MRR_OVER = Decimal(100)
CURRENCY = "USD"
INTERVALS = ("MONTH", "YEAR")
SAVED = "SAVED"
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "AU")
EMAIL_SUFFIX = ".com"
BILLING_BEFORE = date(2026, 7, 1)

_ALL_INTERVALS = ("DAY", "WEEK", "MONTH", "YEAR")
_STATUSES = ("ACTIVE", "CANCELED", "SAVED", "REACTIVATED")
_ALL_COUNTRIES = ("US", "CA", "GB", "DE", "FR", "AU", "NL", "ES", "IT", "BR", "IN", "JP")
_DOMAINS = (
    "gmail.com",
    "example.com",
    "acme.io",
    "mail.de",
    "shop.co.uk",
    "corp.net",
    "outlook.com",
    "startup.ai",
    "yahoo.fr",
    "company.com",
)
_FIRST_BILLING = date(2026, 1, 1)

P = PropertyType
CATALOGUE: dict[str, PropertyDefinition] = {
    d.key: d
    for d in (
        PropertyDefinition("subscriber.mrr", "MRR", P.MONEY, provider="billing"),
        PropertyDefinition(
            "plan.interval",
            "Plan interval",
            P.ENUM,
            enum_values=_ALL_INTERVALS,
            provider="billing",
        ),
        PropertyDefinition(
            "subscriber.status", "Status", P.ENUM, enum_values=_STATUSES, provider="billing"
        ),
        PropertyDefinition(
            "subscription.is_free_trial", "Free trial", P.BOOLEAN, provider="billing"
        ),
        PropertyDefinition("crm.country", "Country", P.TEXT, provider="crm"),
        PropertyDefinition("cdp.trait.email", "Email", P.TEXT, provider="cdp"),
        PropertyDefinition(
            "subscription.next_billing_date", "Next billing date", P.DATE, provider="billing"
        ),
    )
}

O = Operator  # noqa: E741
SEGMENT = Group(
    Combinator.ALL,
    (
        Condition("subscriber.mrr", O.GT, MRR_OVER),
        Condition("plan.interval", O.IN, INTERVALS),
        Group(
            Combinator.ANY,
            (
                Condition("subscriber.status", O.EQ, SAVED),
                Condition("subscription.is_free_trial", O.IS_FALSE),
            ),
        ),
        Condition("crm.country", O.IN, COUNTRIES),
        Condition("cdp.trait.email", O.ENDS_WITH, EMAIL_SUFFIX),
        Condition("subscription.next_billing_date", O.BEFORE, BILLING_BEFORE.isoformat()),
    ),
)

#: The segment in seggraph's text form (docs/text-form.md), for the report.
SEGMENT_TEXT = (
    'subscriber.mrr > 100 AND plan.interval IN ("MONTH", "YEAR") AND '
    '(subscriber.status = "SAVED" OR subscription.is_free_trial IS FALSE) AND '
    'crm.country IN ("US", "CA", "GB", "DE", "FR", "AU") AND cdp.trait.email ENDS WITH ".com" '
    'AND subscription.next_billing_date BEFORE "2026-07-01"'
)


def options() -> EvaluationOptions:
    """UTC, USD, and a pinned clock (the segment has no relative dates, so it is not read)."""
    return EvaluationOptions(currency=CURRENCY, clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))


def compiled_segment() -> CompiledSegment:
    return compile_segment(SEGMENT, CATALOGUE, segment_id=SEGMENT_ID, options=options())


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One synthetic subscriber, engine-neutral. ``None`` is a missing value; ``mrr`` is exact
    (two decimals) in ``currency``."""

    id: str
    mrr: Decimal | None
    currency: str
    interval: str | None
    status: str | None
    is_free_trial: bool | None
    country: str | None
    email: str | None
    next_billing_date: date | None


def _maybe(rng: random.Random, missing: float, value: Any) -> Any:
    return None if rng.random() < missing else value


def subscribers(count: int, seed: int = SEED) -> list[Subscriber]:
    """``count`` subscribers from ``random.Random(seed)`` (the same rows for the same
    arguments)."""
    rng = random.Random(seed)
    rows: list[Subscriber] = []
    for i in range(count):
        cents = int(rng.lognormvariate(9.0, 1.0))  # median about $81
        rows.append(
            Subscriber(
                id=f"cus_{i:06d}",
                mrr=_maybe(rng, 0.03, Decimal(cents).scaleb(-2)),
                currency="EUR" if rng.random() < 0.04 else "USD",
                interval=_maybe(rng, 0.03, rng.choices(_ALL_INTERVALS, weights=(2, 5, 70, 23))[0]),
                status=_maybe(rng, 0.01, rng.choices(_STATUSES, weights=(70, 15, 10, 5))[0]),
                is_free_trial=_maybe(rng, 0.05, rng.random() < 0.15),
                country=_maybe(
                    rng,
                    0.05,
                    rng.choices(_ALL_COUNTRIES, weights=(30, 8, 10, 8, 7, 4, 4, 5, 5, 6, 8, 5))[0],
                ),
                email=_maybe(rng, 0.02, f"user{i}@{rng.choice(_DOMAINS)}"),
                next_billing_date=_maybe(
                    rng, 0.10, _FIRST_BILLING + timedelta(days=rng.randrange(365))
                ),
            )
        )
    return rows


def seggraph_values(subscriber: Subscriber) -> dict[str, Any]:
    """The values a provider hands the evaluation core: exact ``Decimal`` money (``Money`` when
    it is not in the account currency), ``date`` for dates. A missing value is absent for even
    rows and ``None`` for odd ones (both mean missing)."""
    s = subscriber
    mrr: Any = s.mrr
    if mrr is not None and s.currency != CURRENCY:
        mrr = Money(mrr, s.currency)
    values = {
        "subscriber.mrr": mrr,
        "plan.interval": s.interval,
        "subscriber.status": s.status,
        "subscription.is_free_trial": s.is_free_trial,
        "crm.country": s.country,
        "cdp.trait.email": s.email,
        "subscription.next_billing_date": s.next_billing_date,
    }
    if int(s.id[4:]) % 2 == 0:
        return {key: value for key, value in values.items() if value is not None}
    return values


def seggraph_rows(population: Sequence[Subscriber]) -> list[tuple[str, dict[str, Any]]]:
    return [(s.id, seggraph_values(s)) for s in population]


def flat_attributes(subscriber: Subscriber) -> dict[str, Any]:
    """The flat attribute names the peers use (dots would be paths to GrowthBook and
    JsonLogic). Missing values are left out. The MRR currency is its own attribute."""
    s = subscriber
    attributes: dict[str, Any] = {}
    if s.mrr is not None:
        attributes["mrr"] = s.mrr
        attributes["mrr_currency"] = s.currency
    for name, value in (
        ("plan_interval", s.interval),
        ("status", s.status),
        ("is_free_trial", s.is_free_trial),
        ("country", s.country),
        ("email", s.email),
        ("next_billing_date", s.next_billing_date),
    ):
        if value is not None:
            attributes[name] = value
    return attributes


# --- the hand-written predicate ------------------------------------------------------------------

_INTERVALS = frozenset(INTERVALS)
_COUNTRIES = frozenset(COUNTRIES)


def hand_written(values: dict[str, Any]) -> bool:
    """The segment as a plain Python function over the same value dicts seggraph reads: what a
    developer would write for this one segment. Two-valued (a foreign-currency MRR is simply not
    a member), no explanation, no type checks beyond what the comparison needs."""
    mrr = values.get("subscriber.mrr")
    if mrr.__class__ is not Decimal or not mrr > MRR_OVER:
        return False
    if values.get("plan.interval") not in _INTERVALS:
        return False
    if (
        values.get("subscriber.status") != SAVED
        and values.get("subscription.is_free_trial") is not False
    ):
        return False
    if values.get("crm.country") not in _COUNTRIES:
        return False
    email = values.get("cdp.trait.email")
    if email is None or not email.endswith(EMAIL_SUFFIX):
        return False
    billing = values.get("subscription.next_billing_date")
    return billing is not None and billing < BILLING_BEFORE
