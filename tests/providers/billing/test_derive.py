"""Every billing property, derived exactly as ``spec/properties.md`` writes it (pinned clock).

Table-driven: each row is one case of the issue's list (intervals and interval counts, percent
and fixed coupons, trials, cancellation at period end, past due, several subscriptions, add-ons,
a customer-level coupon, time-zone edges of dates and day counts). Money is compared exactly,
amount and currency, after the one rounding.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seggraph_billing.derive import (
    ALL_KEYS,
    PRODUCT_PLAN_ADDON_KEYS,
    SUBSCRIPTION_KEYS,
    Account,
    Derivation,
    Lookups,
    SubscriberData,
    derive,
    primary_subscription,
    to_money,
)

from seggraph.domain.conditions import Money
from seggraph.domain.currencies import minor_units
from seggraph.evaluation.values import MISSING, Unknown, UnknownReason
from tests.providers.billing.builders import (
    NOW,
    coupon,
    customer,
    discount,
    invoice,
    item,
    price,
    product,
    retention,
    subscription,
    ts,
)

PRICES = {
    p["id"]: p
    for p in [
        price("month_10", 1000, "month", 1, nickname="Basic monthly"),
        price("month3_30", 3000, "month", 3),
        price("month3_10", 1000, "month", 3),
        price("year_120", 12000, "year", 1, product="prod_pro", nickname="Pro yearly"),
        price("year2_240", 24000, "year", 2),
        price("week_10", 1000, "week", 1),
        price("week2_10", 1000, "week", 2),
        price("day_1", 100, "day", 1),
        price("day_10", 1000, "day", 1),
        price("day7_7", 700, "day", 7),
        price("year_6c", 6, "year", 1),
        price("addon_5", 500, "month", 1, product="prod_seats", nickname=None),
        price("addon_2", 200, "month", 1, product="prod_storage", nickname="Extra storage"),
        price("eur_month_10", 1000, "month", 1, currency="eur"),
        price("jpy_month_1000", 1000, "month", 1, currency="jpy"),
        price("jpy_year_1000", 1000, "year", 1, currency="jpy"),
        price("decimal_month", None, "month", 1, unit_amount_decimal="1234.5"),
        price("month_100", 10000, "month", 1),
    ]
}
PRODUCTS = {
    p["id"]: p
    for p in [
        product("prod_basic", "Basic"),
        product("prod_pro", "Pro"),
        product("prod_seats", "Seats"),
        product("prod_storage", "Storage"),
    ]
}
COUPONS = {
    c["id"]: c
    for c in [
        coupon("pct25", percent_off=25),
        coupon("pct3333", percent_off=33.33),
        coupon("pct100", percent_off=100),
        coupon("pct12_5", percent_off=12.5),
        coupon("off5", amount_off=500, currency="usd"),
        coupon("off12", amount_off=1200, currency="usd"),
        coupon("off3", amount_off=300, currency="usd"),
        coupon("off1", amount_off=100, currency="usd"),
        coupon("off20", amount_off=2000, currency="usd"),
        coupon("off5_eur", amount_off=500, currency="eur"),
    ]
}
LOOKUPS = Lookups(prices=PRICES, products=PRODUCTS, coupons=COUPONS)


def run(
    subscriptions: list[dict[str, Any]] | None = None,
    *,
    cust: dict[str, Any] | None = None,
    invoices: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    zone: str = "UTC",
    currency: str = "USD",
    now: datetime = NOW,
    subscription_id: str | None = None,
    lookups: Lookups = LOOKUPS,
) -> Derivation:
    data = SubscriberData(
        "cus_1",
        customer=cust if cust is not None else customer(),
        subscriptions=subscriptions or [],
        invoices=invoices or [],
        retention_events=events or [],
    )
    account = Account(ZoneInfo(zone), currency)
    whole = derive(data, lookups, account, now, subscription_id)
    # Every case also derives each key asked for alone (as the provider asks for a
    # question's keys), which must be what the whole derivation says.
    for key in ALL_KEYS:
        alone = derive(data, lookups, account, now, subscription_id, frozenset({key}))
        assert alone.values[key] == whole.values[key], key
    return whole


def values(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return run(*args, **kwargs).values


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def assert_money(actual: Any, expected: Money) -> None:
    """Equal amount and currency, and rounded to the currency's minor unit (2 places for USD)."""
    assert isinstance(actual, Money), actual
    assert actual == expected, f"{actual} != {expected}"
    places = minor_units(expected.currency or "USD")
    assert actual.amount.as_tuple().exponent == -places, actual


# --- subscription.mrr ----------------------------------------------------------------------------

MRR_CASES = [
    # (case, items, status, discount, expected)
    ("month x1", [item("month_10")], "active", None, "10.00"),
    ("month every 3", [item("month3_30")], "active", None, "10.00"),
    ("year", [item("year_120")], "active", None, "10.00"),
    ("year every 2", [item("year2_240")], "active", None, "10.00"),
    ("week: x52/12", [item("week_10")], "active", None, "43.33"),
    ("week every 2", [item("week2_10")], "active", None, "21.67"),
    ("day: x365/12", [item("day_1")], "active", None, "30.42"),
    ("day every 7", [item("day7_7")], "active", None, "30.42"),
    ("day: 365/12 exactly, not 30.42", [item("day_10")], "active", None, "304.17"),
    ("quantity 3", [item("month_10", 3)], "active", None, "30.00"),
    ("quantity absent = 1", [item("month_10", None)], "active", None, "10.00"),
    ("half-up at the cent", [item("year_6c")], "active", None, "0.01"),
    ("unit_amount_decimal", [item("decimal_month")], "active", None, "12.35"),
    ("expanded price object", [item(PRICES["week_10"])], "active", None, "43.33"),
    ("past_due counts", [item("month_10")], "past_due", None, "10.00"),
    ("unpaid counts", [item("month_10")], "unpaid", None, "10.00"),
    ("trialing is 0", [item("month_10")], "trialing", None, "0.00"),
    ("paused is 0", [item("month_10")], "paused", None, "0.00"),
    ("incomplete is 0", [item("month_10")], "incomplete", None, "0.00"),
    ("canceled is 0", [item("month_10")], "canceled", None, "0.00"),
    ("incomplete_expired is 0", [item("month_10")], "incomplete_expired", None, "0.00"),
    ("no items", [], "active", None, "0.00"),
    (
        "plan and add-ons summed",
        [item("month_10", kind="plan"), item("addon_5", 2, kind="addon"), item("addon_2")],
        "active",
        None,
        "22.00",
    ),
    ("percent 25", [item("month_10")], "active", discount("pct25"), "7.50"),
    ("percent 33.33 (float)", [item("month_100")], "active", discount("pct3333"), "66.67"),
    ("percent 12.5 on a week", [item("week_10")], "active", discount("pct12_5"), "37.92"),
    ("percent 100", [item("month_10")], "active", discount("pct100"), "0.00"),
    ("fixed per month", [item("month_10")], "active", discount("off5"), "5.00"),
    ("fixed per year plan", [item("year_120")], "active", discount("off12"), "9.00"),
    ("fixed per 3-month plan", [item("month3_30")], "active", discount("off3"), "9.00"),
    ("fixed per week plan", [item("week_10")], "active", discount("off1"), "39.00"),
    ("fixed per day plan: below 0 is 0", [item("day_1")], "active", discount("off1"), "0.00"),
    ("fixed larger than the price", [item("month_10")], "active", discount("off20"), "0.00"),
    (
        "fixed per plan period, add-ons on another interval",
        [item("year_120", kind="plan"), item("addon_5", kind="addon")],
        "active",
        discount("off12"),
        "14.00",
    ),
    (
        "plan is the item marked plan, not the first",
        [item("addon_5", kind="addon"), item("year_120", kind="plan")],
        "active",
        discount("off12"),
        "14.00",
    ),
    (
        "fixed coupon in another currency",
        [item("month_10")],
        "active",
        discount("off5_eur"),
        "10.00",
    ),
    ("expanded coupon object", [item("month_10")], "active", discount(COUPONS["pct25"]), "7.50"),
    (
        "discount not started",
        [item("month_10")],
        "active",
        discount("pct25", start="2026-03-16T00:00:00"),
        "10.00",
    ),
    (
        "discount ended",
        [item("month_10")],
        "active",
        discount("pct25", start="2026-01-01T00:00:00", end="2026-03-15T12:00:00"),
        "10.00",
    ),
    (
        "discount in its window",
        [item("month_10")],
        "active",
        discount("pct25", start="2026-03-15T12:00:00", end="2026-03-15T12:00:01"),
        "7.50",
    ),
    ("coupon on a trial is still 0", [item("month_10")], "trialing", discount("pct25"), "0.00"),
]


