"""Condition trees in GraphQL: the recursive group input, the output types, JSON values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

from seggraph.api.enums import described_enum
from seggraph.domain import conditions as dc
from seggraph.domain.numbers import within_bounds

Combinator = described_enum(
    dc.Combinator,
    description="How a group combines its conditions and groups, in three-valued logic.",
    values={
        "ALL": "And: TRUE when every child is TRUE, FALSE when any is FALSE, else UNKNOWN. "
        "An empty ALL group matches everyone.",
        "ANY": "Or: TRUE when any child is TRUE, FALSE when every one is FALSE, else UNKNOWN. "
        "An empty ANY group matches no one.",
        "NONE": "Not any: TRUE when every child is FALSE, FALSE when any is TRUE, else "
        "UNKNOWN. An empty NONE group matches everyone.",
    },
)

#: Said of every relative date operator.
_RELATIVE = (
    'The value is {"amount": n, "unit": "DAY"|"WEEK"|"MONTH"|"YEAR"}, n a whole number from '
    "1 to 100,000; today is the account time zone's."
)

Operator = described_enum(
    dc.Operator,
    description="What a condition tests. Property.operators lists those a property's type "
    "allows. On a missing value every operator but IS_NOT_SET is FALSE; when the provider "
    "failed or timed out, every operator is UNKNOWN; on a value not of the property's type, "
    "every operator but IS_SET (TRUE) and IS_NOT_SET (FALSE) is UNKNOWN. A list value has at "
    "most 500 items, a text at most 1,000 characters. See docs/conditions.md.",
    values={
        "EQ": "Equals the value (NUMBER, MONEY, TEXT, ENUM, SEMVER by precedence).",
        "NEQ": "Differs from the value (NUMBER, MONEY, TEXT, ENUM, SEMVER).",
        "GT": "Greater than the value (NUMBER, MONEY, SEMVER).",
        "GTE": "Greater than or equal to the value (NUMBER, MONEY, SEMVER).",
        "LT": "Less than the value (NUMBER, MONEY, SEMVER).",
        "LTE": "Less than or equal to the value (NUMBER, MONEY, SEMVER).",
        "BETWEEN": "Within [min, max], both included (NUMBER, MONEY, DATE, DATETIME); min <= "
        "max, and a MONEY range's two bounds are in one currency (a bound without one is in "
        "the account currency), else INVALID_RANGE.",
        "NOT_BETWEEN": "Outside [min, max] (NUMBER, MONEY, DATE, DATETIME); [min, max] as for "
        "BETWEEN.",
        "IN": "Equals one of a list of values (NUMBER, MONEY, TEXT, ENUM).",
        "NOT_IN": "Equals none of a list of values (NUMBER, MONEY, TEXT, ENUM).",
        "IS_SET": "Has a value (any type); takes no value.",
        "IS_NOT_SET": "Has no value (any type); takes no value. TRUE on a missing value.",
        "CONTAINS": "TEXT: contains the value.",
        "NOT_CONTAINS": "TEXT: does not contain the value.",
        "STARTS_WITH": "TEXT: starts with the value.",
        "ENDS_WITH": "TEXT: ends with the value.",
        "MATCHES": "TEXT: an RE2 regular expression (at most 1,000 characters) matches "
        "somewhere in it (anchor it with ^ and $ to match the whole text).",
        "IS_TRUE": "BOOLEAN: is true; takes no value.",
        "IS_FALSE": "BOOLEAN: is false; takes no value.",
        "ON": "DATE, DATETIME: on the day YYYY-MM-DD (a DATETIME by its day in the account "
        "time zone).",
        "NOT_ON": "DATE, DATETIME: not on the day.",
        "BEFORE": "DATE, DATETIME: before the day.",
        "AFTER": "DATE, DATETIME: after the day.",
        "ON_OR_BEFORE": "DATE, DATETIME: on or before the day.",
        "ON_OR_AFTER": "DATE, DATETIME: on or after the day.",
        "IN_LAST": f"DATE, DATETIME: from n units before today up to today, both included. "
        f"{_RELATIVE}",
        "IN_NEXT": f"DATE, DATETIME: from today up to n units after today, both included. "
        f"{_RELATIVE}",
        "MORE_THAN_AGO": f"DATE, DATETIME: before the day n units before today. {_RELATIVE}",
        "MORE_THAN_AHEAD": f"DATE, DATETIME: after the day n units after today. {_RELATIVE}",
        "CONTAINS_ANY": "LIST: holds at least one of a list of strings.",
        "CONTAINS_ALL": "LIST: holds every one of a list of strings.",
        "CONTAINS_NONE": "LIST: holds none of a list of strings.",
        "IS_EMPTY": "LIST: holds no item; takes no value.",
        "IS_NOT_EMPTY": "LIST: holds at least one item; takes no value.",
        "IN_SEGMENT": 'On the property "segment": the subscriber is a MEMBER of the segment '
        "whose id is the value (a segment of the same mode, without a reference cycle); "
        "UNKNOWN when its result is.",
        "NOT_IN_SEGMENT": 'On the property "segment": the subscriber is NOT_MEMBER of the '
        "segment whose id is the value; UNKNOWN when its result is.",
        "PERCENTAGE": 'On the property "subscriber.bucket": the value (0 to 100, at most 3 '
        "decimals) percent of subscribers, chosen by a stable hash of the segment's and the "
        "subscriber's ids (TRUE when the bucket, 0 to 99.999, is below the value).",
    },
)


@strawberry.input(description="One condition: property, operator and value.")
class ConditionInput:
    property: str = strawberry.field(
        description='A property key from the catalogue (else UNKNOWN_PROPERTY), "segment" for '
        'IN_SEGMENT / NOT_IN_SEGMENT (else INVALID_PROPERTY), or "subscriber.bucket" for '
        "PERCENTAGE."
    )
    operator: Operator = strawberry.field(  # type: ignore[valid-type]
        description="One the property's type allows (Property.operators); IN_SEGMENT and "
        'NOT_IN_SEGMENT on "segment", PERCENTAGE on "subscriber.bucket" and only there (else '
        "OPERATOR_NOT_ALLOWED)."
    )
    value: JSON | None = strawberry.field(
        default=None,
        description="A number, string, list, [min, max], "
        '{"amount": 30, "unit": "DAY"} or {"amount": 99.95, "currency": "USD"}; '
        "omitted for operators that take none (else VALUE_NOT_ALLOWED), required by the others "
        "(else VALUE_REQUIRED). Refused at this field: a value not of the operator's form "
        "(INVALID_VALUE); an empty list, or an empty text for CONTAINS, NOT_CONTAINS, "
        "STARTS_WITH and ENDS_WITH (EMPTY_VALUE); a list of more than 500 items or a text of "
        "more than 1,000 characters (TOO_LONG); min above max, or a MONEY range in two "
        "currencies (INVALID_RANGE); an amount finer than its currency's minor unit "
        "(INVALID_MONEY); a MATCHES pattern RE2 refuses (INVALID_PATTERN); an IN_SEGMENT or "
        "NOT_IN_SEGMENT id with no segment of the request's mode (UNKNOWN_SEGMENT), or one "
        "that would make the references a cycle (REFERENCE_CYCLE).",
    )
    case_insensitive: bool = strawberry.field(
        default=False,
        description="Compare after case folding; default false. TEXT and LIST properties only "
        "(else CASE_INSENSITIVE_NOT_ALLOWED).",
    )


@strawberry.input(
    description="A group of conditions and nested groups. A segment has at most 100 "
    "conditions, an empty group or one nested too deep counting as one (else "
    "TOO_MANY_CONDITIONS, at the root, and none of them is checked) and 5 "
    "levels of groups, the root being level 1 (else TOO_DEEP, at the group too deep); "
    "SEGGRAPH_MAX_CONDITIONS and SEGGRAPH_MAX_CONDITION_DEPTH set them."
)
class ConditionGroupInput:
    combinator: Combinator = strawberry.field(  # type: ignore[valid-type]
        default=dc.Combinator.ALL, description="How the children combine; default ALL."
    )
    conditions: list[ConditionInput] = strawberry.field(
        default_factory=list,
        description='The group\'s conditions; error paths count them: ["conditions", "0"].',
    )
    groups: list[ConditionGroupInput] = strawberry.field(
        default_factory=list,
        description='Nested groups, after the conditions; error paths count them: ["groups", "0"].',
    )


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


@strawberry.type(name="Condition", description="One saved condition: property, operator, value.")
class ConditionType:
    property: str = strawberry.field(
        description='A property key, "segment" (IN_SEGMENT, NOT_IN_SEGMENT) or '
        '"subscriber.bucket" (PERCENTAGE).'
    )
    operator: Operator = strawberry.field(  # type: ignore[valid-type]
        description="What the condition tests."
    )
    value: JSON | None = strawberry.field(
        description="The value as saved, in ConditionInput.value's forms (a MONEY amount is a "
        'bare number in the account currency, or {"amount", "currency"}); null for operators '
        f"that take none. {EXACT_NUMBERS}"
    )
    case_insensitive: bool = strawberry.field(
        description="TEXT and LIST only: compared after case folding."
    )


@strawberry.type(name="ConditionGroup", description="A saved group of conditions and groups.")
class ConditionGroupType:
    combinator: Combinator = strawberry.field(  # type: ignore[valid-type]
        description="How the children combine."
    )
    conditions: list[ConditionType] = strawberry.field(description="The group's conditions.")
    groups: list[ConditionGroupType] = strawberry.field(
        description="Nested groups (their conditions and groups, recursively)."
    )

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
