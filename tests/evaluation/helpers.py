"""Shared helpers: compile one condition and evaluate it every way the core offers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from seggraph.domain.conditions import Combinator, Condition, Group, Node
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation import (
    CompiledSegment,
    EvaluationOptions,
    EvaluationResult,
    Truth,
    compile_segment,
)
from tests.evaluation.reference import reference_truth

P = PropertyType

CATALOGUE: dict[str, PropertyDefinition] = {
    "n": PropertyDefinition("n", "Number", P.NUMBER),
    "m": PropertyDefinition("m", "Money", P.MONEY),
    "me": PropertyDefinition("me", "Money in EUR", P.MONEY, currency="EUR"),
    "s": PropertyDefinition("s", "Text", P.TEXT),
    "e": PropertyDefinition("e", "Enum", P.ENUM, enum_values=("ACTIVE", "CANCELED", "SAVED")),
    "b": PropertyDefinition("b", "Boolean", P.BOOLEAN),
    "d": PropertyDefinition("d", "Date", P.DATE),
    "dt": PropertyDefinition("dt", "Date-time", P.DATETIME),
    "l": PropertyDefinition("l", "List", P.LIST),
    "v": PropertyDefinition("v", "Version", P.SEMVER),
}
KEY_OF = {definition.type: key for key, definition in CATALOGUE.items() if key != "me"}

#: The pinned clock of most tests: 2024-03-31 12:00 UTC (a leap year's March 31).
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)


def options(*, tz: str = "UTC", currency: str = "USD", now: datetime = NOW) -> EvaluationOptions:
    return EvaluationOptions(timezone=ZoneInfo(tz), currency=currency, clock=lambda: now)


def compile_one(node: Node, *, segment_id: str = "seg-1", **kw: Any) -> CompiledSegment:
    root = node if isinstance(node, Group) else Group(Combinator.ALL, (node,))
    return compile_segment(root, CATALOGUE, segment_id=segment_id, options=options(**kw))


def evaluate_all_ways(
    node: Node,
    values: Mapping[str, Any],
    *,
    subscriber_id: str = "sub-1",
    segment_id: str = "seg-1",
    segment_results: Mapping[str, Truth] | None = None,
    tz: str = "UTC",
    currency: str = "USD",
    now: datetime = NOW,
) -> tuple[Truth, EvaluationResult]:
    """The truth, after checking that the fast path, both ``evaluate`` modes and the reference
    interpreter agree on it; and the explained result."""
    root = node if isinstance(node, Group) else Group(Combinator.ALL, (node,))
    compiled = compile_one(root, segment_id=segment_id, tz=tz, currency=currency, now=now)
    fast = compiled.evaluate_truth(values, subscriber_id, segment_results)
    plain = compiled.evaluate(values, subscriber_id=subscriber_id, segment_results=segment_results)
    explained = compiled.evaluate(
        values, subscriber_id=subscriber_id, segment_results=segment_results, explain=True
    )
    expected = reference_truth(
        root,
        CATALOGUE,
        values,
        segment_id=segment_id,
        subscriber_id=subscriber_id,
        segment_results=segment_results,
        zone=ZoneInfo(tz),
        account=currency,
        now=now,
    )
    assert fast is plain.truth is explained.truth, (fast, plain.truth, explained.truth)
    assert fast is expected, f"compiled {fast}, reference {expected}"
    return fast, explained


def truth_of(condition: Condition, value: Any, **kw: Any) -> Truth:
    """The truth of one condition when its property has ``value`` (``ABSENT``: no key)."""
    values = {} if value is ABSENT else {condition.property: value}
    return evaluate_all_ways(condition, values, **kw)[0]


ABSENT = object()