@pytest.mark.parametrize(
    ("items", "status", "disc", "expected"),
    [case[1:] for case in MRR_CASES],
    ids=[case[0] for case in MRR_CASES],
)
def test_subscription_mrr(
    items: list[dict[str, Any]], status: str, disc: dict[str, Any] | None, expected: str
) -> None:
    got = values([subscription("sub_1", items, status, discount=disc)])
    assert_money(got["subscription.mrr"], usd(expected))


def test_subscription_mrr_in_its_own_currency() -> None:
    got = values([subscription("sub_1", [item("jpy_year_1000")], currency="jpy")])
    assert_money(got["subscription.mrr"], Money(Decimal("83"), "JPY"))
    got = values([subscription("sub_1", [item("eur_month_10")], currency=None)])
    assert_money(got["subscription.mrr"], Money(Decimal("10.00"), "EUR"))


CUSTOMER_COUPON_CASES = [
    # (case, subscription discount, customer discount, expected mrr, expected coupon id)
    ("customer-level coupon applies", None, discount("pct25"), "7.50", "pct25"),
    ("subscription's own wins", discount("off5"), discount("pct25"), "5.00", "off5"),
    (
        "subscription's own not in force: the customer's",
        discount("off5", end="2026-03-01T00:00:00"),
        discount("pct25"),
        "7.50",
        "pct25",
    ),
    (
        "customer's not in force either",
        None,
        discount("pct25", end="2026-03-01T00:00:00"),
        "10.00",
        MISSING,
    ),
    ("none", None, None, "10.00", MISSING),
]


@pytest.mark.parametrize(
    ("sub_discount", "cust_discount", "mrr", "coupon_id"),
    [case[1:] for case in CUSTOMER_COUPON_CASES],
    ids=[case[0] for case in CUSTOMER_COUPON_CASES],
)
def test_effective_discount(
    sub_discount: dict[str, Any] | None,
    cust_discount: dict[str, Any] | None,
    mrr: str,
    coupon_id: Any,
) -> None:
    got = values(
        [subscription("sub_1", [item("month_10")], discount=sub_discount)],
        cust=customer(discount=cust_discount),
    )
    assert_money(got["subscription.mrr"], usd(mrr))
    assert got["subscription.active_coupon_id"] == coupon_id


def test_unknown_price_makes_mrr_unknown_not_zero() -> None:
    got = values([subscription("sub_1", [item("price_nowhere")])])
    assert isinstance(got["subscription.mrr"], Unknown)
    assert "not known" in got["subscription.mrr"].detail
    assert isinstance(got["subscriber.mrr"], Unknown)
    # The subscription's MRR is computed once for both keys, the reason with it.
    assert got["subscriber.mrr"].detail == got["subscription.mrr"].detail
    # Not counted anyway when canceled: the price is not needed.
    got = values([subscription("sub_1", [item("price_nowhere")], "canceled")])
    assert_money(got["subscription.mrr"], usd("0"))
    assert got["plan.id"] == "price_nowhere"
    assert got["plan.interval"] is MISSING


def test_a_multi_currency_coupon_applies_its_amount_in_the_subscription_s_currency() -> None:
    """A fixed-amount coupon with ``currency_options`` (Stripe's multi-currency coupons) takes
    off, from a subscription in another currency than its own, the amount it gives for that
    currency, as Stripe charges; without one for that currency it does not apply."""
    multi = coupon("multi", amount_off=500, currency="usd")
    multi["currency_options"] = {"eur": {"amount_off": 450}, "usd": {"amount_off": 500}}
    lookups = Lookups(prices=PRICES, coupons={"multi": multi})
    eur = [
        subscription("sub_1", [item("eur_month_10")], currency="eur", discount=discount("multi"))
    ]
    got = values(eur, lookups=lookups)
    assert_money(got["subscription.mrr"], Money(Decimal("5.50"), "EUR"))
    assert_money(got["subscription.discount_fixed_amount"], Money(Decimal("4.50"), "EUR"))
    usd_sub = [subscription("sub_1", [item("month_10")], discount=discount("multi"))]
    got = values(usd_sub, lookups=lookups)
    assert_money(got["subscription.mrr"], usd("5.00"))
    assert_money(got["subscription.discount_fixed_amount"], usd("5.00"))
    # No amount for JPY: the coupon does not apply, and its amount is its own.
    jpy = [
        subscription("sub_1", [item("jpy_month_1000")], currency="jpy", discount=discount("multi"))
    ]
    got = values(jpy, lookups=lookups)
    assert_money(got["subscription.mrr"], Money(Decimal("1000"), "JPY"))
    assert_money(got["subscription.discount_fixed_amount"], usd("5.00"))


def newer_discount(coupon_id: str) -> dict[str, Any]:
    """A discount as newer API versions (2025-09-30.clover) send it: its coupon an id in
    ``source``, not expanded."""
    out = discount(coupon_id)
    del out["coupon"]
    out["source"] = {"type": "coupon", "coupon": coupon_id}
    return out


@pytest.mark.parametrize("level", ["subscription", "customer"])
def test_a_discount_whose_coupon_is_not_known_makes_the_amounts_unknown(level: str) -> None:
    """A discount in force whose coupon is known by its id alone: what it takes off is not
    known, so the MRR and the discount's amounts are unknown, not the undiscounted price and
    "no discount"; its coupon id is known."""
    own = newer_discount("coupon_elsewhere") if level == "subscription" else None
    cust = customer(discount=newer_discount("coupon_elsewhere") if level == "customer" else None)
    got = values([subscription("sub_1", [item("month_10")], discount=own)], cust=cust)
    for key in (
        "subscription.mrr",
        "subscriber.mrr",
        "subscription.discount_percentage",
        "subscription.discount_fixed_amount",
    ):
        assert isinstance(got[key], Unknown), (key, got[key])
        assert "coupon_elsewhere" in got[key].detail and "not known" in got[key].detail
    assert got["subscription.active_coupon_id"] == "coupon_elsewhere"
    # Known in the lookups (the catalogue holds it), the same shape is read in full.
    got = values([subscription("sub_1", [item("month_10")], discount=newer_discount("pct25"))])
    assert_money(got["subscription.mrr"], usd("7.50"))
    assert got["subscription.discount_percentage"] == 25
    assert got["subscription.discount_fixed_amount"] is MISSING
    # Not counted anyway while trialing: the coupon is not needed for the MRR.
    trial = [subscription("sub_1", [item("month_10")], "trialing", discount=own, customer="cus_1")]
    assert_money(values(trial, cust=cust)["subscriber.mrr"], usd("0"))


