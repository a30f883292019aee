"""The demo data set, generated from a fixed seed. Pure: no I/O, no plugin imports.

``generate(subscribers, now)`` returns plain data in the shapes the bundled providers take in:

- **billing**: Stripe objects (``product``, ``price``, ``coupon``, ``customer``,
  ``subscription``, ``invoice``) exactly as ``seggraph import billing`` reads them, one dict per
  object with its ``object`` field, plus retention events as the billing provider records them;
- **CRM**: HubSpot API objects (``{"id", "properties", "associations"}``) for contacts and
  companies, as ``seggraph import crm`` reads them;
- **CDP**: Segment Tracking API messages (``identify`` and ``track``, with ``type``), as
  ``POST /cdp/v1/batch`` takes them;
- **custom properties**: definitions and ``(subscriber id, key, value)`` values.

Everything is drawn from ``random.Random(seed)`` in one fixed order, so the same size and seed
give the same ids and the same shapes; times are relative to ``now`` (the load time), so a trial
still ends in the future and "last seen 3 days ago" stays true on the day the demo is loaded.

Subscriber ids are ``cus_demo_00001`` … The first few are fixed personas that the README's
examples use (see :data:`PERSONAS`); the rest follow the mix described in each ``_pick_*``.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

SEED = 2026
DEFAULT_SUBSCRIBERS = 10_000
#: Invoices kept per subscription: the latest billing periods (enough for LTV and refunds to be
#: non-trivial without making the load slow).
INVOICES_PER_SUBSCRIPTION = 3
DAY = timedelta(days=1)

#: The declared CDP traits and events the demo sends (``SEGGRAPH_CDP_TRAITS`` /
#: ``SEGGRAPH_CDP_EVENTS`` syntax); ``seggraph serve --demo`` uses them when those are unset.
CDP_TRAITS = "plan:TEXT,seats:NUMBER,role:TEXT"
CDP_EVENTS = "Login,Feature Used,Report Exported"

# --- the catalogue of things sold ------------------------------------------------------------

PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("prod_demo_starter", "Starter", "For individuals getting started."),
    ("prod_demo_pro", "Pro", "For growing teams."),
    ("prod_demo_business", "Business", "For organisations that need control and support."),
    ("prod_demo_seats", "Extra seats", "Add-on: more seats on a Pro or Business plan."),
    ("prod_demo_support", "Priority support", "Add-on: a named support engineer."),
)

#: id → (product, nickname, unit amount in minor units, currency, interval, interval count)
PRICES: dict[str, tuple[str, str, int, str, str, int]] = {
    f"price_demo_{key}": (f"prod_demo_{product}", nickname, amount, currency, interval, count)
    for key, product, nickname, amount, currency, interval, count in (
        ("starter_monthly", "starter", "Starter monthly", 1200, "usd", "month", 1),
        ("starter_annual", "starter", "Starter annual", 12000, "usd", "year", 1),
        ("starter_weekly", "starter", "Starter weekly", 400, "usd", "week", 1),
        ("starter_daily", "starter", "Starter day pass", 100, "usd", "day", 1),
        ("pro_monthly", "pro", "Pro monthly", 4900, "usd", "month", 1),
        ("pro_quarterly", "pro", "Pro quarterly", 13500, "usd", "month", 3),
        ("pro_annual", "pro", "Pro annual", 49000, "usd", "year", 1),
        ("pro_monthly_eur", "pro", "Pro monthly (EUR)", 4500, "eur", "month", 1),
        ("business_monthly", "business", "Business monthly", 14900, "usd", "month", 1),
        ("business_annual", "business", "Business annual", 149000, "usd", "year", 1),
        ("business_annual_eur", "business", "Business annual (EUR)", 139000, "eur", "year", 1),
        ("seats_monthly", "seats", "Extra seat (monthly)", 1000, "usd", "month", 1),
        ("seats_quarterly", "seats", "Extra seat (quarterly)", 2700, "usd", "month", 3),
        ("seats_annual", "seats", "Extra seat (annual)", 10000, "usd", "year", 1),
        ("seats_monthly_eur", "seats", "Extra seat (monthly, EUR)", 900, "eur", "month", 1),
        ("seats_annual_eur", "seats", "Extra seat (annual, EUR)", 9000, "eur", "year", 1),
        ("support_monthly", "support", "Priority support (monthly)", 9900, "usd", "month", 1),
        ("support_annual", "support", "Priority support (annual)", 99000, "usd", "year", 1),
    )
}

#: The seat add-on price matching each plan price's interval and currency.
SEAT_PRICE = {
    ("usd", "month", 1): "price_demo_seats_monthly",
    ("usd", "month", 3): "price_demo_seats_quarterly",
    ("usd", "year", 1): "price_demo_seats_annual",
    ("eur", "month", 1): "price_demo_seats_monthly_eur",
    ("eur", "year", 1): "price_demo_seats_annual_eur",
}
SUPPORT_PRICE = {
    ("usd", "month", 1): "price_demo_support_monthly",
    ("usd", "year", 1): "price_demo_support_annual",
}

#: id → (name, percent_off, amount_off in minor units, currency, duration, duration in months)
COUPONS: dict[str, tuple[str, float | None, int | None, str | None, str, int | None]] = {
    "WELCOME10": ("Welcome 10% off", 10, None, None, "repeating", 3),
    "LAUNCH20": ("Launch offer 20% off", 20, None, None, "forever", None),
    "SAVE25": ("Retention: 25% off for 6 months", 25, None, None, "repeating", 6),
    "SAVE50": ("Retention: 50% off for 3 months", 50, None, None, "repeating", 3),
    "PARTNER30": ("Partner discount 30%", 30, None, None, "forever", None),
    "TENOFF": ("$10 off every invoice", None, 1000, "usd", "forever", None),
    "FIVEOFF_EUR": ("€5 off every invoice", None, 500, "eur", "forever", None),
}

#: The offers a cancellation flow makes, with the coupon each applies (if any).
OFFERS: tuple[tuple[str, str | None], ...] = (
    ("offer_50off_3mo", "SAVE50"),
    ("offer_25off_6mo", "SAVE25"),
    ("offer_pause_1mo", None),
)

# --- people and companies ------------------------------------------------------------------

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Ben", "Bea", "Carlos", "Chen", "Chloe", "Dana",
    "David", "Elena", "Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Isaac",
    "Jade", "James", "Jonas", "Kai", "Kenji", "Lara", "Leo", "Lina", "Lucas", "Maya", "Mei",
    "Mila", "Nadia", "Noah", "Olga", "Omar", "Priya", "Quinn", "Rafael", "Rosa", "Sam", "Sara",
    "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wen", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Bianchi", "Brown", "Chen", "Costa", "Dubois", "Evans", "Fischer", "Garcia",
    "Hansen", "Ito", "Jansen", "Kim", "Kowalski", "Lopez", "Martin", "Meyer", "Nakamura", "Novak",
    "Okafor", "Patel", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith",
    "Tanaka", "Walker", "Wang", "Weber", "Williams", "Yilmaz", "Zhang",
)  # fmt: skip
COMPANY_WORDS = (
    "Acme", "Apex", "Aurora", "Beacon", "Blue", "Bright", "Cedar", "Cobalt", "Copper", "Delta",
    "Ember", "Falcon", "Golden", "Granite", "Harbor", "Helix", "Iron", "Juniper", "Kite", "Lumen",
    "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pine", "Pixel", "Quartz",
    "River", "Sage", "Silver", "Summit", "Tidal", "Vector", "Willow", "Zenith",
)  # fmt: skip
COMPANY_SUFFIXES = (
    "Labs", "Analytics", "Systems", "Studio", "Health", "Logistics", "Media", "Foods", "Capital",
    "Learning", "Works", "Retail", "Robotics", "Cloud", "Partners",
)  # fmt: skip
INDUSTRIES = (
    ("COMPUTER_SOFTWARE", 24),
    ("RETAIL", 12),
    ("HEALTH_WELLNESS_AND_FITNESS", 9),
    ("FINANCIAL_SERVICES", 10),
    ("MARKETING_AND_ADVERTISING", 11),
    ("EDUCATION_MANAGEMENT", 8),
    ("LOGISTICS_AND_SUPPLY_CHAIN", 6),
    ("MEDIA_PRODUCTION", 7),
    ("NON_PROFIT_ORGANIZATION_MANAGEMENT", 4),
    ("MANUFACTURING", 9),
)
#: Country (ISO code as HubSpot stores a country name) and weight, for USD customers.
USD_COUNTRIES = (
    ("United States", 62),
    ("Canada", 9),
    ("United Kingdom", 10),
    ("Australia", 6),
    ("India", 5),
    ("Brazil", 4),
    ("Japan", 4),
)
EUR_COUNTRIES = (("Germany", 40), ("France", 30), ("Netherlands", 15), ("Spain", 15))
OWNERS = ("Alex Morgan", "Jordan Lee", "Riley Chen", "Sam Patel", "Taylor Brooks")
ROLES = ("admin", "member", "billing", "owner")
FEATURES = ("dashboards", "exports", "integrations", "automations", "api", "sso")

#: The fixed personas the README uses: subscriber number → what it is.
PERSONAS: dict[int, str] = {
    1: "a Business annual customer for over two years with 12 extra seats and priority support, "
    "at a 2,500-person company",
    2: "a Pro monthly customer whose payment is past due and who has not logged in for 20 days",
    3: "a Starter monthly customer on a free trial that ends in 9 days",
    4: "a Pro annual customer saved 10 days ago with the 50%-off offer",
    5: "a Business monthly customer who has asked to cancel at the end of the period",
}


@dataclass(frozen=True)
class CustomDefinition:
    key: str
    label: str
    type: str
    description: str
    enum_values: tuple[str, ...] = ()


CUSTOM_DEFINITIONS: tuple[CustomDefinition, ...] = (
    CustomDefinition(
        "account_tier",
        "Account tier",
        "ENUM",
        "The customer-success tier of the account.",
        ("GOLD", "SILVER", "BRONZE"),
    ),
    CustomDefinition("nps_score", "NPS score", "NUMBER", "The latest NPS survey answer (0-10)."),
    CustomDefinition(
        "onboarding_completed",
        "Onboarding completed",
        "BOOLEAN",
        "Whether the customer finished the onboarding checklist.",
    ),
    CustomDefinition(
        "beta_features", "Beta features", "LIST", "The beta features the customer opted into."
    ),
)


@dataclass
class DemoData:
    """The whole data set, in load order within each provider."""

    now: datetime
    billing: list[dict[str, Any]] = field(default_factory=list)
    """Stripe objects: products, prices, coupons, customers, subscriptions, invoices."""
    retention_events: list[dict[str, Any]] = field(default_factory=list)
    crm_companies: list[dict[str, Any]] = field(default_factory=list)
    crm_contacts: list[dict[str, Any]] = field(default_factory=list)
    cdp_messages: list[dict[str, Any]] = field(default_factory=list)
    custom_definitions: tuple[CustomDefinition, ...] = CUSTOM_DEFINITIONS
    custom_values: list[tuple[str, str, Any]] = field(default_factory=list)
    subscriber_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        by_kind: dict[str, int] = {}
        for obj in self.billing:
            by_kind[obj["object"]] = by_kind.get(obj["object"], 0) + 1
        return {
            "subscribers": len(self.subscriber_ids),
            **{f"billing_{kind}s": n for kind, n in by_kind.items()},
            "retention_events": len(self.retention_events),
            "crm_contacts": len(self.crm_contacts),
            "crm_companies": len(self.crm_companies),
            "cdp_messages": len(self.cdp_messages),
            "custom_values": len(self.custom_values),
        }


def subscriber_id(number: int, total: int = DEFAULT_SUBSCRIBERS) -> str:
    """``cus_demo_00001``: at least five digits, more when the data set is larger."""
    return f"cus_demo_{number:0{max(5, len(str(total)))}d}"


# --- time ------------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """Stripe's month arithmetic: the same day of the month, clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_start(anchor: datetime, interval: str, count: int, index: int) -> datetime:
    """The start of billing period ``index`` (0 = the first) of a subscription anchored at
    ``anchor``."""
    if interval == "day":
        return anchor + timedelta(days=count * index)
    if interval == "week":
        return anchor + timedelta(weeks=count * index)
    months = count * index * (12 if interval == "year" else 1)
    return add_months(anchor, months)


