"""The results of an evaluation: the truth, why it is UNKNOWN, and (on request) why it is what
it is, condition by condition."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from seggraph.domain.conditions import Combinator, Operator
from seggraph.domain.errors import PathPart
from seggraph.evaluation.truth import Truth
from seggraph.evaluation.values import Unknown, UnknownReason

Path: TypeAlias = tuple[PathPart, ...]


class ValueState(StrEnum):
    """What the provider answered for a condition's property."""

    PRESENT = "PRESENT"
    MISSING = "MISSING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class ConditionExplanation:
    """One evaluated condition.

    ``path`` locates the condition in the tree: the root group is ``("conditions",)`` and each
    child adds ``"children", index``. ``actual`` is the provider's value as received (``MISSING``
    when it had none; the :class:`Unknown` it answered; for ``IN_SEGMENT`` the referenced
    segment's :class:`Truth`; for ``PERCENTAGE`` the subscriber's bucket). ``unknown`` is set
    when the result is UNKNOWN, whether the provider failed or the value could not be read
    (type error, currency mismatch) — in the latter case ``state`` is still ``PRESENT``.
    """

    path: Path
    property: str
    operator: Operator
    expected: Any
    actual: Any
    state: ValueState
    result: Truth
    unknown: Unknown | None = None
    provider: str | None = None
    latency_ms: float | None = None
    case_insensitive: bool = False
    #: The provider's note on how it derived the value (:class:`ResolvedValue`'s), if any.
    note: str | None = None


@dataclass(frozen=True, slots=True)
class GroupExplanation:
    path: Path
    combinator: Combinator
    result: Truth
    children: tuple[GroupExplanation | ConditionExplanation, ...]


Explanation: TypeAlias = GroupExplanation | ConditionExplanation


@dataclass(frozen=True, slots=True)
class UnknownCause:
    """A condition that makes an UNKNOWN result UNKNOWN, and why."""

    path: Path
    property: str
    reason: UnknownReason
    detail: str
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """``truth`` of the root; ``unknown_reasons`` is empty unless ``truth`` is UNKNOWN, and then
    lists the UNKNOWN conditions the result depends on (those reached from the root through
    UNKNOWN groups — the same whether or not an explanation was asked for)."""

    truth: Truth
    unknown_reasons: tuple[UnknownCause, ...] = ()
    explanation: GroupExplanation | None = None

    @property
    def is_member(self) -> bool:
        return self.truth is Truth.TRUE


def cause_of(explanation: ConditionExplanation) -> UnknownCause:
    unknown = explanation.unknown
    assert unknown is not None, "only an UNKNOWN condition has a cause"
    return UnknownCause(
        explanation.path,
        explanation.property,
        unknown.reason,
        unknown.detail,
        explanation.provider,
    )


def unknown_causes(node: Explanation) -> list[UnknownCause]:
    """The causes of an UNKNOWN explanation, depth first in tree order."""
    if node.result is not Truth.UNKNOWN:
        return []
    if isinstance(node, ConditionExplanation):
        return [cause_of(node)]
    causes: list[UnknownCause] = []
    for child in node.children:
        causes.extend(unknown_causes(child))
    return causes
