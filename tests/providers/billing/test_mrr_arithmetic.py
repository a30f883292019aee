"""MRR, derived for any amounts, equals the spec's formula in exact arithmetic.

The table of ``test_derive.py`` pins the spec's cases one by one; this test draws the numbers:
unit amounts as integers, decimal strings and floats, quantities and interval counts present
or absent, every interval, several items, percent and fixed coupons, several subscriptions in
several currencies. The reference below is the formula of ``spec/properties.md`` written
plainly with :class:`fractions.Fraction`, independent of how the derivation computes it.
"""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from seggraph_billing.derive import Account, Lookups, SubscriberData, derive

from seggraph.domain.conditions import Money
from seggraph.domain.currencies import minor_units
from seggraph.evaluation.values import Unknown
from tests.providers.billing.builders import NOW, coupon, customer, discount, item, subscription

MONTHS = {"day": Fraction(365, 12), "week": Fraction(52, 12), "month": 1, "year": Fraction(1, 12)}
COUNTING = {"active", "past_due", "unpaid"}


def number(raw: Any) -> Fraction:
    """A JSON number as the spec reads it: exactly, a float by its shortest repr."""
    return Fraction(Decimal(repr(raw))) if isinstance(raw, float) else Fraction(Decimal(raw))


def unit_of(price: dict[str, Any]) -> Fraction:
    if price.get("unit_amount") is not None:
        return number(price["unit_amount"])
    return number(price["unit_amount_decimal"])


def count_of(price: dict[str, Any]) -> Fraction:
    raw = price["recurring"].get("interval_count")
    return Fraction(1) if raw is None else number(raw)


def reference_mrr(sub: dict[str, Any], prices: dict[str, Any], cpn: Any) -> Fraction | None:
    """The subscription's exact MRR in major units; None where it cannot be derived."""
    if sub["status"] not in COUNTING:
        return Fraction(0)
    scale = 10 ** minor_units(sub["currency"].upper())
    items = sub["items"]["data"]
    total = Fraction(0)
    for it in items:
        price = prices[it["price"]]
        if count_of(price) <= 0:
            return None
        quantity = 1 if it.get("quantity") is None else number(it["quantity"])
        monthly = unit_of(price) / scale * quantity * MONTHS[price["recurring"]["interval"]]
        total += monthly / count_of(price)
    if cpn is not None and cpn["percent_off"] is not None:
        total *= 1 - number(cpn["percent_off"]) / 100
    elif cpn is not None and cpn["currency"] == sub["currency"] and items:
        plan = prices[items[0]["price"]]
        months = count_of(plan) / MONTHS[plan["recurring"]["interval"]]
        total -= number(cpn["amount_off"]) / scale / months
    return max(total, Fraction(0))


def rounded(amount: Fraction, currency: str) -> Decimal:
    """Half away from zero, once, to the currency's minor unit."""
    places = minor_units(currency)
    whole = (2 * amount.numerator * 10**places + amount.denominator) // (2 * amount.denominator)
    return Decimal(whole).scaleb(-places)


amounts = st.one_of(
    st.fixed_dictionaries({"unit_amount": st.integers(0, 10**7)}),
    st.fixed_dictionaries(
        {
            "unit_amount": st.none(),
            "unit_amount_decimal": st.one_of(
                st.decimals(0, 10**6, places=4).map(str),
                st.floats(0, 10**5, allow_nan=False).map(lambda f: round(f, 3)),
            ),
        }
    ),
)
prices_drawn = st.lists(
    st.tuples(
        amounts,
        st.sampled_from(sorted(MONTHS)),
        st.one_of(st.none(), st.integers(1, 12), st.sampled_from([0, -1, "2", "1.5"])),
    ),
    min_size=1,
    max_size=3,
)
quantities = st.one_of(st.none(), st.integers(0, 500), st.sampled_from(["2.5", 1.25]))
coupons = st.one_of(
    st.none(),
    st.builds(
        lambda p: coupon("c", percent_off=p),
        st.one_of(st.integers(0, 100), st.floats(0, 100).map(lambda f: round(f, 2))),
    ),
    st.builds(
        lambda off, cur: coupon("c", amount_off=off, currency=cur),
        st.integers(0, 50_000),
        st.sampled_from(["usd", "eur", "jpy"]),
    ),
)
subscriptions_drawn = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, 2), quantities), min_size=0, max_size=3),
        st.sampled_from(["active", "past_due", "unpaid", "trialing", "canceled"]),
        st.sampled_from(["usd", "eur", "jpy", "bhd"]),
        coupons,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(prices_drawn, subscriptions_drawn)