_APPROX_DAYS = {"day": 1.0, "week": 7.0, "month": 30.4, "year": 365.25}


def period_index(anchor: datetime, interval: str, count: int, at: datetime) -> int:
    """The index of the billing period that contains ``at``."""
    index = max(0, int((at - anchor).days / (_APPROX_DAYS[interval] * count)) - 1)
    while period_start(anchor, interval, count, index + 1) <= at:
        index += 1
    while index > 0 and period_start(anchor, interval, count, index) > at:
        index -= 1
    return index


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- choosing ----------------------------------------------------------------------------------


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    total = sum(weight for _, weight in options)
    pick = rng.random() * total
    for value, weight in options:
        pick -= weight
        if pick < 0:
            return value
    return options[-1][0]


@dataclass
class Profile:
    """What one subscriber is: the choices every object of theirs is built from."""

    number: int
    ident: str
    currency: str
    country: str
    first: str
    last: str
    company: str
    created: datetime
    price: str
    quantity: int = 1
    seats: int = 0
    support: bool = False
    status: str = "active"  # active, trialing, past_due, unpaid, canceled
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    coupon: str | None = None
    coupon_start: datetime | None = None
    customer_coupon: str | None = None
    saved_at: datetime | None = None
    offer: str | None = None
    extra: str | None = None  # "reactivated", "second_workspace"
    crm: str = "external_id"  # external_id, email, none
    employees: int = 10
    health: int = 70
    cdp: str = "active"  # active, lapsing, gone, none
    last_seen_days: int = 1

    @property
    def email(self) -> str:
        domain = self.company.lower().replace(" ", "") + ".example"
        return f"{self.first.lower()}.{self.last.lower()}{self.number}@{domain}"


