"""Kleene logic of ALL / ANY / NONE, empty groups, nesting and short-circuiting."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from seggraph.domain.conditions import SEGMENT_PROPERTY, Combinator, Condition, Group, Operator
from seggraph.evaluation import Truth
from tests.evaluation.helpers import compile_one, evaluate_all_ways

TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
ALL, ANY, NONE = Combinator.ALL, Combinator.ANY, Combinator.NONE


def ref(name: str) -> Condition:
    """A condition whose truth is set directly by the segment results passed in."""
    return Condition(SEGMENT_PROPERTY, Operator.IN_SEGMENT, name)


# The full truth tables, written out by hand from the spec.
TABLE = [
    (ALL, TR, TR, TR),
    (ALL, TR, FA, FA),
    (ALL, TR, UN, UN),
    (ALL, FA, TR, FA),
    (ALL, FA, FA, FA),
    (ALL, FA, UN, FA),
    (ALL, UN, TR, UN),
    (ALL, UN, FA, FA),
    (ALL, UN, UN, UN),
    (ANY, TR, TR, TR),
    (ANY, TR, FA, TR),
    (ANY, TR, UN, TR),
    (ANY, FA, TR, TR),
    (ANY, FA, FA, FA),
    (ANY, FA, UN, UN),
    (ANY, UN, TR, TR),
    (ANY, UN, FA, UN),
    (ANY, UN, UN, UN),
    (NONE, TR, TR, FA),
    (NONE, TR, FA, FA),
    (NONE, TR, UN, FA),
    (NONE, FA, TR, FA),
    (NONE, FA, FA, TR),
    (NONE, FA, UN, UN),
    (NONE, UN, TR, FA),
    (NONE, UN, FA, UN),
    (NONE, UN, UN, UN),
]


@pytest.mark.parametrize(("combinator", "left", "right", "expected"), TABLE)
def test_kleene_tables(combinator: Combinator, left: Truth, right: Truth, expected: Truth) -> None:
    group = Group(combinator, (ref("a"), ref("b")))
    truth, _ = evaluate_all_ways(group, {}, segment_results={"a": left, "b": right})
    assert truth is expected


@pytest.mark.parametrize(
    ("combinator", "child", "expected"),
    [
        (ALL, TR, TR),
        (ALL, FA, FA),
        (ALL, UN, UN),
        (ANY, TR, TR),
        (ANY, FA, FA),
        (ANY, UN, UN),
        (NONE, TR, FA),
        (NONE, FA, TR),
        (NONE, UN, UN),
    ],
)
def test_single_child(combinator: Combinator, child: Truth, expected: Truth) -> None:
    truth, _ = evaluate_all_ways(Group(combinator, (ref("a"),)), {}, segment_results={"a": child})
    assert truth is expected


@pytest.mark.parametrize(("combinator", "expected"), [(ALL, TR), (ANY, FA), (NONE, TR)])
def test_empty_groups(combinator: Combinator, expected: Truth) -> None:
    truth, result = evaluate_all_ways(Group(combinator, ()), {"n": 5})
    assert truth is expected
    assert result.explanation is not None and result.explanation.children == ()


def test_empty_nested_groups_count_as_their_truth() -> None:
    # ANY(empty ANY = FALSE, empty ALL = TRUE) = TRUE; ALL(empty ANY) = FALSE.
    assert evaluate_all_ways(Group(ANY, (Group(ANY), Group(ALL))), {})[0] is TR
    assert evaluate_all_ways(Group(ALL, (Group(ANY),)), {})[0] is FA
    assert evaluate_all_ways(Group(NONE, (Group(NONE),)), {})[0] is FA


def test_deep_nesting() -> None:
    # NONE(ANY(ALL(a, NONE(b)), c)) with a=T, b=F, c=U: ALL(T, T)=T, ANY(T, U)=T, NONE=F.
    tree = Group(NONE, (Group(ANY, (Group(ALL, (ref("a"), Group(NONE, (ref("b"),)))), ref("c"))),))
    results = {"a": TR, "b": FA, "c": UN}
    assert evaluate_all_ways(tree, {}, segment_results=results)[0] is FA
    results = {"a": TR, "b": TR, "c": UN}  # ALL(T, F)=F, ANY(F, U)=U, NONE(U)=U
    assert evaluate_all_ways(tree, {}, segment_results=results)[0] is UN


def test_many_children() -> None:
    children = tuple(ref(f"s{i}") for i in range(10))
    results = {f"s{i}": TR for i in range(10)}
    assert evaluate_all_ways(Group(ALL, children), {}, segment_results=results)[0] is TR
    results["s9"] = UN
    assert evaluate_all_ways(Group(ALL, children), {}, segment_results=results)[0] is UN
    results["s0"] = FA
    assert evaluate_all_ways(Group(ALL, children), {}, segment_results=results)[0] is FA
    assert evaluate_all_ways(Group(ANY, children), {}, segment_results=results)[0] is TR


class RecordingValues(Mapping[str, Any]):
    """A values mapping that records which keys the evaluator read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@pytest.mark.parametrize(
    ("combinator", "first", "expected"), [(ALL, 1, FA), (ANY, 10, TR), (NONE, 10, FA)]
)
def test_fast_path_short_circuits_and_explain_does_not(
    combinator: Combinator, first: int, expected: Truth
) -> None:
    tree = Group(combinator, (Condition("n", Operator.GT, 5), Condition("s", Operator.EQ, "x")))
    compiled = compile_one(tree)
    values = RecordingValues({"n": first, "s": "x"})
    assert compiled.evaluate_truth(values, "sub") is expected
    assert values.read == ["n"]
    values.read.clear()
    assert compiled.evaluate(values, subscriber_id="sub").truth is expected
    assert values.read == ["n"]
    values.read.clear()
    result = compiled.evaluate(values, subscriber_id="sub", explain=True)
    assert result.truth is expected
    assert values.read == ["n", "s"]
