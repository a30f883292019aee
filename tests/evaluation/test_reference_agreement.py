"""The compiled evaluator agrees with the plain reference interpreter on random trees and values,
on all of its paths: ``evaluate_truth``, ``evaluate`` with and without an explanation, and
``evaluate_many``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seggraph.domain.conditions import Group, iter_conditions
from seggraph.evaluation import (
    ConditionExplanation,
    EvaluationOptions,
    GroupExplanation,
    Truth,
    compile_segment,
    unwrapped,
)
from tests.evaluation import strategies as s
from tests.evaluation.reference import reference_truth

SETTINGS = settings(
    max_examples=4000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _conditions_in(explanation: GroupExplanation | ConditionExplanation) -> int:
    if isinstance(explanation, ConditionExplanation):
        return 1
    return sum(_conditions_in(child) for child in explanation.children)


@SETTINGS
@given(
    root=s.groups(),
    rows=st.lists(
        st.tuples(st.sampled_from(s.SUBSCRIBERS), s.value_maps()), min_size=1, max_size=3
    ),
    results=s.segment_results,
    zone=st.sampled_from(s.ZONES),
    now=st.sampled_from(s.NOWS),
    currency=st.sampled_from(["USD", "EUR"]),
)
def test_compiled_agrees_with_reference(
    root: Group,
    rows: list[tuple[str, dict[str, Any]]],
    results: dict[str, Truth],
    zone: ZoneInfo,
    now: datetime,
    currency: str,
) -> None:
    options = EvaluationOptions(timezone=zone, currency=currency, clock=lambda: now)
    compiled = compile_segment(root, s.CATALOGUE, segment_id="seg-x", options=options)
    expected_many = []
    for subscriber_id, values in rows:
        expected = reference_truth(
            root,
            s.CATALOGUE,
            values,
            segment_id="seg-x",
            subscriber_id=subscriber_id,
            segment_results=results,
            zone=zone,
            account=currency,
            now=now,
        )
        expected_many.append(expected)
        assert compiled.evaluate_truth(values, subscriber_id, results) is expected
        plain = compiled.evaluate(values, subscriber_id=subscriber_id, segment_results=results)
        explained = compiled.evaluate(
            values, subscriber_id=subscriber_id, segment_results=results, explain=True
        )
        assert plain.truth is expected
        assert explained.truth is expected
        # The causes of UNKNOWN: present exactly when UNKNOWN, the same with or without an
        # explanation.
        assert bool(plain.unknown_reasons) == (expected is Truth.UNKNOWN)
        assert plain.unknown_reasons == explained.unknown_reasons
        # Unwrapped once for many segments (as the service does): the same truth, and the
        # same causes, which still name the providers of the wrapped values.
        assert (
            compiled.evaluate(
                values,
                subscriber_id=subscriber_id,
                segment_results=results,
                plain=unwrapped(values),
            )
            == plain
        )
        assert compiled.evaluate_truth(unwrapped(values), subscriber_id, results) is expected
        # An explanation shows every condition.
        assert explained.explanation is not None
        assert _conditions_in(explained.explanation) == len(iter_conditions(root))
    by_subscriber = {subscriber_id: results for subscriber_id, _ in rows}
    assert compiled.evaluate_many(rows, segment_results=by_subscriber) == expected_many


@settings(max_examples=2500, deadline=None, database=None)
@given(
    condition=s.conditions(),
    values=s.value_maps(),
    subscriber_id=st.sampled_from(s.SUBSCRIBERS),
    results=s.segment_results,
    zone=st.sampled_from(s.ZONES),
    now=st.sampled_from(s.NOWS),
)
def test_single_conditions_agree_with_reference(
    condition: Any,
    values: dict[str, Any],
    subscriber_id: str,
    results: dict[str, Truth],
    zone: ZoneInfo,
    now: datetime,
) -> None:
    """Single conditions, so that each operator's edge cases are hit often (in a big tree most
    conditions are masked by their siblings)."""
    from seggraph.domain.conditions import Combinator

    root = Group(Combinator.ALL, (condition,))
    options = EvaluationOptions(timezone=zone, clock=lambda: now)
    compiled = compile_segment(root, s.CATALOGUE, segment_id="seg-x", options=options)
    expected = reference_truth(
        root,
        s.CATALOGUE,
        values,
        segment_id="seg-x",
        subscriber_id=subscriber_id,
        segment_results=results,
        zone=zone,
        account="USD",
        now=now,
    )
    assert compiled.evaluate_truth(values, subscriber_id, results) is expected
    explained = compiled.evaluate(
        values, subscriber_id=subscriber_id, segment_results=results, explain=True
    )
    assert explained.truth is expected