def _pick_plan(rng: random.Random, currency: str) -> tuple[str, int]:
    """Starter 42%, Pro 38%, Business 20%; each with its own mix of intervals."""
    if currency == "eur":
        if rng.random() < 0.6:
            return "price_demo_pro_monthly_eur", 1
        return "price_demo_business_annual_eur", 1
    product = _weighted(rng, (("starter", 42), ("pro", 38), ("business", 20)))
    if product == "starter":
        interval = _weighted(rng, (("monthly", 70), ("annual", 20), ("weekly", 7), ("daily", 3)))
        return f"price_demo_starter_{interval}", 1
    if product == "pro":
        interval = _weighted(rng, (("monthly", 55), ("quarterly", 15), ("annual", 30)))
        quantity = 1 if rng.random() < 0.8 else rng.randint(2, 5)
        return f"price_demo_pro_{interval}", quantity
    interval = _weighted(rng, (("monthly", 45), ("annual", 55)))
    return f"price_demo_business_{interval}", 1


def _profile(rng: random.Random, number: int, total: int, now: datetime) -> Profile:
    currency = "eur" if rng.random() < 0.06 else "usd"
    country = _weighted(rng, EUR_COUNTRIES if currency == "eur" else USD_COUNTRIES)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
    # Customer age: a steady stream of sign-ups over three and a half years, more of them lately.
    age_days = int(1280 * rng.random() ** 1.4) + 1
    created = (now - timedelta(days=age_days, seconds=rng.randint(0, 86_399))).replace(
        microsecond=0
    )
    price, quantity = _pick_plan(rng, currency)
    profile = Profile(number, subscriber_id(number, total), currency, country, first, last,
                      company, created, price, quantity)  # fmt: skip
    _, _, _, _, interval, count = PRICES[price]
    product = PRICES[price][0]

    # Status: trials are recent sign-ups; the rest are active, past due, unpaid or canceled.
    roll = rng.random()
    if age_days <= 13 and roll < 0.7:
        profile.status = "trialing"
    elif roll < 0.13 and age_days > 40:
        profile.status = "canceled"
        span = (now - created).days - 1
        profile.canceled_at = created + timedelta(days=rng.randint(30, max(31, span)))
        profile.canceled_at = min(profile.canceled_at, now - DAY)
    elif roll < 0.19:
        profile.status = "past_due"
    elif roll < 0.20:
        profile.status = "unpaid"
    elif roll < 0.27 and profile.status == "active":
        profile.cancel_at_period_end = True

    if (
        product in ("prod_demo_pro", "prod_demo_business")
        and rng.random() < 0.3
        and (currency, interval, count) in SEAT_PRICE
    ):
        profile.seats = rng.choice((1, 2, 3, 5, 8, 10, 15, 25))
    if (
        product == "prod_demo_business"
        and (currency, interval, count) in SUPPORT_PRICE
        and rng.random() < 0.25
    ):
        profile.support = True

    # Discounts: welcome offers for new customers, a launch offer for older ones, fixed amounts.
    roll = rng.random()
    if profile.status != "trialing":
        if age_days < 90 and roll < 0.15:
            profile.coupon = "WELCOME10"
        elif 365 < age_days < 800 and roll < 0.12:
            profile.coupon = "LAUNCH20"
        elif currency == "usd" and roll < 0.05:
            profile.coupon = "TENOFF"
    if rng.random() < 0.03:
        profile.customer_coupon = "FIVEOFF_EUR" if currency == "eur" else "PARTNER30"
    if profile.coupon is not None:
        profile.coupon_start = created

    # Saves: about one active subscriber in twelve accepted a retention offer.
    if profile.status in ("active", "past_due") and age_days > 60 and rng.random() < 0.09:
        days_ago = int(180 * rng.random() ** 1.6) + 1
        profile.saved_at = (now - timedelta(days=days_ago, hours=rng.randint(0, 23))).replace(
            microsecond=0
        )
        profile.offer, coupon = rng.choice(OFFERS)
        if coupon is not None:
            profile.coupon, profile.coupon_start = coupon, profile.saved_at
        profile.cancel_at_period_end = False

    roll = rng.random()
    if profile.status == "active" and age_days > 200 and roll < 0.04:
        profile.extra = "reactivated"
    elif profile.status in ("active", "past_due") and roll < 0.08:
        profile.extra = "second_workspace"

    # CRM: most customers have a contact (matched by external id, some only by email).
    roll = rng.random()
    profile.crm = "external_id" if roll < 0.74 else "email" if roll < 0.88 else "none"
    base = {"prod_demo_starter": 8, "prod_demo_pro": 60, "prod_demo_business": 600}[product]
    profile.employees = max(1, int(base * rng.lognormvariate(0, 1.1)))
    health = rng.gauss(72, 14)
    if profile.status in ("past_due", "unpaid"):
        health -= 25
    if profile.cancel_at_period_end:
        health -= 20
    if profile.status == "canceled":
        health -= 35
    profile.health = max(0, min(100, int(health)))

    # CDP: who sends events, and when they were last seen.
    roll = rng.random()
    if roll < 0.2:
        profile.cdp = "none"
    elif profile.status == "canceled":
        profile.cdp = "gone"
    elif profile.status == "trialing":
        profile.cdp = "active"
    else:
        profile.cdp = _weighted(rng, (("active", 70), ("lapsing", 22), ("gone", 8)))
    if profile.cdp == "active":
        profile.last_seen_days = min(int(rng.expovariate(0.5)), 12)
    elif profile.cdp == "lapsing":
        profile.last_seen_days = rng.randint(14, 60)
    else:
        profile.last_seen_days = rng.randint(61, 400)
    profile.last_seen_days = min(profile.last_seen_days, max(0, age_days - 1))
    _apply_persona(profile, now)
    return profile


