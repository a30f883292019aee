"""Segment references (IN_SEGMENT / NOT_IN_SEGMENT, evaluation order, cycles) and percentage
buckets."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Operator,
)
from seggraph.evaluation import (
    CompiledSegment,
    ReferenceCycleError,
    Truth,
    UnknownReason,
    bucket_of,
    evaluation_order,
)
from seggraph.evaluation.buckets import bucket_index
from tests.evaluation.helpers import compile_one, evaluate_all_ways

TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN


def in_segment(segment_id: str, negated: bool = False) -> Condition:
    operator = Operator.NOT_IN_SEGMENT if negated else Operator.IN_SEGMENT
    return Condition(SEGMENT_PROPERTY, operator, segment_id)


@pytest.mark.parametrize(
    ("negated", "other", "expected"),
    [
        (False, TR, TR),
        (False, FA, FA),
        (False, UN, UN),
        (False, None, UN),
        (True, TR, FA),
        (True, FA, TR),
        (True, UN, UN),
        (True, None, UN),
    ],
)
def test_in_segment(negated: bool, other: Truth | None, expected: Truth) -> None:
    results = {} if other is None else {"other": other}
    truth, explained = evaluate_all_ways(in_segment("other", negated), {}, segment_results=results)
    assert truth is expected
    if expected is UN:
        (cause,) = explained.unknown_reasons
        assert cause.reason is UnknownReason.SEGMENT_UNKNOWN
        assert "other" in cause.detail


def test_segment_results_as_callable_bool_or_none() -> None:
    compiled = compile_one(Group(Combinator.ALL, (in_segment("a"), in_segment("b", True))))

    def lookup(segment_id: str) -> bool:
        return segment_id == "a"

    assert compiled.evaluate_truth({}, "s", lookup) is TR
    # The referenced segment's EvaluationResult will do, as the caller computed it.
    vip = compile_one(Group(Combinator.ALL, ()), segment_id="a").evaluate({}, subscriber_id="s")
    assert compiled.evaluate_truth({}, "s", {"a": vip, "b": FA}) is TR
    assert compiled.evaluate_truth({}, "s", {"a": True, "b": True}) is FA
    assert compiled.evaluate_truth({}, "s") is UN  # no results supplied at all
    result = compiled.evaluate({}, subscriber_id="s", segment_results=lambda _id: None)
    assert result.truth is UN
    assert [c.reason for c in result.unknown_reasons] == [UnknownReason.SEGMENT_UNKNOWN] * 2


def test_keys_and_segment_refs() -> None:
    tree = Group(
        Combinator.ANY,
        (
            Condition("n", Operator.GT, Decimal(1)),
            Group(Combinator.NONE, (in_segment("x"), Condition("s", Operator.IS_SET))),
            in_segment("y", True),
            Condition(BUCKET_PROPERTY, Operator.PERCENTAGE, Decimal(10)),
        ),
    )
    compiled = compile_one(tree)
    assert compiled.keys == frozenset({"n", "s"})
    assert compiled.segment_refs == frozenset({"x", "y"})


def _segments(graph: dict[str, list[str]]) -> dict[str, CompiledSegment]:
    return {
        name: compile_one(
            Group(Combinator.ALL, tuple(in_segment(r) for r in refs)), segment_id=name
        )
        for name, refs in graph.items()
    }


def test_evaluation_order_puts_references_first() -> None:
    graph = {"top": ["mid", "leaf"], "mid": ["leaf"], "leaf": [], "alone": [], "dangling": ["gone"]}
    order = evaluation_order(_segments(graph))
    assert sorted(order) == sorted(graph)  # every segment once; unknown refs ignored
    for name, refs in graph.items():
        for ref in refs:
            if ref in graph:
                assert order.index(ref) < order.index(name)


def test_evaluation_order_is_deterministic() -> None:
    graph = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}
    assert evaluation_order(_segments(graph)) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
    ],
)
def test_evaluation_order_names_a_cycle(graph: dict[str, list[str]], cycle: list[str]) -> None:
    with pytest.raises(ReferenceCycleError) as raised:
        evaluation_order(_segments(graph))
    assert raised.value.cycle == cycle
    assert " -> ".join(cycle) in str(raised.value)


def test_evaluation_order_handles_long_chains_without_recursion() -> None:
    graph = {f"s{i}": [f"s{i + 1}"] for i in range(3000)}
    graph["s3000"] = []
    order = evaluation_order(_segments(graph))
    assert order[0] == "s3000" and order[-1] == "s0"


# --- buckets -------------------------------------------------------------------------------------


def test_bucket_formula() -> None:
    digest = hashlib.sha1(b"seg-1:cus_42").hexdigest()
    expected = Decimal(int(digest[:8], 16) % 100000) / Decimal(1000)
    assert bucket_of("seg-1", "cus_42") == expected
    assert Decimal(0) <= expected < Decimal(100)
    assert bucket_of("seg-1", "cus_42") == bucket_of("seg-1", "cus_42")
    assert bucket_of("seg-2", "cus_42") != bucket_of("seg-1", "cus_42")  # per segment


def percentage(value: str) -> Condition:
    return Condition(BUCKET_PROPERTY, Operator.PERCENTAGE, Decimal(value))


def test_bucket_is_stable_as_the_percentage_grows() -> None:
    subscribers = [f"cus_{i}" for i in range(2000)]
    members: dict[str, set[str]] = {}
    for pct in ("0", "10", "20", "50", "99.999", "100"):
        compiled = compile_one(percentage(pct), segment_id="seg-rollout")
        members[pct] = {s for s in subscribers if compiled.evaluate_truth({}, s) is TR}
    assert members["0"] == set()
    assert members["100"] == set(subscribers)
    assert members["10"] <= members["20"] <= members["50"] <= members["99.999"]
    # Roughly the share asked for (a fixed sample, so this is deterministic).
    assert 150 <= len(members["10"]) <= 250
    assert 900 <= len(members["50"]) <= 1100


def test_bucket_compares_exactly() -> None:
    subscriber = "cus_7"
    bucket = bucket_of("seg-1", subscriber)
    # Strictly below: a subscriber whose bucket equals the percentage is out.
    assert evaluate_all_ways(percentage(str(bucket)), {}, subscriber_id=subscriber)[0] is FA
    above = bucket + Decimal("0.001")
    assert evaluate_all_ways(percentage(str(above)), {}, subscriber_id=subscriber)[0] is TR
    # More digits than a default Decimal context holds: bucket + 1E-30.
    tiny = f"{bucket}{'0' * 26}1"
    assert Decimal(tiny) > bucket
    assert evaluate_all_ways(percentage(tiny), {}, subscriber_id=subscriber)[0] is TR


def test_bucket_explanation_shows_the_bucket() -> None:
    _, result = evaluate_all_ways(percentage("50"), {}, subscriber_id="cus_9")
    assert result.explanation is not None
    (condition,) = result.explanation.children
    assert condition.actual == bucket_of("seg-1", "cus_9")
    assert bucket_index("seg-1", "cus_9") == int(bucket_of("seg-1", "cus_9") * 1000)


def test_buckets_give_the_share_asked_for_independently_per_segment() -> None:
    """Over 100,000 fixed ids, each percentage selects its share (within half a point), and two
    segments' samples are independent: the share in both is the product of the shares."""
    subscribers = [f"cus_{i:06d}" for i in range(100_000)]
    first = [bucket_index("6650f0c2a1b2c3d4e5f60718", s) for s in subscribers]
    second = [bucket_index("6650f0c2a1b2c3d4e5f60719", s) for s in subscribers]
    assert min(first) >= 0 and max(first) < 100_000
    tolerance = Decimal("0.5")
    for pct in (Decimal(1), Decimal(10), Decimal("25.5"), Decimal(50), Decimal(90)):
        threshold = pct * 1000
        in_first = [b < threshold for b in first]
        in_second = [b < threshold for b in second]
        for sample in (in_first, in_second):
            assert abs(Decimal(sum(sample)) / 1000 - pct) <= tolerance, pct
        both = Decimal(sum(a and b for a, b in zip(in_first, in_second, strict=True))) / 1000
        assert abs(both - pct * pct / 100) <= tolerance, pct
