"""Validating a condition tree against the catalogue and the spec's rules.

The validator returns the canonical tree (values parsed, ``IN`` items trimmed, children ordered
conditions first, then groups) or every error found, each with the path of the offending part
in the input: ``("conditions", "groups", 1, "conditions", 0, "value")``. Segment references are
checked by the segment service, which can read the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

import re2

from seggraph.catalogue import Catalogue
from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    Group,
    Money,
    Node,
    Operator,
)
from seggraph.domain.errors import PathPart, UserError
from seggraph.domain.properties import VALUELESS_OPERATORS, PropertyDefinition, PropertyType
from seggraph.domain.segments import canonical_id
from seggraph.evaluation.dates import parse_iso_day
from seggraph.validation import values as v

Path = tuple[PathPart, ...]

_LIST_OPERATORS = frozenset(
    {
        Operator.IN,
        Operator.NOT_IN,
        Operator.CONTAINS_ANY,
        Operator.CONTAINS_ALL,
        Operator.CONTAINS_NONE,
    }
)
_RANGE_OPERATORS = frozenset({Operator.BETWEEN, Operator.NOT_BETWEEN})
_RELATIVE_OPERATORS = frozenset(
    {Operator.IN_LAST, Operator.IN_NEXT, Operator.MORE_THAN_AGO, Operator.MORE_THAN_AHEAD}
)
#: The spec's list: an empty string is refused for these (it would be TRUE for every text).
#: ``MATCHES ""`` is not among them: the empty pattern is a valid RE2 pattern.
_NON_EMPTY_TEXT = frozenset(
    {Operator.CONTAINS, Operator.NOT_CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH}
)
_CASE_INSENSITIVE_TYPES = frozenset({PropertyType.TEXT, PropertyType.LIST})
#: Operators of the pseudo-properties ``segment`` and ``subscriber.bucket`` (no catalogue type).
_PSEUDO_OPERATORS = frozenset({Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT, Operator.PERCENTAGE})


@dataclass(frozen=True)
class TreeLimits:
    """Size limits of a condition tree (settings; the spec's defaults)."""

    max_depth: int = 5
    max_conditions: int = 100
    max_list_items: int = 500
    max_text_length: int = 1000
    max_regex_length: int = 1000


@dataclass
class ValidationOutcome:
    tree: Group
    errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = field(default_factory=list)
    #: Refused as a whole (too many conditions): none of its conditions was read.
    unread: bool = False


def normalized(group: Group) -> Group:
    """Children ordered conditions first, then groups (the order the GraphQL input has)."""
    conditions = [c for c in group.children if isinstance(c, Condition)]
    groups = [normalized(g) for g in group.children if isinstance(g, Group)]
    return Group(group.combinator, (*conditions, *groups))


def child_paths(group: Group) -> list[tuple[PathPart, ...]]:
    """The input path of each child of a normalized group, relative to the group: its
    conditions first (``conditions``, i), then its groups (``groups``, i)."""
    n_conditions = sum(1 for c in group.children if isinstance(c, Condition))
    return [
        ("conditions", index) if index < n_conditions else ("groups", index - n_conditions)
        for index in range(len(group.children))
    ]


def child_path(group: Group, index: int) -> tuple[PathPart, ...]:
    """The input path of a normalized group's ``index``-th child (:func:`child_paths`). It
    reads all the group's children: a loop over them takes :func:`child_paths` once instead
    (calling this for each child is quadratic)."""
    return child_paths(group)[index]


def _count_conditions(group: Group, depth: int, max_depth: int) -> tuple[int, int]:
    """The conditions of a tree down to ``max_depth``, and its empty groups and groups nested
    past it (refused as such, their contents unread), which count as conditions against the
    limit: else a tree of no condition held any number of them (20,000 empty groups were
    saved, each answered and explained as a node of its own, or refused with an error each)."""
    conditions = groups = 0
    for child in group.children:
        if not isinstance(child, Group):
            conditions += 1
        elif not child.children or depth + 1 > max_depth:
            groups += 1
        else:
            inner, inner_groups = _count_conditions(child, depth + 1, max_depth)
            conditions, groups = conditions + inner, groups + inner_groups
    return conditions, groups


def _empty_group_warning(group: Group, path: Path) -> UserError:
    """An empty group inside the tree is allowed (the spec gives it a meaning) but is most
    likely a group left empty in an editor: say what it does to its parent."""
    truth = "FALSE for everyone" if group.combinator is Combinator.ANY else "TRUE for everyone"
    return UserError(
        path,
        "EMPTY_GROUP",
        f"this {group.combinator.value} group has no conditions: it is {truth}",
    )


class ConditionValidator:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        currency: str,
        limits: TreeLimits | None = None,
        zone: tzinfo = UTC,
    ) -> None:
        self.catalogue = catalogue
        self.currency = currency
        self.limits = limits or TreeLimits()
        self.zone = zone  # the account time zone: DATETIME values are days in it

    def validate(self, root: Group, prefix: Path = ("conditions",)) -> ValidationOutcome:
        root = normalized(root)
        outcome = ValidationOutcome(tree=root)
        errors = outcome.errors
        # Counted before any condition is read: a tree past the limit is refused as a whole,
        # with one error, not one for each of its conditions (a conditionsText may hold
        # 28,000, and each unknown property was an error: 1.8 MB of them).
        count, groups = _count_conditions(root, 1, self.limits.max_depth)
        if count + groups > self.limits.max_conditions:
            message = f"a segment has at most {self.limits.max_conditions} conditions"
            if groups:
                message += (
                    ", an empty group (or one nested too deep) counting as one; this one has "
                    f"{count} conditions and {groups} such groups"
                )
            else:
                message += f", this one has {count}"
            errors.append(UserError(prefix, "TOO_MANY_CONDITIONS", message))
            outcome.unread = True
            return outcome
        tree = self._group(root, prefix, 1, errors, outcome.warnings)
        if not root.children:
            outcome.warnings.append(
                UserError(
                    prefix,
                    "EMPTY_CONDITIONS",
                    "the segment has no conditions: "
                    + (
                        "it matches no one"
                        if root.combinator is Combinator.ANY
                        else "it matches everyone"
                    ),
                )
            )
        outcome.tree = tree
        return outcome

    def _group(
        self,
        group: Group,
        path: Path,
        depth: int,
        errors: list[UserError],
        warnings: list[UserError],
    ) -> Group:
        if depth > self.limits.max_depth:
            errors.append(
                UserError(
                    path,
                    "TOO_DEEP",
                    f"groups nest at most {self.limits.max_depth} levels deep "
                    "(the root group is level 1)",
                )
            )
            return group
        children: list[Node] = []
        for child, at in zip(group.children, child_paths(group), strict=True):
            child_at = path + at
            if isinstance(child, Group):
                if not child.children:
                    warnings.append(_empty_group_warning(child, child_at))
                children.append(self._group(child, child_at, depth + 1, errors, warnings))
            else:
                children.append(self._condition(child, child_at, errors))
        return Group(group.combinator, tuple(children))

    def _condition(self, condition: Condition, path: Path, errors: list[UserError]) -> Condition:
        def refuse(where: Path, code: str, message: str) -> Condition:
            errors.append(UserError(path + where, code, message))
            return condition

        key, operator = condition.property, condition.operator
        if condition.case_insensitive and (
            operator in _PSEUDO_OPERATORS or key in (SEGMENT_PROPERTY, BUCKET_PROPERTY)
        ):
            return refuse(
                ("caseInsensitive",),
                "CASE_INSENSITIVE_NOT_ALLOWED",
                f"caseInsensitive applies to TEXT and LIST properties only, not to "
                f"{key} {operator.value}",
            )
        if operator in (Operator.IN_SEGMENT, Operator.NOT_IN_SEGMENT):
            if key != SEGMENT_PROPERTY:
                return refuse(
                    ("property",),
                    "INVALID_PROPERTY",
                    f"{operator.value} takes the pseudo-property {SEGMENT_PROPERTY!r}, got {key!r}",
                )
            if not isinstance(condition.value, str) or not condition.value.strip():
                return refuse(("value",), "INVALID_VALUE", f"{operator.value} takes a segment id")
            return Condition(key, operator, canonical_id(condition.value.strip()))
        if operator is Operator.PERCENTAGE or key == BUCKET_PROPERTY:
            if key != BUCKET_PROPERTY or operator is not Operator.PERCENTAGE:
                return refuse(
                    ("operator",),
                    "OPERATOR_NOT_ALLOWED",
                    f"{BUCKET_PROPERTY} takes only PERCENTAGE, "
                    f"and PERCENTAGE only {BUCKET_PROPERTY}",
                )
            try:
                return Condition(key, operator, v.parse_percentage(condition.value))
            except v.ValueRefused as exc:
                return refuse(("value",), exc.code, f"{key} PERCENTAGE: {exc.message}")

        definition = self.catalogue.get(key)
        if definition is None:
            return refuse(("property",), "UNKNOWN_PROPERTY", f"there is no property {key!r}")
        if operator not in definition.operators:
            allowed = ", ".join(o.value for o in definition.operators)
            return refuse(
                ("operator",),
                "OPERATOR_NOT_ALLOWED",
                f"{operator.value} is not allowed for {key} ({definition.type.value}); "
                f"allowed: {allowed}",
            )
        if condition.case_insensitive and definition.type not in _CASE_INSENSITIVE_TYPES:
            return refuse(
                ("caseInsensitive",),
                "CASE_INSENSITIVE_NOT_ALLOWED",
                f"caseInsensitive applies to TEXT and LIST properties only; {key} is "
                f"{definition.type.value}",
            )
        try:
            value = self._value(definition, operator, condition.value, condition.case_insensitive)
        except v.ValueRefused as exc:
            where = _where(exc.at)
            return refuse(
                ("value", *exc.at), exc.code, f"{key} {operator.value}: {where}{exc.message}"
            )
        return Condition(key, operator, value, condition.case_insensitive)

    def _value(
        self,
        definition: PropertyDefinition,
        operator: Operator,
        raw: Any,
        case_insensitive: bool = False,
    ) -> Any:
        if operator in VALUELESS_OPERATORS:
            if raw is not None:
                raise v.ValueRefused(f"{operator.value} takes no value", "VALUE_NOT_ALLOWED")
            return None
        if raw is None:
            raise v.ValueRefused("a value is required", "VALUE_REQUIRED")
        one = self._scalar_parser(definition, operator)
        if operator in _RELATIVE_OPERATORS:
            return v.parse_relative(raw)
        if operator in _RANGE_OPERATORS:
            items = v.as_list(raw, max_items=2)
            if len(items) != 2:
                raise v.ValueRefused("expected [min, max]")
            low, high = _item(one, items, 0), _item(one, items, 1)
            if definition.type is PropertyType.MONEY:
                self._check_one_currency(operator, low, high)
            if self._sort_key(definition, low) > self._sort_key(definition, high):
                raise v.ValueRefused(
                    f"expected min <= max, got [{v.shown(low)}, {v.shown(high)}]"
                    + self._days_of(definition, low, high),
                    "INVALID_RANGE",
                )
            return (low, high)
        if operator in _LIST_OPERATORS:
            items = v.as_list(raw, max_items=self.limits.max_list_items)
            if operator in (Operator.IN, Operator.NOT_IN):  # the spec trims these items only
                items = [item.strip() if isinstance(item, str) else item for item in items]
            return tuple(_item(one, items, index) for index in range(len(items)))
        value = one(raw)
        if operator is Operator.MATCHES:
            self._check_regex(value, case_insensitive)
        return value

    def _scalar_parser(
        self, definition: PropertyDefinition, operator: Operator
    ) -> Callable[[Any], Any]:
        kind = definition.type
        max_text = self.limits.max_text_length
        if kind is PropertyType.NUMBER:
            return v.parse_decimal
        if kind is PropertyType.MONEY:
            return lambda raw: v.parse_money(raw, self.currency)
        if kind in (PropertyType.TEXT, PropertyType.LIST):
            allow_empty = operator not in _NON_EMPTY_TEXT
            return lambda raw: v.parse_text(raw, allow_empty=allow_empty, max_length=max_text)
        if kind is PropertyType.ENUM:
            return lambda raw: v.parse_enum(raw, definition.enum_values)
        if kind is PropertyType.DATE:
            return v.parse_date
        if kind is PropertyType.DATETIME:
            return self._datetime
        if kind is PropertyType.SEMVER:
            return v.parse_semver
        raise v.ValueRefused(f"{kind.value} conditions take no value")

    def _datetime(self, raw: Any) -> str:
        """A DATETIME value whose calendar day in the account zone exists (evaluation reads it
        so): ``0001-01-01T00:00:00+05:00`` falls before the first day of the calendar in UTC."""
        value = v.parse_date_or_datetime(raw)
        try:
            parse_iso_day(value, self.zone)
        except (ValueError, OverflowError):
            raise v.ValueRefused(
                f"{value} falls outside the calendar (years 1 to 9999) in the account time zone"
            ) from None
        return value

    def _check_regex(self, pattern: str, case_insensitive: bool) -> None:
        """``pattern`` compiles as evaluation compiles it: case-insensitive matching takes a
        larger program, which RE2 may refuse (too large) where the case-sensitive one fits."""
        if len(pattern) > self.limits.max_regex_length:
            raise v.ValueRefused(
                f"a pattern has at most {self.limits.max_regex_length} characters", "TOO_LONG"
            )
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not case_insensitive
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise v.ValueRefused(f"not a valid RE2 pattern: {reason}", "INVALID_PATTERN") from None

    def _check_one_currency(self, operator: Operator, low: Any, high: Any) -> None:
        """The bounds of a MONEY range are in one currency: ``min <= max`` cannot be decided
        across currencies, and no conversion is guessed. A bound without a currency (saved as
        the bare amount) is in the account currency, as evaluation reads it: with the account
        in USD, ``[10, 50 USD]`` is one currency and ``[10, 50 EUR]`` is two."""
        low_currency, high_currency = (
            getattr(bound, "currency", None) or self.currency for bound in (low, high)
        )
        if low_currency.upper() == high_currency.upper():
            return
        named = [
            currency if isinstance(bound, Money) else f"{currency} (the account currency)"
            for bound, currency in ((low, low_currency), (high, high_currency))
        ]
        raise v.ValueRefused(
            f"the two bounds of {operator.value} must be in one currency, "
            f"got {named[0]} and {named[1]}",
            "INVALID_RANGE",
        )

    def _days_of(self, definition: PropertyDefinition, low: Any, high: Any) -> str:
        """For date-times, the calendar days the range compares (in the account time zone),
        which the offsets written may hide; else nothing."""
        if definition.type is not PropertyType.DATETIME:
            return ""
        days = [parse_iso_day(bound, self.zone) for bound in (low, high)]
        return f" (in the account time zone, the days {days[0]} and {days[1]})"

    def _sort_key(self, definition: PropertyDefinition, value: Any) -> Any:
        """Comparable form of a range bound: money by amount, a DATETIME as evaluation reads
        it (its calendar day in the account zone: ``23:00-05:00`` is the next day in UTC), a
        DATE as its ISO text."""
        if definition.type is PropertyType.DATETIME:
            return parse_iso_day(value, self.zone)
        return getattr(value, "amount", value)


def _item(parse: Callable[[Any], Any], items: list[Any], index: int) -> Any:
    """``parse(items[index])``; a refusal of a part of the item says which item."""
    try:
        return parse(items[index])
    except v.ValueRefused as exc:
        if exc.at:
            raise v.ValueRefused(exc.message, exc.code, (index, *exc.at)) from None
        raise


def _where(at: tuple[str | int, ...]) -> str:
    """``value[1].currency: `` for a refusal of a part of a value (empty for the whole)."""
    if not at:
        return ""
    text = "value" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in at)
    return f"{text}: "