def _apply_persona(profile: Profile, now: datetime) -> None:
    """The README's fixed examples (see :data:`PERSONAS`)."""
    n = profile.number
    if n not in PERSONAS:
        return
    profile.currency, profile.country = "usd", "United States"
    profile.status, profile.cancel_at_period_end, profile.canceled_at = "active", False, None
    profile.coupon = profile.coupon_start = profile.customer_coupon = None
    profile.saved_at = profile.offer = profile.extra = None
    profile.seats, profile.support, profile.quantity = 0, False, 1
    profile.crm, profile.cdp, profile.last_seen_days = "external_id", "active", 1
    profile.health = 80
    if n == 1:
        profile.first, profile.last, profile.company = "Ada", "Lovelace", "Analytical Engines"
        profile.created = (now - timedelta(days=800)).replace(microsecond=0)
        profile.price, profile.seats, profile.support = "price_demo_business_annual", 12, True
        profile.employees, profile.health = 2500, 88
    elif n == 2:
        profile.first, profile.last, profile.company = "Grace", "Hopper", "Cobol Works"
        profile.created = (now - timedelta(days=300)).replace(microsecond=0)
        profile.price, profile.status = "price_demo_pro_monthly", "past_due"
        profile.employees, profile.health = 40, 35
        profile.cdp, profile.last_seen_days = "lapsing", 20
    elif n == 3:
        profile.first, profile.last, profile.company = "Alan", "Turing", "Bletchley Labs"
        profile.created = (now - timedelta(days=5)).replace(microsecond=0)
        profile.price, profile.status = "price_demo_starter_monthly", "trialing"
        profile.employees = 3
    elif n == 4:
        profile.first, profile.last, profile.company = "Katherine", "Johnson", "Orbit Analytics"
        profile.created = (now - timedelta(days=500)).replace(microsecond=0)
        profile.price, profile.employees = "price_demo_pro_annual", 120
        profile.saved_at = (now - timedelta(days=10)).replace(microsecond=0)
        profile.offer, profile.coupon = "offer_50off_3mo", "SAVE50"
        profile.coupon_start = profile.saved_at
    elif n == 5:
        profile.first, profile.last, profile.company = "Edsger", "Dijkstra", "Shortest Path"
        profile.created = (now - timedelta(days=200)).replace(microsecond=0)
        profile.price, profile.cancel_at_period_end = "price_demo_business_monthly", True
        profile.employees, profile.health = 450, 45


