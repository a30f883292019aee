"""The condition tree of a segment, as plain immutable values.

This module is the shared vocabulary of the store, the validator, the text form and the
evaluation core. It holds no I/O and no GraphQL types. See ``docs/conditions.md`` (and the
condition specification it follows, ``operators.md``, kept outside this repository) for what
each operator means.

Canonical value forms (what a *validated* condition holds in ``Condition.value``):

- numbers (``NUMBER``, ``PERCENTAGE``): ``Decimal``
- money: ``Decimal`` in the account currency, or ``Money(amount, currency)`` with an explicit one
- text, enum identifiers, dates, date-times, semantic versions, segment ids: ``str``
- lists (``IN``, ``NOT_IN``, ``CONTAINS_ANY`` ...): ``tuple`` of the above
- ``BETWEEN`` / ``NOT_BETWEEN``: a 2-``tuple`` ``(min, max)``
- relative date operators: ``RelativeDate(amount: int, unit: DateUnit)``
- operators that take no value: ``None``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias


class Combinator(StrEnum):
    """How a group combines its children (Kleene logic, see the spec)."""

    ALL = "ALL"
    ANY = "ANY"
    NONE = "NONE"


class DateUnit(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


class Operator(StrEnum):
    EQ = "EQ"
    NEQ = "NEQ"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    BETWEEN = "BETWEEN"
    NOT_BETWEEN = "NOT_BETWEEN"
    IN = "IN"
    NOT_IN = "NOT_IN"
    IS_SET = "IS_SET"
    IS_NOT_SET = "IS_NOT_SET"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT_CONTAINS"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    MATCHES = "MATCHES"
    IS_TRUE = "IS_TRUE"
    IS_FALSE = "IS_FALSE"
    ON = "ON"
    NOT_ON = "NOT_ON"
    BEFORE = "BEFORE"
    AFTER = "AFTER"
    ON_OR_BEFORE = "ON_OR_BEFORE"
    ON_OR_AFTER = "ON_OR_AFTER"
    IN_LAST = "IN_LAST"
    IN_NEXT = "IN_NEXT"
    MORE_THAN_AGO = "MORE_THAN_AGO"
    MORE_THAN_AHEAD = "MORE_THAN_AHEAD"
    CONTAINS_ANY = "CONTAINS_ANY"
    CONTAINS_ALL = "CONTAINS_ALL"
    CONTAINS_NONE = "CONTAINS_NONE"
    IS_EMPTY = "IS_EMPTY"
    IS_NOT_EMPTY = "IS_NOT_EMPTY"
    IN_SEGMENT = "IN_SEGMENT"
    NOT_IN_SEGMENT = "NOT_IN_SEGMENT"
    PERCENTAGE = "PERCENTAGE"


#: The pseudo-property of ``IN_SEGMENT`` / ``NOT_IN_SEGMENT`` conditions.
SEGMENT_PROPERTY = "segment"
#: The pseudo-property of ``PERCENTAGE`` conditions.
BUCKET_PROPERTY = "subscriber.bucket"


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class RelativeDate:
    amount: int
    unit: DateUnit


ConditionValue: TypeAlias = Any
"""One of the canonical forms listed in the module docstring."""


@dataclass(frozen=True, slots=True)
class Condition:
    property: str
    operator: Operator
    value: ConditionValue = None
    case_insensitive: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    combinator: Combinator
    children: tuple[Node, ...] = field(default_factory=tuple)


Node: TypeAlias = Condition | Group


def iter_conditions(node: Node) -> list[Condition]:
    """Every condition of a tree, depth first, in order."""
    if isinstance(node, Condition):
        return [node]
    out: list[Condition] = []
    for child in node.children:
        out.extend(iter_conditions(child))
    return out


def group_depth(node: Node) -> int:
    """Levels of groups in a tree (the root group is level 1; a lone condition is 0)."""
    if isinstance(node, Condition):
        return 0
    return 1 + max((group_depth(child) for child in node.children), default=0)


def referenced_segments(node: Node) -> set[str]:
    """Ids of the segments an ``IN_SEGMENT`` / ``NOT_IN_SEGMENT`` condition names."""
    return {
        str(c.value)
        for c in iter_conditions(node)
        if c.operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT)
    }


EMPTY_ROOT = Group(Combinator.ALL, ())
