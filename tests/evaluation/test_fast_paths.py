"""The hot path's specialisations agree with the general one: groups whose children's calls are
written out (every size and combinator), the per-class shortcuts of conditions, and the calls
that pass no segment results (a shared Env, a list comprehension in ``evaluate_many``)."""

from __future__ import annotations

import itertools
import random
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seggraph.domain.conditions import (
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Money,
    Operator,
)
from seggraph.evaluation import EvaluationOptions, Truth, compile_segment
from seggraph.evaluation.nodes import combine
from tests.evaluation import strategies as s
from tests.evaluation.helpers import CATALOGUE, compile_one
from tests.evaluation.reference import reference_truth

TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
O = Operator  # noqa: E741


@pytest.mark.parametrize("combinator", list(Combinator))
@pytest.mark.parametrize("size", range(1, 11))
def test_groups_of_every_size_combine_in_kleene_logic(combinator: Combinator, size: int) -> None:
    children = tuple(Condition(SEGMENT_PROPERTY, O.IN_SEGMENT, f"s{i}") for i in range(size))
    compiled = compile_segment(Group(combinator, children), CATALOGUE, segment_id="g")
    combos: Any = itertools.product((TR, FA, UN), repeat=size)
    if size > 6:
        rng = random.Random(size)
        combos = [tuple(rng.choice((TR, FA, UN)) for _ in range(size)) for _ in range(400)]
    for combo in combos:
        results = {f"s{i}": truth for i, truth in enumerate(combo)}
        assert compiled.evaluate_truth({}, "c", results) is combine(combinator, combo), combo


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        # Numbers and money: a finite Decimal or an int takes the shortcut; NaN, infinities and
        # bools do not, and are type errors.
        (Condition("n", O.GT, Decimal(100)), Decimal("100.01"), TR),
        (Condition("n", O.GT, Decimal(100)), 100, FA),
        (Condition("n", O.GT, Decimal(100)), Decimal("NaN"), UN),
        (Condition("n", O.GT, Decimal(100)), Decimal("Infinity"), UN),
        (Condition("n", O.EQ, Decimal(1)), True, UN),
        (Condition("n", O.NOT_IN, (Decimal(1), Decimal(2))), 2, FA),
        (Condition("n", O.NOT_BETWEEN, (Decimal(1), Decimal(2))), Decimal("2.5"), TR),
        (Condition("m", O.LTE, Decimal("99.95")), Decimal("99.95"), TR),
        (Condition("m", O.GT, Money(Decimal(1), "EUR")), Decimal(5), UN),  # account is USD
        (Condition("m", O.IN, (Decimal(5), Money(Decimal(5), "EUR"))), Decimal(6), UN),
        (Condition("m", O.IN, (Decimal(5), Decimal(6))), Decimal(6), TR),
        (Condition("m", O.GT, Decimal(1)), Decimal("NaN"), UN),
        # ... and a Money in the account currency (any case) or none, as billing sends it;
        # another currency or a malformed amount by the general path.
        (Condition("m", O.GT, Decimal(100)), Money(Decimal("100.01"), "USD"), TR),
        (Condition("m", O.GT, Decimal(100)), Money(Decimal("100.01"), "usd"), TR),
        (Condition("m", O.GT, Decimal(100)), Money(100, None), FA),
        (Condition("m", O.GT, Decimal(100)), Money(Decimal(500), "EUR"), UN),
        (Condition("m", O.GT, Decimal(100)), Money(Decimal(500), "usd "), UN),
        (Condition("m", O.GT, Decimal(1)), Money(Decimal("NaN"), "USD"), UN),
        (Condition("m", O.GT, Decimal(0)), Money(True, "USD"), UN),
        (Condition("m", O.NOT_BETWEEN, (Decimal(1), Decimal(2))), Money(Decimal(1), "USD"), FA),
        (Condition("m", O.NOT_IN, (Decimal(5), Decimal(6))), Money(Decimal(7), None), TR),
        # A property declaring EUR (the account is USD): a bare amount, or a Money without a
        # currency, is in EUR, so a condition in EUR compares it and one in the account
        # currency (a bare condition amount) cannot.
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), 7, TR),
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), Decimal(7), TR),
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), Money(Decimal(7), None), TR),
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), Money(Decimal(7), "eur"), TR),
        (Condition("me", O.GT, Money(Decimal(1), "EUR")), Money(Decimal(7), "USD"), UN),
        (Condition("me", O.GT, Decimal(1)), 7, UN),
        (Condition("me", O.GT, Decimal(1)), Money(Decimal(7), None), UN),
        (Condition("me", O.GT, Decimal(1)), Money(Decimal(7), "USD"), TR),
        (Condition("me", O.BETWEEN, (Money(Decimal(1), "EUR"), Money(Decimal(9), "EUR"))), 7, TR),
        (Condition("me", O.IN, (Money(Decimal(7), "EUR"), Decimal(7))), 7, TR),
        (Condition("me", O.NOT_IN, (Decimal(7),)), 7, UN),
        # Text: exact str only; case-insensitive forms fold both sides.
        (Condition("s", O.ENDS_WITH, ".com"), "a@b.com", TR),
        (Condition("s", O.NOT_CONTAINS, "x"), "xyz", FA),
        (Condition("s", O.EQ, "Straße", True), "STRASSE", TR),
        (Condition("s", O.NOT_IN, ("a", "b"), True), "B", FA),
        (Condition("s", O.STARTS_WITH, "go"), b"gold", UN),
        # Enums: a declared identifier from the table, any other spelling by the general path.
        (Condition("e", O.IN, ("ACTIVE", "SAVED")), "SAVED", TR),
        (Condition("e", O.NEQ, "ACTIVE"), "active", FA),
        (Condition("e", O.EQ, "ACTIVE"), "OTHER", UN),
        # Booleans: exactly True or False; 0 and 1 are type errors.
        (Condition("b", O.IS_FALSE), False, TR),
        (Condition("b", O.IS_TRUE), 1, UN),
        # Dates: a date takes the shortcut; a datetime is a type error for a DATE.
        (Condition("d", O.BEFORE, "2026-07-01"), datetime(2026, 1, 1).date(), TR),
        (Condition("d", O.BEFORE, "2026-07-01"), datetime(2026, 1, 1), UN),
        (Condition("d", O.NOT_BETWEEN, ("2026-01-01", "2026-12-31")), "2026-06-01", FA),
    ],
)
def test_shortcuts_answer_as_the_general_path(
    condition: Condition, value: Any, expected: Truth
) -> None:
    compiled = compile_one(condition)
    assert compiled.evaluate_truth({condition.property: value}, "c") is expected
    assert compiled.evaluate_many([("c", {condition.property: value})]) == [expected]
    # In a group too wide to be written out, each condition answers through its own closure.
    wide = compile_one(Group(Combinator.ALL, (condition,) * 9))
    assert wide.evaluate_truth({condition.property: value}, "c") is expected
    # Missing, absent or None, is FALSE for every operator here.
    assert compiled.evaluate_truth({condition.property: None}, "c") is FA
    assert compiled.evaluate_truth({}, "c") is FA


@settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    root=s.groups(),
    rows=st.lists(
        st.tuples(st.sampled_from(s.SUBSCRIBERS), s.value_maps()), min_size=1, max_size=3
    ),
    zone=st.sampled_from(s.ZONES),
    now=st.sampled_from(s.NOWS),
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_calls_without_segment_results_agree_with_reference(
    root: Group,
    rows: list[tuple[str, dict[str, Any]]],
    zone: ZoneInfo,
    now: datetime,
    currency: str,
) -> None:
    options = EvaluationOptions(timezone=zone, currency=currency, clock=lambda: now)
    compiled = compile_segment(root, s.CATALOGUE, segment_id="seg-x", options=options)
    expected = [
        reference_truth(
            root,
            s.CATALOGUE,
            values,
            segment_id="seg-x",
            subscriber_id=subscriber_id,
            segment_results={},
            zone=zone,
            account=currency,
            now=now,
        )
        for subscriber_id, values in rows
    ]
    assert [compiled.evaluate_truth(values, sid) for sid, values in rows] == expected
    assert compiled.evaluate_many(rows) == expected


@settings(
    max_examples=800,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    root=st.builds(
        Group,
        st.sampled_from(list(Combinator)),
        st.lists(s.conditions(), min_size=5, max_size=10).map(tuple),
    ),
    values=s.value_maps(),
    results=s.segment_results,
)
def test_wide_groups_agree_with_reference(
    root: Group, values: dict[str, Any], results: dict[str, Truth]
) -> None:
    """Groups wider than the random trees' (5 to 10 conditions: generated fast paths of every
    width, and the loop past eight)."""
    now = s.NOWS[0]
    zone = s.ZONES[0]
    options = EvaluationOptions(timezone=zone, clock=lambda: now)
    compiled = compile_segment(root, s.CATALOGUE, segment_id="seg-x", options=options)
    expected = reference_truth(
        root,
        s.CATALOGUE,
        values,
        segment_id="seg-x",
        subscriber_id="cus_1",
        segment_results=results,
        zone=zone,
        account="USD",
        now=now,
    )
    assert compiled.evaluate_truth(values, "cus_1", results) is expected