# --- building the objects -------------------------------------------------------------------


def _catalogue_objects(now: datetime) -> list[dict[str, Any]]:
    created = ts(now - timedelta(days=1400))
    out: list[dict[str, Any]] = [
        {
            "id": ident,
            "object": "product",
            "name": name,
            "description": description,
            "active": True,
            "created": created,
            "metadata": {"kind": "addon" if ident in ("prod_demo_seats", "prod_demo_support")
                         else "plan"},
        }
        for ident, name, description in PRODUCTS
    ]  # fmt: skip
    for ident, (product, nickname, amount, currency, interval, count) in PRICES.items():
        out.append(
            {
                "id": ident,
                "object": "price",
                "active": True,
                "nickname": nickname,
                "product": product,
                "currency": currency,
                "unit_amount": amount,
                "type": "recurring",
                "billing_scheme": "per_unit",
                "recurring": {"interval": interval, "interval_count": count,
                              "usage_type": "licensed"},
                "created": created,
            }
        )  # fmt: skip
    for ident, (name, percent, amount_off, coupon_currency, duration, months) in COUPONS.items():
        out.append(
            {
                "id": ident,
                "object": "coupon",
                "name": name,
                "percent_off": percent,
                "amount_off": amount_off,
                "currency": coupon_currency,
                "duration": duration,
                "duration_in_months": months,
                "valid": True,
                "created": created,
            }
        )
    return out


def _price_object(price_id: str) -> dict[str, Any]:
    product, nickname, amount, currency, interval, count = PRICES[price_id]
    return {
        "id": price_id,
        "object": "price",
        "nickname": nickname,
        "product": product,
        "currency": currency,
        "unit_amount": amount,
        "recurring": {"interval": interval, "interval_count": count},
    }


def _discount(coupon: str, start: datetime, owner: dict[str, str], ident: str) -> dict[str, Any]:
    _, _, _, _, duration, months = COUPONS[coupon]
    end = add_months(start, months) if duration == "repeating" and months else None
    return {
        "id": ident,
        "object": "discount",
        "coupon": coupon,
        "start": ts(start),
        "end": ts(end) if end is not None else None,
        **owner,
    }