UNREADABLE_BOUND_CASES = [
    # (case, bound, raw): a start or an end that is there but is no time
    ("end in milliseconds", "end", ts("2026-03-01T00:00:00") * 1000),
    ("start in milliseconds", "start", ts("2026-01-01T00:00:00") * 1000),
    ("end as text", "end", "next month"),
    ("start a boolean", "start", True),
]


@pytest.mark.parametrize("level", ["subscription", "customer"])
@pytest.mark.parametrize(
    ("bound", "raw"),
    [case[1:] for case in UNREADABLE_BOUND_CASES],
    ids=[case[0] for case in UNREADABLE_BOUND_CASES],
)
def test_a_discount_bound_that_is_no_time_makes_what_depends_on_it_unknown(
    level: str, bound: str, raw: Any
) -> None:
    """A discount whose ``start`` or ``end`` is there but is no time was taken for one with no
    bound, so in force for ever: the MRR discounted, its coupon and percentage given as
    known. Whether it is in force is not known: those values are UNKNOWN, naming the field."""
    disc = discount("pct25")
    disc[bound] = raw
    own = disc if level == "subscription" else None
    cust = customer(discount=disc if level == "customer" else None)
    got = values([subscription("sub_1", [item("month_10")], discount=own)], cust=cust)
    keys = [
        "subscription.mrr",
        "subscriber.mrr",
        "subscription.active_coupon_id",
        "subscription.discount_percentage",
        "subscription.discount_fixed_amount",
    ]
    if level == "customer":
        keys.append("subscriber.active_coupon_id")
    else:
        assert got["subscriber.active_coupon_id"] is MISSING
    for key in keys:
        found = got[key]
        assert isinstance(found, Unknown), (key, found)
        assert found.reason is UnknownReason.PROVIDER_ERROR
        assert f"{bound} of discount 'di_pct25' is " in found.detail, found.detail
    # The values that do not read the discount answer as usual.
    assert got["subscription.duration_days"] == 73
    assert got["plan.id"] == "month_10"


def test_a_readable_bound_that_puts_a_discount_out_of_force_decides() -> None:
    """An end that is past (or a start to come) puts the discount out of force whatever its
    other bound holds; a subscription's own discount in force hides the customer's."""
    ended = discount("pct25", end="2026-03-01T00:00:00") | {"start": "soon"}
    later = discount("pct25", start="2026-04-01T00:00:00") | {"end": 10**15}
    for disc in (ended, later):
        got = values([subscription("sub_1", [item("month_10")], discount=disc)])
        assert_money(got["subscription.mrr"], usd("10.00"))
        assert got["subscription.active_coupon_id"] is MISSING
    cust = customer(discount=discount("off12") | {"end": "soon"})
    got = values([subscription("sub_1", [item("month_10")], discount=discount("pct25"))], cust=cust)
    assert_money(got["subscription.mrr"], usd("7.50"))
    assert got["subscription.active_coupon_id"] == "pct25"
    assert isinstance(got["subscriber.active_coupon_id"], Unknown)


# --- subscriber.mrr ------------------------------------------------------------------------------


def test_subscriber_mrr_sums_exact_values_then_rounds() -> None:
    subs = [
        subscription(f"sub_{i}", [item("month3_10")], created=f"2026-01-0{i}T00:00:00")
        for i in (1, 2, 3)
    ]
    got = values(subs)
    assert_money(got["subscription.mrr"], usd("3.33"))  # each alone
    assert_money(got["subscriber.mrr"], usd("10.00"))  # not 9.99


def test_subscriber_mrr_over_several_subscriptions_and_statuses() -> None:
    subs = [
        subscription("sub_a", [item("month_10")], "active"),
        subscription("sub_b", [item("year_120"), item("addon_5")], "past_due"),
        subscription("sub_c", [item("month_100")], "trialing"),
        subscription("sub_d", [item("month_100")], "canceled"),
    ]
    assert_money(values(subs)["subscriber.mrr"], usd("25.00"))


def test_subscriber_mrr_only_in_the_account_currency() -> None:
    subs = [
        subscription("sub_usd", [item("month_10")]),
        subscription("sub_eur", [item("eur_month_10")], currency="eur"),
    ]
    out = run(subs)
    assert_money(out.values["subscriber.mrr"], usd("10.00"))
    assert any("sub_eur" in note and "EUR" in note for note in out.notes["subscriber.mrr"])
    out = run(subs, currency="EUR")
    assert_money(out.values["subscriber.mrr"], Money(Decimal("10.00"), "EUR"))


def test_subscriber_mrr_is_known_when_only_a_subscription_in_another_currency_is_not() -> None:
    """A subscription in another currency is left out of ``subscriber.mrr`` whatever its MRR,
    so one whose MRR cannot be derived (its price not known yet) does not make the sum
    UNKNOWN; one in the account currency still does."""
    subs = [
        subscription("sub_usd", [item("month_10")]),
        subscription("sub_eur", [item("price_nowhere")], currency="eur"),
    ]
    out = run(subs)
    assert_money(out.values["subscriber.mrr"], usd("10.00"))
    assert any("sub_eur" in note and "EUR" in note for note in out.notes["subscriber.mrr"])
    assert isinstance(run(subs, subscription_id="sub_eur").values["subscription.mrr"], Unknown)
    subs[1] = subscription("sub_usd2", [item("price_nowhere")])
    assert isinstance(values(subs)["subscriber.mrr"], Unknown)


def test_subscriber_mrr_in_a_zero_decimal_account_currency() -> None:
    got = values([subscription("sub_1", [item("jpy_month_1000")], currency="jpy")], currency="JPY")
    assert_money(got["subscriber.mrr"], Money(Decimal("1000"), "JPY"))