def test_mrr_is_the_exact_formula_rounded_once(
    drawn_prices: list[tuple[dict[str, Any], str, Any]],
    drawn_subscriptions: list[tuple[list[tuple[int, Any]], str, str, Any]],
) -> None:
    prices: dict[str, Any] = {}
    for n, (amount, interval, count) in enumerate(drawn_prices):
        prices[f"p{n}"] = {
            "id": f"p{n}",
            "object": "price",
            **amount,
            "recurring": {"interval": interval, "interval_count": count},
        }
    subs, coupon_of = [], {}
    for n, (items, status, currency, cpn) in enumerate(drawn_subscriptions):
        chosen = [item(f"p{i % len(prices)}", quantity) for i, quantity in items]
        for it in chosen:
            it["metadata"] = {}
        sub = subscription(
            f"sub_{n}",
            chosen,
            status,
            created=f"2026-01-0{n + 1}T00:00:00",
            currency=currency,
            discount=discount(cpn) if cpn is not None else None,
        )
        subs.append(sub)
        coupon_of[sub["id"]] = cpn
    data = SubscriberData("cus_1", customer=customer(), subscriptions=subs)
    account = Account(NOW.tzinfo, "USD")  # type: ignore[arg-type]
    whole = derive(data, Lookups(prices=prices), account, NOW)

    expected = {s["id"]: reference_mrr(s, prices, coupon_of[s["id"]]) for s in subs}
    for sub in subs:
        alone = derive(data, Lookups(prices=prices), account, NOW, sub["id"])
        got, want = alone.values["subscription.mrr"], expected[sub["id"]]
        currency = sub["currency"].upper()
        if want is None:
            assert isinstance(got, Unknown), got
        else:
            assert got == Money(rounded(want, currency), currency), (got, want)
    # Every subscription's MRR in the account currency is computed (one that cannot be makes
    # the sum unknown); those in another currency are left out of it, known or not.
    if any(expected[s["id"]] is None for s in subs if s["currency"] == "usd"):
        assert isinstance(whole.values["subscriber.mrr"], Unknown)
    else:
        total = sum(
            (e for s in subs if s["currency"] == "usd" and (e := expected[s["id"]])), Fraction(0)
        )
        assert whole.values["subscriber.mrr"] == Money(rounded(total, "USD"), "USD")


def test_a_number_no_billing_figure_has_is_unknown_at_once() -> None:
    """``"1E-1000000"`` as a unit amount: exact arithmetic on it is not bounded (a gcd of
    million-digit integers held the event loop for 30 s); it is no billing figure, so the MRR
    is unknown, saying which number, and the subscriber's other values stand."""
    price = {
        "id": "p_odd",
        "object": "price",
        "unit_amount": None,
        "unit_amount_decimal": "1E-1000000",
        "recurring": {"interval": "month", "interval_count": 1},
    }
    items = [item("p_odd", 3), item("p_odd", "0.5")]
    sub = subscription("sub_odd", items, "active", currency="usd")
    data = SubscriberData("cus_1", customer=customer(), subscriptions=[sub])
    account = Account(NOW.tzinfo, "USD")  # type: ignore[arg-type]
    started = time.perf_counter()
    values = derive(data, Lookups(prices={"p_odd": price}), account, NOW).values
    assert time.perf_counter() - started < 1.0
    mrr = values["subscription.mrr"]
    assert isinstance(mrr, Unknown) and "unit_amount_decimal is not a billing figure" in mrr.detail
    assert values["subscription.status"] == "ACTIVE"
    huge = {**price, "unit_amount": 10**70}
    values = derive(data, Lookups(prices={"p_odd": huge}), account, NOW).values
    assert isinstance(values["subscription.mrr"], Unknown)