def _subscription(
    profile: Profile,
    ident: str,
    price_id: str,
    *,
    created: datetime,
    status: str,
    now: datetime,
    quantity: int = 1,
    seats: int = 0,
    support: bool = False,
    canceled_at: datetime | None = None,
    cancel_at_period_end: bool = False,
    coupon: str | None = None,
    coupon_start: datetime | None = None,
) -> tuple[dict[str, Any], list[tuple[datetime, datetime]]]:
    """A subscription and its billed periods (start, end), oldest first."""
    _, _, _, currency, interval, count = PRICES[price_id]
    items = [
        {
            "id": f"si_{ident[4:]}_plan",
            "object": "subscription_item",
            "price": _price_object(price_id),
            "quantity": quantity,
            "metadata": {"kind": "plan"},
        }
    ]
    if seats:
        seat_price = SEAT_PRICE[(currency, interval, count)]
        items.append(
            {
                "id": f"si_{ident[4:]}_seats",
                "object": "subscription_item",
                "price": _price_object(seat_price),
                "quantity": seats,
                "metadata": {"kind": "addon"},
            }
        )
    if support:
        items.append(
            {
                "id": f"si_{ident[4:]}_support",
                "object": "subscription_item",
                "price": _price_object(SUPPORT_PRICE[(currency, interval, count)]),
                "quantity": 1,
                "metadata": {"kind": "addon"},
            }
        )
    doc: dict[str, Any] = {
        "id": ident,
        "object": "subscription",
        "customer": profile.ident,
        "status": status,
        "currency": currency,
        "created": ts(created),
        "start_date": ts(created),
        "billing_cycle_anchor": ts(created),
        "collection_method": "charge_automatically",
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "trial_start": None,
        "trial_end": None,
        "discount": None,
        "items": {"object": "list", "data": items},
        "metadata": {"source": "seggraph-demo"},
    }
    periods: list[tuple[datetime, datetime]] = []
    if status == "trialing":
        trial_end = created + timedelta(days=14)
        doc.update(
            trial_start=ts(created),
            trial_end=ts(trial_end),
            current_period_start=ts(created),
            current_period_end=ts(trial_end),
        )
        return doc, periods
    until = canceled_at if canceled_at is not None else now
    current = period_index(created, interval, count, until)
    first = max(0, current - INVOICES_PER_SUBSCRIPTION + 1)
    for index in range(first, current + 1):
        periods.append(
            (
                period_start(created, interval, count, index),
                period_start(created, interval, count, index + 1),
            )
        )
    start, end = periods[-1]
    doc.update(current_period_start=ts(start), current_period_end=ts(end))
    if canceled_at is not None:
        doc.update(
            canceled_at=ts(canceled_at),
            ended_at=ts(canceled_at),
            current_period_end=ts(canceled_at),
        )
    if cancel_at_period_end:
        doc.update(cancel_at=ts(end), canceled_at=ts(now - timedelta(days=2)))
    if coupon is not None:
        doc["discount"] = _discount(
            coupon,
            coupon_start or created,
            {"customer": profile.ident, "subscription": ident},
            f"di_{ident[4:]}",
        )
    return doc, periods


def _amount(subscription: dict[str, Any]) -> int:
    """One period's total before discounts, in minor units."""
    return sum(
        int(item["price"]["unit_amount"]) * int(item.get("quantity") or 1)
        for item in subscription["items"]["data"]
    )


def _invoices(
    rng: random.Random,
    subscription: dict[str, Any],
    periods: list[tuple[datetime, datetime]],
    *,
    last_unpaid: bool,
) -> Iterator[dict[str, Any]]:
    gross = _amount(subscription)
    discount = subscription.get("discount")
    for index, (start, end) in enumerate(periods):
        due = gross
        if (
            discount is not None
            and discount["start"] <= ts(start)
            and (discount["end"] is None or discount["end"] > ts(start))
        ):
            percent, amount_off = COUPONS[discount["coupon"]][1:3]
            if percent is not None:
                due = round(gross * (100 - percent) / 100)
            elif amount_off is not None:
                due = max(0, gross - amount_off)
        unpaid = last_unpaid and index == len(periods) - 1
        refunded = 0
        if not unpaid and due and rng.random() < 0.025:
            refunded = due if rng.random() < 0.5 else due // 2
        yield {
            "id": f"in_{subscription['id'][4:]}_{index + 1:02d}",
            "object": "invoice",
            "customer": subscription["customer"],
            "subscription": subscription["id"],
            "status": "open" if unpaid else "paid",
            "billing_reason": "subscription_create" if index == 0 else "subscription_cycle",
            "currency": subscription["currency"],
            "amount_due": due,
            "amount_paid": 0 if unpaid else due,
            "amount_remaining": due if unpaid else 0,
            "post_payment_credit_notes_amount": refunded,
            "period_start": ts(start),
            "period_end": ts(end),
            "created": ts(start),
            "attempt_count": rng.randint(1, 4) if unpaid else 1,
        }


