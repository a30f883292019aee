"""Properties of explanations on random trees and values, which the example tests only sample:
every group's result is the Kleene combination of its children's, every condition's result is
what that condition alone gives, a condition's state and reason agree with its result, the
causes of an UNKNOWN result are exactly the UNKNOWN conditions that could each settle it, and
every path, turned into the input's shape, leads to its condition in the input."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seggraph.api.evaluation.types import explanation_of, input_path, reasons_of
from seggraph.domain.conditions import Combinator, Condition, Group
from seggraph.evaluation import (
    MISSING,
    ConditionExplanation,
    EvaluationOptions,
    GroupExplanation,
    Truth,
    ValueState,
    compile_segment,
)
from seggraph.validation.conditions import normalized
from tests.evaluation import strategies as s
from tests.evaluation.reference import reference_truth

T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN


def kleene(combinator: Combinator, results: list[Truth]) -> Truth:
    """The spec's group rules, written out again (not the evaluator's)."""
    if combinator is Combinator.ALL:
        return F if F in results else U if U in results else T
    any_ = T if T in results else U if U in results else F
    if combinator is Combinator.ANY:
        return any_
    return {T: F, F: T, U: U}[any_]


def recombined(node: GroupExplanation | ConditionExplanation, answers: dict[int, Truth]) -> Truth:
    """The node's result with each condition explanation whose ``id`` ``answers`` holds
    answering that instead."""
    if isinstance(node, ConditionExplanation):
        return answers.get(id(node), node.result)
    return kleene(node.combinator, [recombined(c, answers) for c in node.children])


def can_flip(root: GroupExplanation, leaf: ConditionExplanation, others: list[int]) -> bool:
    """Whether some TRUE/FALSE answers of the ``others`` (ids of UNKNOWN conditions) make the
    root's result differ between ``leaf`` answering TRUE and answering FALSE."""
    for bits in itertools.product((T, F), repeat=len(others)):
        answers = dict(zip(others, bits, strict=True))
        if recombined(root, {**answers, id(leaf): T}) is not recombined(
            root, {**answers, id(leaf): F}
        ):
            return True
    return False


def leaves(node: GroupExplanation | ConditionExplanation) -> list[ConditionExplanation]:
    if isinstance(node, ConditionExplanation):
        return [node]
    return [leaf for child in node.children for leaf in leaves(child)]


def groups_of(node: GroupExplanation | ConditionExplanation) -> list[GroupExplanation]:
    if isinstance(node, ConditionExplanation):
        return []
    return [node, *(g for child in node.children for g in groups_of(child))]


def at_input_path(root: Group, path: list[str]) -> Any:
    """What an input path (``conditions, groups, 0, conditions, 1``) leads to in the GraphQL
    input of ``root`` (a group's ``conditions`` list, then its ``groups`` list)."""
    assert path[0] == "conditions"
    node: Any = root
    rest = path[1:]
    while rest:
        field, index = rest[0], int(rest[1])
        rest = rest[2:]
        assert isinstance(node, Group)
        if field == "conditions":
            node = [c for c in node.children if isinstance(c, Condition)][index]
        else:
            assert field == "groups", path
            node = [g for g in node.children if isinstance(g, Group)][index]
    return node


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    tree=s.groups(),
    values=s.value_maps(),
    subscriber_id=st.sampled_from(s.SUBSCRIBERS),
    results=s.segment_results,
    zone=st.sampled_from(s.ZONES),
    now=st.sampled_from(s.NOWS),
)
def test_an_explanation_agrees_with_itself_and_with_its_result(
    tree: Group,
    values: dict[str, Any],
    subscriber_id: str,
    results: dict[str, Truth],
    zone: ZoneInfo,
    now: datetime,
) -> None:
    root = normalized(tree)  # as saved, and as the API's paths read it
    options = EvaluationOptions(timezone=zone, clock=lambda: now)
    compiled = compile_segment(root, s.CATALOGUE, segment_id="seg-x", options=options)
    result = compiled.evaluate(
        values, subscriber_id=subscriber_id, segment_results=results, explain=True
    )
    explanation = result.explanation
    assert explanation is not None and explanation.result is result.truth

    for group in groups_of(explanation):
        assert group.result is kleene(group.combinator, [c.result for c in group.children])

    conditions = leaves(explanation)
    for leaf in conditions:
        node = at_input_path(root, input_path(root, leaf.path))
        assert isinstance(node, Condition)
        assert (node.property, node.operator, node.value) == (
            leaf.property,
            leaf.operator,
            leaf.expected,
        )
        alone = reference_truth(
            Group(Combinator.ALL, (node,)),
            s.CATALOGUE,
            values,
            segment_id="seg-x",
            subscriber_id=subscriber_id,
            segment_results=results,
            zone=zone,
            account="USD",
            now=now,
        )
        assert leaf.result is alone, leaf
        # The reason is given exactly when the result is UNKNOWN; a missing value is never
        # UNKNOWN, and a provider's failure always is.
        assert (leaf.unknown is not None) is (leaf.result is U), leaf
        if leaf.state is ValueState.MISSING:
            assert leaf.actual is MISSING and leaf.result is not U
        if leaf.state is ValueState.UNKNOWN:
            assert leaf.result is U

    # The causes: the UNKNOWN conditions the result depends on, i.e. each of which, for some
    # answers of the other UNKNOWN ones, decides the result (none when the result is known).
    unknown = [leaf for leaf in conditions if leaf.result is U]
    if len(unknown) <= 8:
        depends = [
            leaf.path
            for leaf in unknown
            if result.truth is U
            and can_flip(explanation, leaf, [id(o) for o in unknown if o is not leaf])
        ]
        assert [c.path for c in result.unknown_reasons] == depends

    # What the API answers says the same, at the same paths.
    answered = explanation_of(root, explanation)
    assert [c.path for c in answered.conditions] == [input_path(root, c.path) for c in conditions]
    assert [c.result.value for c in answered.conditions] == [c.result.value for c in conditions]
    assert [g.result.value for g in answered.groups] == [
        g.result.value for g in groups_of(explanation)
    ]
    assert [(r.path, r.reason) for r in reasons_of(root, result.unknown_reasons)] == [
        (input_path(root, c.path), c.reason.value) for c in result.unknown_reasons
    ]
