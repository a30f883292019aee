"""Condition trees in GraphQL: the recursive group input, the output types, JSON values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

from seggraph.domain import conditions as dc
from seggraph.domain.numbers import within_bounds

Combinator = strawberry.enum(dc.Combinator, description="ALL (and), ANY (or), NONE (not any).")
Operator = strawberry.enum(dc.Operator, description="See docs/conditions.md for each operator.")


@strawberry.input(description="One condition: property, operator and value.")
class ConditionInput:
    property: str = strawberry.field(
        description='A property key from the catalogue, "segment" for IN_SEGMENT / '
        'NOT_IN_SEGMENT, or "subscriber.bucket" for PERCENTAGE.'
    )
    operator: Operator  # type: ignore[valid-type]
    value: JSON | None = strawberry.field(
        default=None,
        description="A number, string, list, [min, max], "
        '{"amount": 30, "unit": "DAY"} or {"amount": 99.95, "currency": "USD"}; '
        "omitted for operators that take none.",
    )
    case_insensitive: bool = strawberry.field(
        default=False, description="TEXT and LIST operators only: compare after case folding."
    )


@strawberry.input(description="A group of conditions and nested groups.")
class ConditionGroupInput:
    combinator: Combinator = dc.Combinator.ALL  # type: ignore[valid-type]
    conditions: list[ConditionInput] = strawberry.field(default_factory=list)
    groups: list[ConditionGroupInput] = strawberry.field(default_factory=list)


def to_domain(group: ConditionGroupInput) -> dc.Group:
    """The input as a domain tree with raw values (validation parses them)."""
    children: list[dc.Node] = [
        dc.Condition(c.property, dc.Operator(c.operator), c.value, c.case_insensitive)
        for c in group.conditions
    ]
    children += [to_domain(g) for g in group.groups]
    return dc.Group(dc.Combinator(group.combinator), tuple(children))


#: Said of every JSON field that answers a number (condition values, provider values).
EXACT_NUMBERS = (
    "A number a double cannot hold exactly (an integer beyond 2^53, or more digits than a "
    "double keeps) is a JSON string of the same number, so that no client rounds it."
)


def value_to_json(value: Any) -> Any:
    """A canonical condition value as JSON: exact decimals as numbers while a double holds them
    exactly, as strings (which read back as the same number) otherwise."""
    if isinstance(value, Decimal):
        if not within_bounds(value):  # saved before numbers were bounded: no arithmetic on it
            return str(value)
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dc.Money):
        amount = value_to_json(value.amount)
        return amount if value.currency is None else {"amount": amount, "currency": value.currency}
    if isinstance(value, dc.RelativeDate):
        return {"amount": value.amount, "unit": value.unit.value}
    if isinstance(value, tuple | list):
        return [value_to_json(item) for item in value]
    return value


@strawberry.type(name="Condition")
class ConditionType:
    property: str
    operator: Operator  # type: ignore[valid-type]
    value: JSON | None = strawberry.field(description=EXACT_NUMBERS)
    case_insensitive: bool


@strawberry.type(name="ConditionGroup")
class ConditionGroupType:
    combinator: Combinator  # type: ignore[valid-type]
    conditions: list[ConditionType]
    groups: list[ConditionGroupType]

    @classmethod
    def of(cls, group: dc.Group) -> ConditionGroupType:
        return cls(
            combinator=group.combinator,
            conditions=[
                ConditionType(
                    property=c.property,
                    operator=c.operator,
                    value=value_to_json(c.value),
                    case_insensitive=c.case_insensitive,
                )
                for c in group.children
                if isinstance(c, dc.Condition)
            ],
            groups=[cls.of(g) for g in group.children if isinstance(g, dc.Group)],
        )