def generate(
    subscribers: int = DEFAULT_SUBSCRIBERS, now: datetime | None = None, seed: int = SEED
) -> DemoData:
    """The demo data set for ``subscribers`` subscribers, with times relative to ``now``."""
    if subscribers < 1:
        raise ValueError("the demo needs at least one subscriber")
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    data = DemoData(now=now)
    data.billing.extend(_catalogue_objects(now))
    customers: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    companies = 0
    for number in range(1, subscribers + 1):
        profile = _profile(rng, number, subscribers, now)
        data.subscriber_ids.append(profile.ident)
        customers.append(_customer(profile))
        subs = _subscriptions_of(rng, profile, now)
        for subscription, periods, last_unpaid in subs:
            subscriptions.append(subscription)
            invoices.extend(_invoices(rng, subscription, periods, last_unpaid=last_unpaid))
        data.retention_events.extend(_retention_events(profile, subs, now))
        if profile.crm != "none":
            companies += 1
            company, contact = _crm_records(rng, profile, companies, subs, now)
            data.crm_companies.append(company)
            data.crm_contacts.append(contact)
        data.cdp_messages.extend(_cdp_messages(rng, profile, now))
        data.custom_values.extend(_custom_values(rng, profile))
    data.billing.extend(customers)
    data.billing.extend(subscriptions)
    data.billing.extend(invoices)
    return data


def _customer(profile: Profile) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": profile.ident,
        "object": "customer",
        "email": profile.email,
        "name": f"{profile.first} {profile.last}",
        "description": profile.company,
        "currency": profile.currency,
        "created": ts(profile.created),
        "delinquent": profile.status in ("past_due", "unpaid"),
        "address": {"country": profile.country},
        "metadata": {"company": profile.company, "source": "seggraph-demo"},
        "discount": None,
    }
    if profile.customer_coupon is not None:
        doc["discount"] = _discount(
            profile.customer_coupon,
            profile.created,
            {"customer": profile.ident},
            f"di_{profile.ident[4:]}",
        )
    return doc