@pytest.mark.parametrize(
    ("currency", "stripe_amount", "expected", "discounted", "total"),
    [
        # ISK: no decimals in ISO 4217, two in Stripe's API (100 is 1 króna).
        ("ISK", 199000, "1990", "1973", "3963"),
        # MGA: two decimals in ISO 4217, one of Stripe's zero-decimal currencies.
        ("MGA", 10000, "10000.00", "9916.67", "19916.67"),
        ("KWD", 5000, "5.000", "4.958", "9.958"),
    ],
)
def test_amounts_are_read_with_stripe_decimals(
    currency: str, stripe_amount: int, expected: str, discounted: str, total: str
) -> None:
    """Stripe writes an amount in the currency's smallest unit as its API counts it, which for
    ISK and MGA is not ISO 4217's; the value returned is rounded to ISO's minor unit."""
    code = currency.lower()
    monthly = price("p", stripe_amount, currency=code)
    yearly = price("y", stripe_amount * 12, "year", currency=code)
    off = coupon("c", amount_off=stripe_amount // 10, currency=code)
    lookups = Lookups(prices={"p": monthly, "y": yearly}, coupons={"c": off})
    subs = [
        subscription("sub_1", [item("p")], currency=code, created="2026-01-02T00:00:00"),
        subscription("sub_2", [item("y")], currency=code, discount=discount("c")),
    ]
    invoices = [invoice("in_1", stripe_amount, subscription="sub_1", currency=code)]
    got = values(subs, invoices=invoices, currency=currency, lookups=lookups)
    amount = Decimal(expected)
    assert_money(got["subscription.mrr"], Money(amount, currency))
    assert_money(got["subscriber.mrr"], Money(Decimal(total), currency))
    assert_money(got["subscriber.ltv"], Money(amount, currency))
    assert_money(got["subscription.ltv"], Money(amount, currency))
    second = values(
        subs, invoices=invoices, currency=currency, lookups=lookups, subscription_id="sub_2"
    )
    # A tenth of a month's price off each year: a 120th of it off each month.
    assert_money(second["subscription.mrr"], Money(Decimal(discounted), currency))
    assert second["subscription.discount_fixed_amount"] == Money(amount / 10, currency)


# --- LTV -----------------------------------------------------------------------------------------

INVOICES = [
    invoice("in_1", 1000, subscription="sub_1"),
    invoice("in_2", 2000, subscription="sub_1", refunded=500),
    invoice("in_3", 3000, subscription="sub_1", status="open"),
    invoice("in_4", 4000, subscription="sub_1", status="void"),
    invoice("in_5", 700, subscription="sub_2"),
    invoice("in_6", 333, subscription=None),
    invoice("in_7", 9900, subscription="sub_1", currency="eur"),
    invoice("in_8", 1000, subscription="sub_1", status="uncollectible"),
    invoice("in_9", 0, subscription="sub_1", status="draft"),
]


def test_ltv_counts_paid_invoices_minus_refunds() -> None:
    subs = [
        subscription("sub_1", [item("month_10")], created="2026-02-01T00:00:00"),
        subscription("sub_2", [item("month_10")], created="2026-01-01T00:00:00"),
    ]
    out = run(subs, invoices=INVOICES)
    # 10 + (20 - 5) + 7 + 3.33; the EUR invoice is left out, with a note.
    assert_money(out.values["subscriber.ltv"], usd("35.33"))
    assert any("in_7" in note for note in out.notes["subscriber.ltv"])
    # sub_1 (the primary): 10 + 15 only.
    assert_money(out.values["subscription.ltv"], usd("25.00"))
    assert_money(
        values(subs, invoices=INVOICES, subscription_id="sub_2")["subscription.ltv"], usd("7.00")
    )


def test_subscription_with_no_paid_invoice_has_ltv_zero() -> None:
    got = values(
        [subscription("sub_1", [item("month_10")])],
        invoices=[invoice("in_1", 1000, subscription="sub_1", status="open")],
    )
    assert_money(got["subscription.ltv"], usd("0"))
    assert_money(got["subscriber.ltv"], usd("0"))


def test_invoice_subscription_in_the_newer_parent_shape() -> None:
    newer = invoice("in_1", 1200)
    del newer["subscription"]
    newer["parent"] = {
        "type": "subscription_details",
        "subscription_details": {"subscription": "sub_1"},
    }
    got = values([subscription("sub_1", [item("month_10")])], invoices=[newer])
    assert_money(got["subscription.ltv"], usd("12.00"))


def test_fully_refunded_invoice_counts_zero() -> None:
    got = values(
        [subscription("sub_1", [item("month_10")])],
        invoices=[
            invoice("in_1", 1000, subscription="sub_1", refunded=1000),
            invoice("in_2", 1000, subscription="sub_1"),
        ],
    )
    assert_money(got["subscription.ltv"], usd("10.00"))


# --- a subscriber with no subscriptions ------------------------------------------------------------


def test_subscriber_without_subscriptions() -> None:
    got = values([])
    assert_money(got["subscriber.mrr"], usd("0"))
    assert_money(got["subscriber.ltv"], usd("0"))
    assert got["subscriber.status"] == "CANCELED"
    for key in SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS:
        assert got[key] is MISSING, key


def test_subscriber_without_subscriptions_keeps_its_paid_invoices() -> None:
    got = values([], invoices=[invoice("in_1", 4999), invoice("in_2", 100, status="open")])
    assert_money(got["subscriber.ltv"], usd("49.99"))


def test_unknown_or_deleted_customer_has_no_values() -> None:
    unknown = derive(SubscriberData("cus_x"), LOOKUPS, Account(ZoneInfo("UTC"), "USD"), NOW)
    assert all(value is MISSING for value in unknown.values.values())
    assert set(unknown.values) == set(ALL_KEYS)
    deleted = values([], cust={"id": "cus_1", "deleted": True})
    assert all(value is MISSING for value in deleted.values())


# --- subscriber.status and retention events ----------------------------------------------------

LIVE = [subscription("sub_1", [item("month_10")])]
CANCELED = [subscription("sub_1", [item("month_10")], "canceled")]

STATUS_CASES = [
    ("no events", LIVE, [], "ACTIVE"),
    ("saved", LIVE, [retention("saved", "2026-03-01T00:00:00", offer_id="o1")], "SAVED"),
    (
        "reactivated after saved",
        LIVE,
        [
            retention("saved", "2026-03-01T00:00:00", offer_id="o1"),
            retention("reactivated", "2026-03-02T00:00:00"),
        ],
        "REACTIVATED",
    ),
    (
        "latest is a cancel: ACTIVE while a subscription is live",
        LIVE,
        [retention("saved", "2026-03-01T00:00:00"), retention("canceled", "2026-03-02T00:00:00")],
        "ACTIVE",
    ),
    (
        "latest by at, not by order recorded",
        LIVE,
        [
            retention("saved", "2026-03-05T00:00:00"),
            retention("reactivated", "2026-03-02T00:00:00"),
        ],
        "SAVED",
    ),
    (
        "tie on at: the one recorded last",
        LIVE,
        [
            retention("saved", "2026-03-05T00:00:00"),
            retention("reactivated", "2026-03-05T00:00:00"),
        ],
        "REACTIVATED",
    ),
    ("no live subscription", CANCELED, [retention("saved", "2026-03-01T00:00:00")], "CANCELED"),
    (
        "incomplete_expired is not live",
        [subscription("sub_1", [item("month_10")], "incomplete_expired")],
        [],
        "CANCELED",
    ),
    (
        "trialing is live",
        [subscription("sub_1", [item("month_10")], "trialing")],
        [],
        "ACTIVE",
    ),
    (
        "one live among canceled",
        [*CANCELED, subscription("sub_2", [item("month_10")], "past_due")],
        [retention("saved", "2026-03-01T00:00:00")],
        "SAVED",
    ),
]


@pytest.mark.parametrize(
    ("subs", "events", "expected"),
    [case[1:] for case in STATUS_CASES],
    ids=[case[0] for case in STATUS_CASES],
)
def test_subscriber_status(
    subs: list[dict[str, Any]], events: list[dict[str, Any]], expected: str
) -> None:
    assert values(subs, events=events)["subscriber.status"] == expected


def test_active_offer_and_days_since_saved_read_the_latest_save() -> None:
    events = [
        retention("saved", "2026-02-01T10:00:00", offer_id="offer_old", coupon_id="c_old"),
        retention("saved", "2026-03-05T10:00:00", offer_id="offer_new", coupon_id="c_new"),
        retention("reactivated", "2026-03-10T10:00:00"),
    ]
    got = values(LIVE, events=events)
    assert got["subscriber.active_offer_id"] == "offer_new"
    assert got["subscriber.days_since_saved"] == 10
    assert got["subscriber.status"] == "REACTIVATED"


def test_never_saved_leaves_offer_and_days_missing() -> None:
    got = values(LIVE, events=[retention("canceled", "2026-03-01T00:00:00")])
    assert got["subscriber.active_offer_id"] is MISSING
    assert got["subscriber.days_since_saved"] is MISSING


DAYS_SINCE_SAVED_TZ = [
    # (zone, now, saved at, days): local date of now minus local date of the save
    ("UTC", "2026-03-15T06:00:00+00:00", "2026-03-14T07:30:00", 1),
    # 23:00 on the 14th and 00:30 on the 14th in Los Angeles: the same day.
    ("America/Los_Angeles", "2026-03-15T06:00:00+00:00", "2026-03-14T07:30:00", 0),
    # 00:30 on the 16th and 23:30 on the 15th in Tokyo: one day, though only an hour apart.
    ("Asia/Tokyo", "2026-03-15T15:30:00+00:00", "2026-03-15T14:30:00", 1),
    ("UTC", "2026-03-15T15:30:00+00:00", "2026-03-15T14:30:00", 0),
    # Across the US spring-forward (8 March 2026): calendar days, not 24-hour periods.
    # 23:30 on the 7th (EST) to 00:30 on the 9th (EDT): 24 hours, two calendar days.
    ("America/New_York", "2026-03-09T04:30:00+00:00", "2026-03-08T04:30:00", 2),
    # 00:30 to 23:30 on the 8th: 22 hours, the same day.
    ("America/New_York", "2026-03-09T03:30:00+00:00", "2026-03-08T05:30:00", 0),
]


@pytest.mark.parametrize(("zone", "now", "saved", "days"), DAYS_SINCE_SAVED_TZ)
def test_days_since_saved_in_the_account_time_zone(
    zone: str, now: str, saved: str, days: int
) -> None:
    got = values(
        LIVE, events=[retention("saved", saved)], zone=zone, now=datetime.fromisoformat(now)
    )
    assert got["subscriber.days_since_saved"] == days


def test_subscriber_active_coupon_is_the_customer_level_one() -> None:
    with_own = [subscription("sub_1", [item("month_10")], discount=discount("pct25"))]
    assert values(with_own)["subscriber.active_coupon_id"] is MISSING
    got = values(with_own, cust=customer(discount=discount("off5")))
    assert got["subscriber.active_coupon_id"] == "off5"
    assert got["subscription.active_coupon_id"] == "pct25"
    ended = customer(discount=discount("off5", end="2026-03-15T11:59:59"))
    assert values(with_own, cust=ended)["subscriber.active_coupon_id"] is MISSING
    # A coupon only known by id (not in the lookups) still has its id.
    got = values([], cust=customer(discount=discount("coupon_elsewhere")))
    assert got["subscriber.active_coupon_id"] == "coupon_elsewhere"


# --- subscription properties -----------------------------------------------------------------------

STATUS_MAP = [
    # (status, subscription.status, is_free_trial, is_past_due, will_renew)
    ("trialing", "TRIALING", True, False, True),
    ("active", "ACTIVE", False, False, True),
    ("past_due", "ACTIVE", False, True, True),
    ("unpaid", "ACTIVE", False, True, True),
    ("incomplete", "ACTIVE", False, False, True),
    ("paused", "ACTIVE", False, False, True),
    ("canceled", "CANCELED", False, False, False),
    ("incomplete_expired", "CANCELED", False, False, False),
]


@pytest.mark.parametrize(("status", "mapped", "trial", "past_due", "renews"), STATUS_MAP)
def test_subscription_status_flags(
    status: str, mapped: str, trial: bool, past_due: bool, renews: bool
) -> None:
    got = values([subscription("sub_1", [item("month_10")], status)])
    assert got["subscription.status"] == mapped
    assert got["subscription.is_free_trial"] is trial
    assert got["subscription.is_past_due"] is past_due
    assert got["subscription.will_renew"] is renews


RENEWAL_CASES = [
    # (case, subscription kwargs, zone, will_renew, next_billing_date)
    ("active: period end", {}, "UTC", True, date(2026, 4, 1)),
    (
        "trialing: trial end",
        {"status": "trialing", "trial_end": "2026-03-29T09:00:00"},
        "UTC",
        True,
        date(2026, 3, 29),
    ),
    ("trialing without trial_end", {"status": "trialing"}, "UTC", True, MISSING),
    ("cancel at period end", {"cancel_at_period_end": True}, "UTC", False, MISSING),
    ("cancel_at set", {"cancel_at": "2026-06-01T00:00:00"}, "UTC", False, MISSING),
    (
        "canceled",
        {"status": "canceled", "canceled_at": "2026-03-01T00:00:00"},
        "UTC",
        False,
        MISSING,
    ),
    (
        "trial that ends with cancellation",
        {"status": "trialing", "trial_end": "2026-03-29T09:00:00", "cancel_at_period_end": True},
        "UTC",
        False,
        MISSING,
    ),
    ("past due still renews", {"status": "past_due"}, "UTC", True, date(2026, 4, 1)),
    # 2026-04-01T03:00Z is still 31 March in New York and already 1 April in Paris.
    (
        "period end, New York",
        {"current_period_end": "2026-04-01T03:00:00"},
        "America/New_York",
        True,
        date(2026, 3, 31),
    ),
    (
        "period end, Paris",
        {"current_period_end": "2026-04-01T03:00:00"},
        "Europe/Paris",
        True,
        date(2026, 4, 1),
    ),
    (
        "period end, Kiritimati (UTC+14)",
        {"current_period_end": "2026-03-31T11:00:00"},
        "Pacific/Kiritimati",
        True,
        date(2026, 4, 1),
    ),
    (
        "trial end, Los Angeles",
        {"status": "trialing", "trial_end": "2026-03-20T05:00:00"},
        "America/Los_Angeles",
        True,
        date(2026, 3, 19),
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "zone", "renews", "next_date"),
    [case[1:] for case in RENEWAL_CASES],
    ids=[case[0] for case in RENEWAL_CASES],
)
def test_will_renew_and_next_billing_date(
    kwargs: dict[str, Any], zone: str, renews: bool, next_date: Any
) -> None:
    got = values([subscription("sub_1", [item("month_10")], **kwargs)], zone=zone)
    assert got["subscription.will_renew"] is renews
    assert got["subscription.next_billing_date"] == next_date
    if next_date is not MISSING:
        assert type(got["subscription.next_billing_date"]) is date


@pytest.mark.parametrize("raw", ["false", "true", 0, 1, "no"])
def test_a_cancel_at_period_end_that_is_no_boolean_makes_renewal_unknown(raw: Any) -> None:
    """``cancel_at_period_end`` written as text (an import from a CSV export: ``"false"``) or a
    number was read by its truth: ``"false"`` made the subscription one that will not renew,
    with no next billing date. Whether it renews is not known: both are UNKNOWN, naming the
    field. A cancellation that decides it anyway (canceled, or a ``cancel_at``) still does."""
    sub = subscription("sub_1", [item("month_10")])
    sub["cancel_at_period_end"] = raw
    got = values([sub])
    for key in ("subscription.will_renew", "subscription.next_billing_date"):
        found = got[key]
        assert isinstance(found, Unknown), (key, found)
        assert found.reason is UnknownReason.PROVIDER_ERROR
        assert f"cancel_at_period_end of subscription 'sub_1' is {raw!r}" in found.detail
    assert got["subscription.status"] == "ACTIVE"
    assert_money(got["subscription.mrr"], usd("10.00"))
    ending = subscription("sub_1", [item("month_10")], cancel_at="2026-04-01T00:00:00")
    ending["cancel_at_period_end"] = raw
    got = values([ending])
    assert got["subscription.will_renew"] is False
    assert got["subscription.next_billing_date"] is MISSING


def test_period_end_falls_back_to_the_plan_item() -> None:
    items = [
        item("addon_5", kind="addon", current_period_end=ts("2026-05-01T00:00:00")),
        item("month_10", kind="plan", current_period_end=ts("2026-04-10T00:00:00")),
    ]
    got = values([subscription("sub_1", items, current_period_end=None)])
    assert got["subscription.next_billing_date"] == date(2026, 4, 10)
    bare = values([subscription("sub_1", [item("month_10")], current_period_end=None)])
    assert bare["subscription.next_billing_date"] is MISSING
    assert bare["subscription.will_renew"] is True


DURATION_CASES = [
    # (zone, created, now, days)
    ("UTC", "2026-03-05T12:00:00", "2026-03-15T12:00:00+00:00", 10),
    ("UTC", "2026-03-15T11:00:00", "2026-03-15T12:00:00+00:00", 0),
    ("UTC", "2025-03-15T12:00:00", "2026-03-15T12:00:00+00:00", 365),
    # Created 23:30 on 1 March in Paris, now 00:30 on 16 March in Paris: 15 days (14 in UTC).
    ("Europe/Paris", "2026-03-01T22:30:00", "2026-03-15T23:30:00+00:00", 15),
    ("UTC", "2026-03-01T22:30:00", "2026-03-15T23:30:00+00:00", 14),
    # Created 20:00 on 28 Feb in New York (1 March UTC), now 1 March 23:00 New York.
    ("America/New_York", "2026-03-01T01:00:00", "2026-03-02T04:00:00+00:00", 1),
    ("UTC", "2026-03-01T01:00:00", "2026-03-02T04:00:00+00:00", 1),
    ("America/New_York", "2026-03-01T06:00:00", "2026-03-02T04:00:00+00:00", 0),
]


@pytest.mark.parametrize(("zone", "created", "now", "days"), DURATION_CASES)
def test_duration_days(zone: str, created: str, now: str, days: int) -> None:
    got = values(
        [subscription("sub_1", [item("month_10")], created=created)],
        zone=zone,
        now=datetime.fromisoformat(now),
    )
    assert got["subscription.duration_days"] == days


def test_duration_days_of_a_canceled_subscription_counts_to_now() -> None:
    got = values(
        [
            subscription(
                "sub_1",
                [item("month_10")],
                "canceled",
                created="2026-01-14T12:00:00",
                canceled_at="2026-02-01T00:00:00",
            )
        ]
    )
    assert got["subscription.duration_days"] == 60


DISCOUNT_PROPERTY_CASES = [
    # (case, discount, coupon id, percentage, fixed amount)
    ("percent", discount("pct25"), "pct25", 25, MISSING),
    ("percent with decimals", discount("pct3333"), "pct3333", Decimal("33.33"), MISSING),
    ("fixed", discount("off5"), "off5", MISSING, usd("5.00")),
    ("fixed in EUR", discount("off5_eur"), "off5_eur", MISSING, Money(Decimal("5.00"), "EUR")),
    ("none", None, MISSING, MISSING, MISSING),
    ("not in force", discount("pct25", end="2026-03-15T12:00:00"), MISSING, MISSING, MISSING),
]


@pytest.mark.parametrize(
    ("disc", "coupon_id", "percentage", "fixed"),
    [case[1:] for case in DISCOUNT_PROPERTY_CASES],
    ids=[case[0] for case in DISCOUNT_PROPERTY_CASES],
)
def test_discount_properties(
    disc: dict[str, Any] | None, coupon_id: Any, percentage: Any, fixed: Any
) -> None:
    got = values([subscription("sub_1", [item("month_10")], discount=disc)])
    assert got["subscription.active_coupon_id"] == coupon_id
    assert got["subscription.discount_percentage"] == percentage
    if fixed is MISSING:
        assert got["subscription.discount_fixed_amount"] is MISSING
    else:
        assert_money(got["subscription.discount_fixed_amount"], fixed)


def test_discount_properties_from_the_customer_level_coupon() -> None:
    got = values(
        [subscription("sub_1", [item("month_10")])], cust=customer(discount=discount("off12"))
    )
    assert got["subscription.active_coupon_id"] == "off12"
    assert_money(got["subscription.discount_fixed_amount"], usd("12.00"))
    assert got["subscription.discount_percentage"] is MISSING


# --- product, plan, add-on -----------------------------------------------------------------------


PLAN_CASES = [
    (
        "first item is the plan when none says so",
        [item("year_120"), item("addon_5"), item("addon_2")],
        {
            "product.id": "prod_pro",
            "product.name": "Pro",
            "plan.id": "year_120",
            "plan.interval": "YEAR",
            "plan.interval_count": 1,
            "plan.quantity": 1,
            "plan.name": "Pro yearly",
            "addon.id": ["addon_5", "addon_2"],
            "addon.name": ["Seats", "Extra storage"],
        },
    ),
    (
        "the item marked plan, wherever it is",
        [item("addon_5", kind="addon"), item("month3_30", 4, kind="plan")],
        {
            "product.id": "prod_basic",
            "product.name": "Basic",
            "plan.id": "month3_30",
            "plan.interval": "MONTH",
            "plan.interval_count": 3,
            "plan.quantity": 4,
            "plan.name": "Basic",  # no nickname: the product's name
            "addon.id": ["addon_5"],
            "addon.name": ["Seats"],
        },
    ),
    (
        "no add-ons: empty lists",
        [item("week2_10", 2)],
        {
            "plan.id": "week2_10",
            "plan.interval": "WEEK",
            "plan.interval_count": 2,
            "plan.quantity": 2,
            "addon.id": [],
            "addon.name": [],
        },
    ),
    (
        "day interval",
        [item("day7_7")],
        {"plan.interval": "DAY", "plan.interval_count": 7},
    ),
    (
        "two items marked plan: the first of them",
        [
            item("addon_2", kind="addon"),
            item("month_10", kind="plan"),
            item("year_120", kind="plan"),
        ],
        {
            "plan.id": "month_10",
            "addon.id": ["addon_2", "year_120"],
            "addon.name": ["Extra storage", "Pro yearly"],
        },
    ),
    (
        "expanded price and product",
        [item(price("custom", 500, "week", product=product("prod_x", "Custom")))],
        {
            "product.id": "prod_x",
            "product.name": "Custom",
            "plan.name": "Custom",
            "plan.interval": "WEEK",
        },
    ),
    (
        "no items",
        [],
        {
            "plan.id": MISSING,
            "product.id": MISSING,
            "plan.name": MISSING,
            "addon.id": [],
            "addon.name": [],
        },
    ),
]


@pytest.mark.parametrize(
    ("items", "expected"),
    [case[1:] for case in PLAN_CASES],
    ids=[case[0] for case in PLAN_CASES],
)
def test_product_plan_addon(items: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    got = values([subscription("sub_1", items)])
    for key, value in expected.items():
        assert got[key] == value, key


def test_lookup_copy_wins_over_an_older_expanded_copy() -> None:
    stale = price("month_10", 1000, nickname="Old name")
    got = values([subscription("sub_1", [item(stale)])])
    assert got["plan.name"] == "Basic monthly"


# --- which subscription ------------------------------------------------------------------------


PRIMARY_CASES = [
    (
        "most recent not canceled",
        [
            ("sub_a", "active", "2026-01-01T00:00:00"),
            ("sub_b", "active", "2026-02-01T00:00:00"),
            ("sub_c", "canceled", "2026-03-01T00:00:00"),
        ],
        "sub_b",
    ),
    (
        "all canceled: most recent",
        [
            ("sub_a", "canceled", "2026-01-01T00:00:00"),
            ("sub_b", "incomplete_expired", "2026-02-01T00:00:00"),
        ],
        "sub_b",
    ),
    (
        "tie on created: greatest id",
        [
            ("sub_b", "active", "2026-01-01T00:00:00"),
            ("sub_c", "active", "2026-01-01T00:00:00"),
            ("sub_a", "active", "2026-01-01T00:00:00"),
        ],
        "sub_c",
    ),
    (
        "trialing counts as not canceled",
        [("sub_a", "active", "2026-01-01T00:00:00"), ("sub_b", "trialing", "2026-02-01T00:00:00")],
        "sub_b",
    ),
]


@pytest.mark.parametrize(
    ("subs", "expected"),
    [case[1:] for case in PRIMARY_CASES],
    ids=[case[0] for case in PRIMARY_CASES],
)
def test_primary_subscription(subs: list[tuple[str, str, str]], expected: str) -> None:
    docs = [subscription(i, [item("month_10")], s, created=c) for i, s, c in subs]
    chosen = primary_subscription(docs)
    assert chosen is not None and chosen["id"] == expected
    assert run(docs).subscription_id == expected


def test_a_created_that_is_no_time_makes_the_primary_subscription_unknown() -> None:
    """A ``created`` that is there but is no time (milliseconds) ranked its subscription as
    the oldest, so "the" subscription, and every subscription, plan, product and add-on value,
    was chosen by a guess. When the choice turns on it those values are UNKNOWN; the
    subscriber's own values, and a named subscription, answer as usual."""
    newer = subscription("sub_new", [item("month_10")])
    newer["created"] = ts("2026-03-01T00:00:00") * 1000
    older = subscription("sub_old", [item("year_120")], created="2025-01-01T00:00:00")
    got = values([newer, older])
    for key in SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS:
        found = got[key]
        assert isinstance(found, Unknown), (key, found)
        assert found.reason is UnknownReason.PROVIDER_ERROR
        assert "created of subscription 'sub_new' is " in found.detail
        assert "which subscription is the primary one is not known" in found.detail
    assert_money(got["subscriber.mrr"], usd("20.00"))
    assert got["subscriber.status"] == "ACTIVE"
    named = values([newer, older], subscription_id="sub_new")
    assert named["plan.id"] == "month_10"
    # It does not matter where it decides nothing: a canceled one beside a live one, or the
    # only subscription there is.
    gone = subscription("sub_new", [item("month_10")], "canceled") | {"created": "soon"}
    assert values([gone, older])["plan.id"] == "year_120"
    alone = values([newer])
    assert alone["plan.id"] == "month_10"
    assert isinstance(alone["subscription.duration_days"], Unknown)


def test_subscription_properties_read_the_primary_or_the_named_subscription() -> None:
    subs = [
        subscription("sub_old", [item("year_120")], created="2025-01-01T00:00:00"),
        subscription(
            "sub_new",
            [item("month_10")],
            "trialing",
            created="2026-03-01T00:00:00",
            trial_end="2026-03-31T00:00:00",
        ),
    ]
    primary = values(subs)
    assert primary["plan.id"] == "month_10"
    assert primary["subscription.is_free_trial"] is True
    assert primary["subscription.duration_days"] == 14
    named = values(subs, subscription_id="sub_old")
    assert named["plan.id"] == "year_120"
    assert named["subscription.is_free_trial"] is False
    assert named["subscription.duration_days"] == 438
    assert_money(named["subscription.mrr"], usd("10.00"))
    # The subscriber-level values do not depend on the subscription asked about.
    assert named["subscriber.mrr"] == primary["subscriber.mrr"]
    other = values(subs, subscription_id="sub_someone_elses")
    for key in SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS:
        assert other[key] is MISSING, key


def test_the_costly_keys_not_asked_for_are_left_out() -> None:
    """A question about the plan's interval does not compute MRRs and LTVs (they stay MISSING
    in the derivation, and the provider never returns a key it was not asked for)."""
    subs = [subscription("sub_1", [item("month_10")], discount=discount("pct25"))]
    paid = [invoice("in_1", 1000, subscription="sub_1")]
    data = SubscriberData("cus_1", customer(), subs, paid, [])
    account = Account(ZoneInfo("UTC"), "USD")
    asked = derive(data, LOOKUPS, account, NOW, wanted=frozenset({"plan.interval"}))
    assert asked.values["plan.interval"] == "MONTH"
    for key in ("subscriber.mrr", "subscriber.ltv", "subscription.mrr", "subscription.ltv"):
        assert asked.values[key] is MISSING
    assert asked.values["subscription.discount_percentage"] is MISSING
    whole = derive(data, LOOKUPS, account, NOW).values
    assert_money(whole["subscriber.mrr"], usd("7.50"))
    assert whole["subscription.discount_percentage"] == 25


def test_every_key_is_returned() -> None:
    got = values(LIVE)
    assert set(got) == set(ALL_KEYS)
    assert len(ALL_KEYS) == 26


def test_datetime_timestamps_are_read_too() -> None:
    sub = subscription("sub_1", [item("month_10")])
    sub["created"] = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    sub["current_period_end"] = datetime(2026, 4, 5, 1, 0)  # naive: UTC, as MongoDB returns
    got = values([sub], zone="America/New_York")
    assert got["subscription.duration_days"] == 10
    assert got["subscription.next_billing_date"] == date(2026, 4, 4)


def test_a_date_with_no_day_in_the_account_zone_leaves_the_other_values_readable() -> None:
    """A time the calendar holds in UTC but not in the account's zone (year 0 in New York,
    year 10000 in Tokyo) made every billing value of the subscriber UNKNOWN: now only the
    values read from that date are, saying why."""
    sub = subscription("sub_1", [item("month_10")])
    sub["created"] = "0001-01-01T00:00:00+00:00"
    early = values(
        [sub],
        events=[retention("saved", "0001-01-01T03:00:00", offer_id="o1")],
        zone="America/New_York",
    )
    late = subscription("sub_1", [item("month_10")])
    late["current_period_end"] = "9999-12-31T20:00:00+00:00"
    later = values([late], zone="Asia/Tokyo")
    unknown = {
        key: value.detail
        for got in (early, later)
        for key, value in got.items()
        if isinstance(value, Unknown)
    }
    assert unknown == {
        "subscriber.days_since_saved": "0001-01-01T03:00:00+00:00 has no calendar day in the "
        "account time zone America/New_York",
        "subscription.duration_days": "0001-01-01T00:00:00+00:00 has no calendar day in the "
        "account time zone America/New_York",
        "subscription.next_billing_date": "9999-12-31T20:00:00+00:00 has no calendar day in "
        "the account time zone Asia/Tokyo",
    }
    assert early["subscriber.status"] == "SAVED" and early["subscriber.active_offer_id"] == "o1"
    assert early["subscription.next_billing_date"] == date(2026, 3, 31)
    assert_money(early["subscriber.mrr"], usd("10.00"))
    assert later["subscription.duration_days"] == 73


UNREADABLE_TIME_CASES = [
    # (case, field, value, status)
    ("created in milliseconds", "created", ts("2026-03-05T12:00:00") * 1000, "active"),
    ("created not a time", "created", "last week", "active"),
    (
        "period end in milliseconds",
        "current_period_end",
        ts("2026-04-05T00:00:00") * 1000,
        "active",
    ),
    ("period end a boolean", "current_period_end", True, "active"),
    ("trial end in milliseconds", "trial_end", ts("2026-03-20T00:00:00") * 1000, "trialing"),
]


@pytest.mark.parametrize(
    ("field", "raw", "status"),
    [case[1:] for case in UNREADABLE_TIME_CASES],
    ids=[case[0] for case in UNREADABLE_TIME_CASES],
)
def test_a_time_that_is_not_a_timestamp_makes_its_values_unknown_not_missing(
    field: str, raw: Any, status: str
) -> None:
    """A subscription imported with milliseconds (or anything else but Unix seconds, an ISO
    date-time or a datetime) in ``created``, ``current_period_end`` or ``trial_end`` had
    ``subscription.duration_days`` or ``subscription.next_billing_date`` missing: IS NOT SET
    was TRUE, and a renewing subscription had no next billing date. Such a value is UNKNOWN,
    naming the field; the subscription's other values answer as usual."""
    sub = subscription("sub_1", [item("month_10")], status, trial_end="2026-03-20T00:00:00")
    sub[field] = raw
    got = values([sub])
    key = "subscription.duration_days" if field == "created" else "subscription.next_billing_date"
    found = got[key]
    assert isinstance(found, Unknown), found
    assert found.reason is UnknownReason.PROVIDER_ERROR
    assert f"{field} of subscription 'sub_1' is " in found.detail
    assert "not a Unix timestamp in seconds" in found.detail
    other = "subscription.next_billing_date" if field == "created" else "subscription.duration_days"
    assert not isinstance(got[other], Unknown) and got[other] is not MISSING
    assert got["subscription.will_renew"] is True


def test_an_unreadable_plan_item_period_end_is_unknown_too() -> None:
    items = [item("month_10", kind="plan", current_period_end=ts("2026-04-10T00:00:00") * 1000)]
    got = values([subscription("sub_1", items, current_period_end=None)])
    found = got["subscription.next_billing_date"]
    assert isinstance(found, Unknown), found
    assert "current_period_end of " in found.detail


# --- the one rounding ----------------------------------------------------------------------------


@given(
    # Up to 10**20 major units: round_money works within Decimal's default 28 digits.
    numerator=st.integers(min_value=-(10**20), max_value=10**20),
    denominator=st.integers(min_value=1, max_value=10**12),
    currency=st.sampled_from(["USD", "JPY", "KWD", "eur"]),
)
def test_to_money_rounds_half_away_from_zero_once(
    numerator: int, denominator: int, currency: str
) -> None:
    """``to_money`` rounds an exact amount to the currency's minor unit, a tie away from zero:
    the Decimal rounding of the exact quotient, in a context wide enough to hold it."""
    places = {"USD": 2, "JPY": 0, "KWD": 3, "eur": 2}[currency]
    amount = Fraction(numerator, denominator)
    with localcontext() as wide:
        wide.prec = 200
        exact_quotient = Decimal(amount.numerator) / Decimal(amount.denominator)
        expected = exact_quotient.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    got = to_money(amount, currency)
    assert got == Money(expected, currency)
    assert got.amount.as_tuple().exponent == -places


# --- items left out of the embedded list ---------------------------------------------------------

#: Twelve items, the plan first: what Stripe embeds of them is the first ten.
TWELVE = [item("month_10", kind="plan")] + [
    item("addon_5", kind="addon", id=f"si_seat_{n}") for n in range(11)
]


def cut_short(
    items: list[dict[str, Any]], embedded: int, status: str = "active", **list_fields: Any
) -> dict[str, Any]:
    """A subscription whose ``items`` list object holds the first ``embedded`` of ``items``,
    as Stripe embeds them (``has_more``, ``total_count``), unless ``list_fields`` say else."""
    sub = subscription("sub_1", items[:embedded], status)
    sub["items"] |= {"has_more": embedded < len(items), "total_count": len(items)} | list_fields
    return sub


def test_a_subscription_with_items_left_out_has_no_wrong_amount_plan_or_add_ons() -> None:
    """Stripe embeds the first items of a subscription only: ten of twelve give an MRR of
    10 + 9 × 5 where it is 10 + 11 × 5, and the add-ons without two of them. Those values
    are UNKNOWN with the reason; the plan, which an embedded item names, is known."""
    whole = values([subscription("sub_1", TWELVE)])
    assert_money(whole["subscription.mrr"], usd("65.00"))
    got = values([cut_short(TWELVE, 10)])
    for key in ("subscription.mrr", "subscriber.mrr", "addon.id", "addon.name"):
        assert isinstance(got[key], Unknown), key
        assert got[key].reason == "PROVIDER_ERROR"
        assert "12 items and only 10 are stored" in got[key].detail, key
        assert "'sub_1'" in got[key].detail
    assert got["plan.id"] == "month_10" and got["plan.name"] == "Basic monthly"
    assert got["plan.quantity"] == 1 and got["product.id"] == "prod_basic"
    assert got["subscription.next_billing_date"] == date(2026, 4, 1)
    assert got["subscription.status"] == "ACTIVE" and got["subscription.will_renew"] is True


def test_with_items_left_out_and_none_embedded_saying_plan_the_plan_is_unknown() -> None:
    """A left-out item may be the one whose kind is ``plan``: the first item is no longer
    surely the plan, nor is the period end read from the plan item."""
    items = [item("addon_5", kind="addon", id=f"si_{n}") for n in range(10)]
    items.append(item("year_120", kind="plan", current_period_end=ts("2026-07-01T00:00:00")))
    items[0]["current_period_end"] = ts("2026-05-01T00:00:00")
    sub = cut_short(items, 10)
    sub["current_period_end"] = None
    got = values([sub])
    for key in (
        "plan.id",
        "plan.name",
        "plan.interval",
        "plan.interval_count",
        "plan.quantity",
        "product.id",
        "product.name",
        "subscription.next_billing_date",
    ):
        assert isinstance(got[key], Unknown), key
        assert "plan is not known" in got[key].detail and "11 items" in got[key].detail, key
    complete = values([subscription("sub_1", items, current_period_end=None)])
    assert complete["plan.id"] == "year_120"
    assert complete["subscription.next_billing_date"] == date(2026, 7, 1)


@pytest.mark.parametrize(
    ("list_fields", "left_out"),
    [
        pytest.param({"has_more": True, "total_count": None}, True, id="has_more, no count"),
        pytest.param({"has_more": False, "total_count": 12}, True, id="count above the data"),
        pytest.param({"has_more": False, "total_count": 10}, False, id="count of the data"),
        # Completed by hand: every item in data, has_more left as Stripe wrote it.
        pytest.param({"has_more": True, "total_count": 10}, False, id="count wins has_more"),
        pytest.param({"has_more": False, "total_count": None}, False, id="no more, no count"),
        pytest.param({"has_more": "yes", "total_count": "12"}, False, id="not Stripe's types"),
    ],
)
def test_which_lists_are_cut_short(list_fields: dict[str, Any], left_out: bool) -> None:
    fields = {k: v for k, v in list_fields.items() if v is not None}
    sub = subscription("sub_1", TWELVE[:10])
    sub["items"] |= fields
    got = values([sub])
    assert isinstance(got["subscription.mrr"], Unknown) is left_out
    assert isinstance(got["addon.id"], Unknown) is left_out
    if not left_out:
        assert_money(got["subscription.mrr"], usd("55.00"))  # the ten items are all there


def test_a_subscription_that_counts_no_mrr_still_has_mrr_zero_with_items_left_out() -> None:
    """properties.md: 0 unless active, past due or unpaid, whatever the items."""
    for status in ("trialing", "canceled", "incomplete", "paused"):
        got = values([cut_short(TWELVE, 10, status)])
        assert_money(got["subscription.mrr"], usd("0.00"))
        assert_money(got["subscriber.mrr"], usd("0.00"))


def test_items_left_out_with_no_plan_embedded_still_tell_the_currency() -> None:
    """A subscription with no ``currency`` (API versions before Stripe added it) whose
    embedded items say no ``plan``: its currency is its items' (a subscription bills every
    item in one), not unknown. A canceled one, which adds nothing, made subscriber.mrr
    UNKNOWN; with a fixed-amount coupon the whole derivation failed (every billing value
    UNKNOWN, subscriber.status too)."""
    addons = [item("addon_5", kind="addon", id=f"si_{n}") for n in range(11)]
    canceled = cut_short(addons, 10, "canceled")
    canceled.pop("currency", None)
    got = values([canceled])
    assert_money(got["subscriber.mrr"], usd("0.00"))
    assert_money(got["subscription.ltv"], usd("0.00"))
    active = cut_short(addons, 10)
    active.pop("currency", None)
    active["discount"] = discount("off1")
    got = values([active])
    assert got["subscriber.status"] == "ACTIVE"
    assert isinstance(got["subscriber.mrr"], Unknown)  # items left out: no MRR
    assert_money(got["subscription.discount_fixed_amount"], usd("1.00"))
