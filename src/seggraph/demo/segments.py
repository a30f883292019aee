"""The demo's example segments, in the text form of conditions (docs/text-form.md).

Each is created in TEST mode through :class:`seggraph.services.segments.SegmentService` (so
validation runs exactly as for a user's segment); those marked ``live`` are then copied to LIVE
with ``copy_to_mode``. ``{name}`` in a text is replaced by the id of the demo segment with that
key (for ``IN SEGMENT``), so a segment comes after those it references.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSegment:
    key: str
    name: str
    description: str
    tags: tuple[str, ...]
    text: str
    live: bool = False


SEGMENTS: tuple[DemoSegment, ...] = (
    DemoSegment(
        "high_mrr",
        "High MRR (> $100)",
        "Subscribers paying more than $100 a month across their subscriptions.",
        ("retention", "vip"),
        "subscriber.mrr > 100",
        live=True,
    ),
    DemoSegment(
        "annual",
        "Annual plans",
        "Active subscriptions billed yearly.",
        ("pricing",),
        'plan.interval = "YEAR" AND subscription.status = "ACTIVE"',
    ),
    DemoSegment(
        "monthly_past_due",
        "Monthly, past due",
        "Monthly subscriptions whose latest payment failed.",
        ("churn-risk", "retention"),
        'plan.interval = "MONTH" AND plan.interval_count = 1 AND subscription.is_past_due IS TRUE',
    ),
    DemoSegment(
        "trial",
        "On a free trial",
        "Subscriptions still in their free trial.",
        ("trial",),
        "subscription.is_free_trial IS TRUE",
        live=True,
    ),
    DemoSegment(
        "will_not_renew",
        "Will not renew",
        "Live subscriptions set to cancel at the end of the period.",
        ("churn-risk", "retention"),
        'subscription.will_renew IS FALSE AND subscription.status != "CANCELED"',
        live=True,
    ),
    DemoSegment(
        "saved_30d",
        "Saved in the last 30 days",
        "Subscribers who accepted a retention offer in the last 30 days.",
        ("retention",),
        "subscriber.days_since_saved <= 30",
        live=True,
    ),
    DemoSegment(
        "enterprise",
        "Enterprise companies (CRM)",
        "Companies with 1,000 employees or more, or over $100M annual revenue (the revenue of a "
        "company reporting in euros cannot be compared with dollars: UNKNOWN).",
        ("vip", "crm"),
        "crm.company_size >= 1000 OR crm.annual_revenue >= 100000000",
    ),
    DemoSegment(
        "inactive_14d",
        "Inactive for 14 days (CDP)",
        "Active subscribers the CDP has not seen for two weeks or more.",
        ("churn-risk", "cdp"),
        'cdp.days_since_last_seen >= 14 AND subscription.status = "ACTIVE"',
    ),
    DemoSegment(
        "discounted",
        "Discounted > 20%",
        "Live subscriptions whose coupon takes more than 20% off.",
        ("pricing",),
        'subscription.discount_percentage > 20 AND subscription.status != "CANCELED"',
    ),
    DemoSegment(
        "addons",
        "Has add-ons",
        "Live subscriptions with extra seats or priority support.",
        ("pricing", "expansion"),
        'addon.id IS NOT EMPTY AND subscription.status != "CANCELED"',
    ),
    DemoSegment(
        "long_time",
        "Long-time subscribers (> 365 days)",
        "Active subscriptions older than a year.",
        ("vip", "retention"),
        'subscription.duration_days > 365 AND subscription.status = "ACTIVE"',
    ),
    DemoSegment(
        "gold_monthly",
        "Gold accounts on monthly plans",
        "Gold-tier accounts (a custom property) still paying monthly: candidates for an annual "
        "upgrade offer.",
        ("vip", "pricing"),
        'custom.account_tier = "GOLD" AND plan.interval = "MONTH" '
        'AND subscription.status != "CANCELED"',
    ),
    DemoSegment(
        "vip_at_risk",
        "VIPs at risk",
        "High-MRR subscribers who will not renew, have a poor CRM health score or a low NPS.",
        ("vip", "churn-risk"),
        'IN SEGMENT "{high_mrr}" AND (IN SEGMENT "{will_not_renew}" OR crm.health_score < 50 '
        "OR custom.nps_score <= 6)",
        live=True,
    ),
    DemoSegment(
        "winback_test",
        "Win-back test (25% of churned)",
        "A quarter of the canceled subscribers, chosen by a stable hash, for a win-back offer "
        "experiment.",
        ("retention", "experiment"),
        'subscriber.status = "CANCELED" AND subscriber.bucket PERCENTAGE 25',
    ),
)