def _subscriptions_of(
    rng: random.Random, profile: Profile, now: datetime
) -> list[tuple[dict[str, Any], list[tuple[datetime, datetime]], bool]]:
    """(subscription, billed periods, whether the latest invoice is unpaid) of a subscriber."""
    out = []
    base = f"sub_{profile.ident[4:]}"
    main_created = profile.created
    if profile.extra == "reactivated":
        # An earlier subscription that was canceled, then a new one (the reactivation).
        gap = (now - profile.created).days
        ended = profile.created + timedelta(days=rng.randint(60, max(61, gap // 2)))
        old, periods = _subscription(
            profile, f"{base}_1", profile.price, created=profile.created, status="canceled",
            now=now, canceled_at=ended,
        )  # fmt: skip
        out.append((old, periods, False))
        main_created = ended + timedelta(days=rng.randint(5, 40))
    main, periods = _subscription(
        profile,
        f"{base}_{len(out) + 1}",
        profile.price,
        created=main_created,
        status=profile.status,
        now=now,
        quantity=profile.quantity,
        seats=profile.seats,
        support=profile.support,
        canceled_at=profile.canceled_at,
        cancel_at_period_end=profile.cancel_at_period_end,
        coupon=profile.coupon,
        coupon_start=max(profile.coupon_start, main_created) if profile.coupon_start else None,
    )
    out.append((main, periods, profile.status in ("past_due", "unpaid")))
    if profile.extra == "second_workspace":
        second_price = (
            "price_demo_pro_monthly_eur" if profile.currency == "eur"
            else "price_demo_starter_monthly"
        )  # fmt: skip
        created = profile.created + timedelta(
            days=rng.randint(1, max(1, (now - profile.created).days - 1))
        )
        second, periods = _subscription(
            profile, f"{base}_{len(out) + 1}", second_price, created=min(created, now - DAY),
            status="active", now=now,
        )  # fmt: skip
        out.append((second, periods, False))
    return out


def _retention_events(
    profile: Profile,
    subs: list[tuple[dict[str, Any], list[tuple[datetime, datetime]], bool]],
    now: datetime,
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def event(kind: str, at: datetime, offer: str | None = None, coupon: str | None = None) -> None:
        events.append(
            {
                "_id": f"ret_{profile.ident[4:]}_{len(events) + 1}",
                "subscriber_id": profile.ident,
                "kind": kind,
                "offer_id": offer,
                "coupon_id": coupon,
                "at": at,
                "recorded_at": at,
                "actor": "seggraph-demo",
            }
        )

    for subscription, _, _ in subs:
        if subscription["status"] == "canceled" and subscription.get("canceled_at"):
            event("canceled", datetime.fromtimestamp(subscription["canceled_at"], UTC))
    if profile.extra == "reactivated":
        event("reactivated", datetime.fromtimestamp(subs[-1][0]["created"], UTC))
    if profile.saved_at is not None:
        coupon = profile.coupon if profile.coupon in ("SAVE25", "SAVE50") else None
        event("saved", profile.saved_at, profile.offer, coupon)
    return events


def _crm_records(
    rng: random.Random,
    profile: Profile,
    number: int,
    subs: list[tuple[dict[str, Any], list[tuple[datetime, datetime]], bool]],
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A HubSpot company and contact (API object shapes) for the subscriber."""
    company_id = str(9_000_000 + number)
    contact_id = str(1_000_000 + number)
    main = subs[-1][0] if profile.extra != "second_workspace" else subs[0][0]
    revenue_per_employee = rng.randint(60, 260) * 1000
    owner = rng.choice(OWNERS)
    renewal: date | None = None
    if main["status"] != "canceled" and main.get("current_period_end"):
        renewal = datetime.fromtimestamp(main["current_period_end"], UTC).date()
    company: dict[str, Any] = {
        "id": company_id,
        "properties": {
            "name": profile.company,
            "domain": profile.email.split("@", 1)[1],
            "industry": _weighted(rng, INDUSTRIES),
            "numberofemployees": str(profile.employees),
            "annualrevenue": str(profile.employees * revenue_per_employee),
            "annual_revenue_currency": profile.currency.upper(),
            "country": profile.country,
            "hubspot_owner_id": owner,
            "renewal_date": renewal.isoformat() if renewal else None,
            "health_score": str(profile.health),
            "hs_lastmodifieddate": iso(now - timedelta(days=rng.randint(0, 60))),
        },
    }
    if main["status"] == "trialing":
        stage, lead = "opportunity", "OPEN_DEAL"
    elif main["status"] == "canceled":
        stage, lead = "other", rng.choice(("BAD_TIMING", "UNQUALIFIED"))
    elif profile.health > 85 and rng.random() < 0.4:
        stage, lead = "evangelist", "CONNECTED"
    else:
        stage, lead = "customer", rng.choice(("CONNECTED", "IN_PROGRESS", "OPEN"))
    properties: dict[str, Any] = {
        "email": profile.email if profile.crm == "external_id" or rng.random() < 0.5
        else profile.email.upper(),
        "firstname": profile.first,
        "lastname": profile.last,
        "lifecyclestage": stage,
        "hs_lead_status": lead,
        "hubspot_owner_id": owner,
        "company": profile.company,
        "country": profile.country,
        "lastmodifieddate": iso(now - timedelta(days=rng.randint(0, 90))),
    }  # fmt: skip
    if profile.crm == "external_id":
        properties["external_id"] = profile.ident
    contact = {
        "id": contact_id,
        "properties": properties,
        "associations": {
            "companies": {"results": [{"id": company_id, "type": "contact_to_company"}]}
        },
    }
    return company, contact


def _cdp_messages(rng: random.Random, profile: Profile, now: datetime) -> list[dict[str, Any]]:
    """An identify call and a few track calls, the latest ``last_seen_days`` ago."""
    if profile.cdp == "none":
        return []
    prefix = f"demo-{profile.ident[9:]}"
    last = now - timedelta(days=profile.last_seen_days, minutes=rng.randint(1, 600))
    last = max(last, profile.created + timedelta(minutes=5))
    earliest = profile.created + timedelta(minutes=1)
    product = PRICES[profile.price][1].split()[0]
    messages: list[dict[str, Any]] = [
        {
            "type": "identify",
            "userId": profile.ident,
            "messageId": f"{prefix}-identify",
            "timestamp": iso(earliest),
            "traits": {
                "plan": product,
                "seats": profile.quantity + profile.seats,
                "role": rng.choice(ROLES),
            },
        }
    ]
    if profile.cdp == "active":
        counts = {"Login": rng.randint(1, 5), "Feature Used": rng.randint(0, 2),
                  "Report Exported": rng.choice((0, 0, 0, 1))}  # fmt: skip
        window = 29
    else:
        counts = {"Login": rng.randint(1, 2), "Feature Used": rng.choice((0, 1)),
                  "Report Exported": 0}  # fmt: skip
        window = 60
    times = []
    for event, count in counts.items():
        for _ in range(count):
            times.append(event)
    rng.shuffle(times)
    for index, event in enumerate(times):
        if index == 0:
            at = last
        else:
            at = last - timedelta(days=rng.random() * window)
            at = max(at, earliest)
        message: dict[str, Any] = {
            "type": "track",
            "userId": profile.ident,
            "event": event,
            "messageId": f"{prefix}-{index + 1:02d}",
            "timestamp": iso(at),
            "properties": {},
        }
        if event == "Feature Used":
            message["properties"] = {"feature": rng.choice(FEATURES)}
        elif event == "Report Exported":
            message["properties"] = {"format": rng.choice(("csv", "pdf", "xlsx"))}
        messages.append(message)
    return messages


def _custom_values(rng: random.Random, profile: Profile) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    product = PRICES[profile.price][0]
    if rng.random() < 0.7:
        tier = {"prod_demo_business": "GOLD", "prod_demo_pro": "SILVER"}.get(product, "BRONZE")
        if rng.random() < 0.1:
            tier = rng.choice(("GOLD", "SILVER", "BRONZE"))
        out.append((profile.ident, "account_tier", tier))
    if rng.random() < 0.35:
        base = 8 if profile.health > 60 else 5
        out.append((profile.ident, "nps_score", max(0, min(10, base + rng.randint(-3, 2)))))
    if profile.status != "trialing" or rng.random() < 0.4:
        out.append((profile.ident, "onboarding_completed", rng.random() < 0.85))
    if rng.random() < 0.1:
        out.append(
            (profile.ident, "beta_features", rng.sample(("ai-assist", "new-editor", "sso"), 2))
        )
    return out
