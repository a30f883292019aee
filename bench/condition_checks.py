"""Condition checks per second on one core, against a hand-written baseline in the same run:

    .venv/bin/python -m bench.condition_checks      # writes bench/results/condition-checks.md

"Simple conditions" are one comparison each on a present, well-typed value. A segment of ten
such conditions under ALL, all TRUE (so nothing short-circuits), is evaluated for many
subscribers; every evaluation performs ten condition checks. The baseline is a plain Python
function making the same ten comparisons on the same dicts (no missing or UNKNOWN handling,
no explanation): the ratio says what seggraph's semantics cost on top of the comparisons.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from seggraph.domain.conditions import Combinator, Condition, Group, Money, Operator
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation import EvaluationOptions, compile_segment

O = Operator  # noqa: E741
P = PropertyType

CATALOGUE = {
    "subscriber.mrr": PropertyDefinition("subscriber.mrr", "MRR", P.MONEY),
    "plan.quantity": PropertyDefinition("plan.quantity", "Quantity", P.NUMBER),
    "subscription.duration_days": PropertyDefinition(
        "subscription.duration_days", "Days", P.NUMBER
    ),
    "plan.name": PropertyDefinition("plan.name", "Plan", P.TEXT),
    "plan.id": PropertyDefinition("plan.id", "Plan id", P.TEXT),
    "subscriber.status": PropertyDefinition(
        "subscriber.status", "Status", P.ENUM, enum_values=("ACTIVE", "CANCELED", "SAVED")
    ),
    "plan.interval": PropertyDefinition(
        "plan.interval", "Interval", P.ENUM, enum_values=("DAY", "WEEK", "MONTH", "YEAR")
    ),
    "subscription.is_free_trial": PropertyDefinition(
        "subscription.is_free_trial", "Trial", P.BOOLEAN
    ),
    "subscription.will_renew": PropertyDefinition("subscription.will_renew", "Renews", P.BOOLEAN),
    "subscription.next_billing_date": PropertyDefinition(
        "subscription.next_billing_date", "Next billing", P.DATE
    ),
}

SIMPLE = Group(
    Combinator.ALL,
    (
        Condition("plan.quantity", O.GTE, Decimal(1)),
        Condition("subscription.duration_days", O.LT, Decimal(365)),
        Condition("plan.name", O.EQ, "Pro"),
        Condition("plan.id", O.IN, ("price_1", "price_2", "price_3")),
        Condition("subscriber.status", O.EQ, "ACTIVE"),
        Condition("plan.interval", O.IN, ("MONTH", "YEAR")),
        Condition("subscription.is_free_trial", O.IS_FALSE),
        Condition("subscription.will_renew", O.IS_TRUE),
        Condition("subscriber.mrr", O.GT, Money(Decimal(100))),
        Condition("subscription.next_billing_date", O.AFTER, "2024-01-01"),
    ),
)
VALUES: dict[str, Any] = {
    "plan.quantity": 3,
    "subscription.duration_days": 120,
    "plan.name": "Pro",
    "plan.id": "price_2",
    "subscriber.status": "ACTIVE",
    "plan.interval": "MONTH",
    "subscription.is_free_trial": False,
    "subscription.will_renew": True,
    "subscriber.mrr": Decimal("149.00"),
    "subscription.next_billing_date": date(2024, 4, 30),
}


RESULTS = Path(__file__).resolve().parent / "results" / "condition-checks.md"
NEXT_BILLING_AFTER = date(2024, 1, 1)
PRICES = frozenset({"price_1", "price_2", "price_3"})
INTERVALS = frozenset({"MONTH", "YEAR"})


def hand_written(v: dict[str, Any]) -> bool:
    """The same ten comparisons, written out (the baseline)."""
    return (
        v["plan.quantity"] >= 1
        and v["subscription.duration_days"] < 365
        and v["plan.name"] == "Pro"
        and v["plan.id"] in PRICES
        and v["subscriber.status"] == "ACTIVE"
        and v["plan.interval"] in INTERVALS
        and v["subscription.is_free_trial"] is False
        and v["subscription.will_renew"] is True
        and v["subscriber.mrr"] > 100
        and v["subscription.next_billing_date"] > NEXT_BILLING_AFTER
    )


def rate(label: str, checks_per_call: int, calls: int, run: Callable[[], None]) -> float:
    """The best of five passes, in condition checks per second."""
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        best = max(best, checks_per_call * calls / elapsed)
    print(f"{label:<58} {best:>12,.0f} checks/s")
    return best


def main() -> None:
    options = EvaluationOptions(clock=lambda: datetime(2024, 3, 31, 12, tzinfo=UTC))
    segment = compile_segment(SIMPLE, CATALOGUE, segment_id="bench", options=options)
    n = 50_000
    rows = [(f"cus_{i}", VALUES) for i in range(n)]
    truth = segment.evaluate_truth
    assert truth(VALUES, "cus_0").is_member and hand_written(VALUES)

    def per_call() -> None:
        for subscriber_id, values in rows:
            truth(values, subscriber_id)

    def baseline() -> None:
        for _, values in rows:
            hand_written(values)

    results = [
        (
            "hand-written predicate, the same 10 comparisons",
            rate("hand-written predicate, the same 10 comparisons", 10, n, baseline),
        ),
        (
            "evaluate_truth, 10 simple conditions (ALL, all TRUE)",
            rate("evaluate_truth, 10 simple conditions (ALL, all TRUE)", 10, n, per_call),
        ),
        (
            "evaluate_many, 10 simple conditions (ALL, all TRUE)",
            rate(
                "evaluate_many, 10 simple conditions (ALL, all TRUE)",
                10,
                n,
                lambda: segment.evaluate_many(rows),
            ),
        ),
    ]
    for condition in SIMPLE.children:
        assert isinstance(condition, Condition)
        one = compile_segment(
            Group(Combinator.ALL, (condition,)), CATALOGUE, segment_id="b", options=options
        )
        label = f"evaluate_many, {condition.property} {condition.operator.value}"
        results.append((label, rate(label, 1, n, lambda one=one: one.evaluate_many(rows))))  # type: ignore[misc]
    base = results[0][1]
    lines = [
        "# Condition checks per second",
        "",
        f"`python -m bench.condition_checks` on Python {platform.python_version()}, "
        f"{platform.platform()}, one core; best of five passes over {n:,} subscribers. "
        "Target (issue 6): at least a million checks per second.",
        "",
        "| what | checks / s | × hand-written predicate's time |",
        "|---|---:|---:|",
        *(f"| {label} | {value:,.0f} | {base / value:.2f} |" for label, value in results),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
