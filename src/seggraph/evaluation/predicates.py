"""Compiling one condition's operator and value into a test of a coerced provider value.

A test takes the value the type's coercion produced (see ``values.py``) and the per-call
:class:`~seggraph.evaluation.context.Env`, and returns ``TRUE`` / ``FALSE``, or an
:class:`Unknown` when the value cannot be compared (money in another currency). Missing and
unknown values never reach a test: the compiler answers those before (see ``compiler.py``).

Everything that depends only on the condition is done here, once: numbers become ``Decimal``,
text is case-folded, lists become frozensets, patterns are compiled, dates are parsed to the
account's calendar days. Relative date operators read their bound from ``env.bounds`` because
it depends on "today".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from operator import methodcaller
from typing import Any, TypeAlias, final

import re2

from seggraph.domain.conditions import DateUnit, Money, Operator, RelativeDate
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation.context import Env, EvaluationOptions, no_segment_results
from seggraph.evaluation.dates import parse_iso_date, parse_iso_day
from seggraph.evaluation.semver import SemverError, parse_semver
from seggraph.evaluation.truth import FALSE, TRUE, Truth
from seggraph.evaluation.values import MoneyValue, Unknown, UnknownReason, value_currency

Test: TypeAlias = Callable[[Any, Env], "Truth | Unknown"]
#: Registers a relative-date bound (amount and unit, -1 past / +1 future) and returns its index
#: in ``env.bounds``.
BoundIndex: TypeAlias = Callable[[RelativeDate, int], int]

O = Operator  # noqa: E741 (short, for the operator tables below)


#: An Env for tests that do not read it (building the enum shortcut's table).
_NO_ENV = Env("", None, (), no_segment_results)


class ConditionValueError(ValueError):
    """The condition's value does not have the canonical form its operator needs."""


# --- condition values ----------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ConditionValueError(f"expected a number, got {value!r}")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise ConditionValueError(f"expected a number, got {value!r}")
    except InvalidOperation:
        raise ConditionValueError(f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise ConditionValueError(f"expected a finite number, got {value!r}")
    return number


def _money(value: Any, account_currency: str) -> tuple[Decimal, str]:
    """``(amount, currency)``; a bare number or ``Money`` without currency is the account's."""
    if isinstance(value, Money):
        currency = value.currency
        if currency is not None and not isinstance(currency, str):
            raise ConditionValueError(f"expected a currency code, got {currency!r}")
        return _decimal(value.amount), (currency or account_currency).upper()
    return _decimal(value), account_currency.upper()


def _pair(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConditionValueError(f"expected (min, max), got {value!r}")
    return value[0], value[1]


def _items(value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConditionValueError(f"expected a list, got {value!r}")
    return list(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ConditionValueError(f"expected a string, got {value!r}")
    return value


def _relative(value: Any) -> RelativeDate:
    if isinstance(value, Mapping) and set(value) == {"amount", "unit"}:
        try:
            value = RelativeDate(value["amount"], DateUnit(str(value["unit"]).upper()))
        except ValueError:
            raise ConditionValueError(
                f"expected a unit DAY, WEEK, MONTH or YEAR: {value!r}"
            ) from None
    if not isinstance(value, RelativeDate):
        raise ConditionValueError(f"expected a RelativeDate(amount, unit), got {value!r}")
    amount = value.amount
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or amount != int(amount):
        raise ConditionValueError(f"expected a whole amount, got {amount!r}")
    if int(amount) < 1:
        raise ConditionValueError(f"expected an amount >= 1, got {amount!r}")
    return RelativeDate(int(amount), DateUnit(value.unit))


# --- shared shapes -------------------------------------------------------------------------------


def _ordered(operator: Operator, target: Any) -> Test:
    """A comparison with ``target`` of a value of the same ordered kind (number, day, version
    precedence)."""
    if operator in (O.EQ, O.ON):
        return lambda v, env: TRUE if v == target else FALSE
    if operator in (O.NEQ, O.NOT_ON):
        return lambda v, env: TRUE if v != target else FALSE
    if operator in (O.GT, O.AFTER):
        return lambda v, env: TRUE if v > target else FALSE
    if operator in (O.GTE, O.ON_OR_AFTER):
        return lambda v, env: TRUE if v >= target else FALSE
    if operator in (O.LT, O.BEFORE):
        return lambda v, env: TRUE if v < target else FALSE
    if operator in (O.LTE, O.ON_OR_BEFORE):
        return lambda v, env: TRUE if v <= target else FALSE
    raise ConditionValueError(f"{operator.value} is not a comparison")


def _range(operator: Operator, low: Any, high: Any) -> Test:
    if operator is O.BETWEEN:
        return lambda v, env: TRUE if low <= v <= high else FALSE
    return lambda v, env: FALSE if low <= v <= high else TRUE


def _membership(operator: Operator, items: frozenset[Any]) -> Test:
    if operator is O.IN:
        return lambda v, env: TRUE if v in items else FALSE
    return lambda v, env: FALSE if v in items else TRUE


# --- per type ------------------------------------------------------------------------------------


def _number_test(operator: Operator, value: Any) -> Test:
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        low, high = _pair(value)
        return _range(operator, _decimal(low), _decimal(high))
    if operator in (O.IN, O.NOT_IN):
        # Equal numbers hash equal across int and Decimal, so 100 finds Decimal("100.00").
        return _membership(operator, frozenset(_decimal(item) for item in _items(value)))
    return _ordered(operator, _decimal(value))


def _mismatch(value_currency: str, condition_currencies: Iterable[str]) -> Unknown:
    wanted = ", ".join(sorted(set(condition_currencies)))
    return Unknown(
        UnknownReason.CURRENCY_MISMATCH,
        f"the value is in {value_currency}, the condition in {wanted}",
    )


def _money_test(operator: Operator, value: Any, account_currency: str) -> Test:
    """Money compares amounts of the same currency only; another currency is UNKNOWN. A
    condition naming several currencies (a range or list) combines its parts in Kleene logic:
    ``IN`` is the OR of ``EQ`` per item, ``BETWEEN`` the AND of ``GTE min`` and ``LTE max``."""
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        raw_low, raw_high = _pair(value)
        (low, low_cur), (high, high_cur) = (
            _money(raw_low, account_currency),
            _money(raw_high, account_currency),
        )
        negated = operator is O.NOT_BETWEEN

        def money_range(v: MoneyValue, env: Env) -> Truth | Unknown:
            amount, currency = v
            if currency == low_cur and currency == high_cur:
                inside = low <= amount <= high
                return TRUE if inside is not negated else FALSE
            if (currency == low_cur and amount < low) or (currency == high_cur and amount > high):
                return TRUE if negated else FALSE
            return _mismatch(currency, (low_cur, high_cur))

        return money_range
    if operator in (O.IN, O.NOT_IN):
        by_currency: dict[str, set[Decimal]] = {}
        for item in _items(value):
            amount, currency = _money(item, account_currency)
            by_currency.setdefault(currency, set()).add(amount)
        frozen = {currency: frozenset(amounts) for currency, amounts in by_currency.items()}
        currencies = len(frozen)
        negated = operator is O.NOT_IN

        def money_in(v: MoneyValue, env: Env) -> Truth | Unknown:
            amount, currency = v
            amounts = frozen.get(currency)
            if amounts is not None and amount in amounts:
                return FALSE if negated else TRUE
            if currencies > (0 if amounts is None else 1):
                return _mismatch(currency, frozen)
            return TRUE if negated else FALSE

        return money_in
    amount, currency = _money(value, account_currency)
    compare = _ordered(operator, amount)

    def money_compare(v: MoneyValue, env: Env) -> Truth | Unknown:
        if v[1] != currency:
            return _mismatch(v[1], (currency,))
        return compare(v[0], env)

    return money_compare


def _text_test(operator: Operator, value: Any, case_insensitive: bool) -> Test:
    if operator is O.MATCHES:
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not case_insensitive
        try:
            search = re2.compile(_text(value), options).search
        except re2.error as exc:
            raise ConditionValueError(f"not a valid RE2 pattern: {value!r} ({exc})") from None
        return lambda v, env: FALSE if search(v) is None else TRUE

    def fold(text: str) -> str:
        return text.casefold() if case_insensitive else text

    check: Callable[[str], bool]
    if operator in (O.IN, O.NOT_IN):
        items = frozenset(fold(_text(item)) for item in _items(value))
        if not case_insensitive:
            return _membership(operator, items)
        check = items.__contains__
    else:
        target = fold(_text(value))
        if operator in (O.EQ, O.NEQ):
            if not case_insensitive:
                return _ordered(operator, target)
            check = target.__eq__
        elif operator in (O.CONTAINS, O.NOT_CONTAINS):
            check = lambda text: target in text  # noqa: E731
        elif operator is O.STARTS_WITH:
            check = lambda text: text.startswith(target)  # noqa: E731
        elif operator is O.ENDS_WITH:
            check = lambda text: text.endswith(target)  # noqa: E731
        else:
            raise ConditionValueError(f"{operator.value} does not apply to text")
    negated = operator in (O.NEQ, O.NOT_IN, O.NOT_CONTAINS)
    if case_insensitive:
        if negated:
            return lambda v, env: FALSE if check(v.casefold()) else TRUE
        return lambda v, env: TRUE if check(v.casefold()) else FALSE
    if negated:
        return lambda v, env: FALSE if check(v) else TRUE
    return lambda v, env: TRUE if check(v) else FALSE


def _enum_test(operator: Operator, value: Any, declared: tuple[str, ...]) -> Test:
    canonical = {identifier.casefold(): identifier for identifier in declared}

    def identifier(item: Any) -> str:
        found = canonical.get(_text(item).strip().casefold())
        if found is None:
            raise ConditionValueError(f"{item!r} is not one of {', '.join(declared)}")
        return found

    if operator in (O.IN, O.NOT_IN):
        return _membership(operator, frozenset(identifier(item) for item in _items(value)))
    return _ordered(operator, identifier(value))


def _boolean_test(operator: Operator) -> Test:
    if operator is O.IS_TRUE:
        return lambda v, env: TRUE if v else FALSE
    return lambda v, env: FALSE if v else TRUE


def _day_parser(kind: PropertyType, options: EvaluationOptions) -> Callable[[Any], date]:
    """How a DATE or DATETIME condition value becomes a calendar day in the account zone."""

    def day(value: Any) -> date:
        try:
            if kind is PropertyType.DATE:
                if isinstance(value, date) and not isinstance(value, datetime):
                    return value
                return parse_iso_date(_text(value))
            if isinstance(value, datetime):
                if value.tzinfo is None or value.utcoffset() is None:
                    return value.date()
                return value.astimezone(options.timezone).date()
            if isinstance(value, date):
                return value
            return parse_iso_day(_text(value), options.timezone)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, ConditionValueError):
                raise
            raise ConditionValueError(f"expected an ISO-8601 date, got {value!r}") from None

    return day


def _date_test(
    operator: Operator,
    value: Any,
    kind: PropertyType,
    options: EvaluationOptions,
    bound_index: BoundIndex,
) -> Test:
    if operator in (O.IN_LAST, O.IN_NEXT, O.MORE_THAN_AGO, O.MORE_THAN_AHEAD):
        relative = _relative(value)
        if operator is O.IN_LAST:
            i = bound_index(relative, -1)
            return lambda d, env: TRUE if env.bounds[i] <= d <= env.today else FALSE
        if operator is O.IN_NEXT:
            i = bound_index(relative, +1)
            return lambda d, env: TRUE if env.today <= d <= env.bounds[i] else FALSE
        if operator is O.MORE_THAN_AGO:
            i = bound_index(relative, -1)
            return lambda d, env: TRUE if d < env.bounds[i] else FALSE
        i = bound_index(relative, +1)
        return lambda d, env: TRUE if d > env.bounds[i] else FALSE
    day = _day_parser(kind, options)
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        low, high = _pair(value)
        return _range(operator, day(low), day(high))
    return _ordered(operator, day(value))


def _list_test(operator: Operator, value: Any, case_insensitive: bool) -> Test:
    if operator is O.IS_EMPTY:
        return lambda v, env: FALSE if v else TRUE
    if operator is O.IS_NOT_EMPTY:
        return lambda v, env: TRUE if v else FALSE
    items = frozenset(
        _text(item).casefold() if case_insensitive else _text(item) for item in _items(value)
    )
    if case_insensitive:
        if operator is O.CONTAINS_ANY:
            return lambda v, env: FALSE if items.isdisjoint([x.casefold() for x in v]) else TRUE
        if operator is O.CONTAINS_ALL:
            return lambda v, env: TRUE if items.issubset([x.casefold() for x in v]) else FALSE
        return lambda v, env: TRUE if items.isdisjoint([x.casefold() for x in v]) else FALSE
    if operator is O.CONTAINS_ANY:
        return lambda v, env: FALSE if items.isdisjoint(v) else TRUE
    if operator is O.CONTAINS_ALL:
        return lambda v, env: TRUE if items.issubset(v) else FALSE
    return lambda v, env: TRUE if items.isdisjoint(v) else FALSE


def _semver_test(operator: Operator, value: Any) -> Test:
    try:
        target = parse_semver(_text(value)).precedence
    except SemverError as exc:
        raise ConditionValueError(str(exc)) from None
    compare = _ordered(operator, target)
    return lambda v, env: compare(v.precedence, env)


# --- shortcuts: the same answers for the commonest value classes, without coercion --------------


@final
@dataclass(frozen=True, slots=True)
class Shortcut:
    """A condition's answer for provider values of a few exact classes, without the coercion and
    the general test (see ``nodes.PropertyLeaf``): ``classes`` are the classes it applies to (a
    ``Decimal`` value must also be finite), and either ``table`` maps such a value to its truth
    (a value it lacks takes the general path), or ``predicate(value)`` decides it: TRUE when
    it holds, FALSE otherwise (swapped when ``negated``).

    For every value of those classes a shortcut gives exactly what ``coerce`` then ``test``
    give; the reference-agreement tests check it. ``predicate`` is a C-level callable where
    there is one (a bound comparison, ``frozenset.__contains__``, ``methodcaller``), so
    answering costs no Python frame.
    """

    classes: tuple[type, ...]
    predicate: Callable[[Any], Any] | None = None
    negated: bool = False
    table: Mapping[Any, Truth] | None = None
    #: For a value of none of ``classes`` (nor missing): ``other(value)`` is its truth, or
    #: ``None`` when the general path must answer it. One Python call, for a second common
    #: shape of value (a money amount in a ``Money``, beside the bare number).
    other: Callable[[Any], Truth | None] | None = None


#: ``value OP target`` as a method of the target: ``v > t`` is ``t.__lt__(v)``.
_REFLECTED = {
    O.EQ: "__eq__",
    O.NEQ: "__ne__",
    O.GT: "__lt__",
    O.GTE: "__le__",
    O.LT: "__gt__",
    O.LTE: "__ge__",
    O.ON: "__eq__",
    O.NOT_ON: "__ne__",
    O.AFTER: "__lt__",
    O.ON_OR_AFTER: "__le__",
    O.BEFORE: "__gt__",
    O.ON_OR_BEFORE: "__ge__",
}
_NUMERIC_CLASSES = (Decimal, int)


def _compare_shortcut(
    classes: tuple[type, ...], operator: Operator, target: Any
) -> Shortcut | None:
    name = _REFLECTED.get(operator)
    if name is None:
        return None
    return Shortcut(classes, getattr(target, name))


def _range_shortcut(classes: tuple[type, ...], operator: Operator, low: Any, high: Any) -> Shortcut:
    return Shortcut(classes, lambda v: low <= v <= high, negated=operator is O.NOT_BETWEEN)


def _membership_shortcut(
    classes: tuple[type, ...], operator: Operator, items: frozenset[Any]
) -> Shortcut:
    return Shortcut(classes, items.__contains__, negated=operator is O.NOT_IN)


def _number_shortcut(operator: Operator, value: Any) -> Shortcut | None:
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        low, high = _pair(value)
        return _range_shortcut(_NUMERIC_CLASSES, operator, _decimal(low), _decimal(high))
    if operator in (O.IN, O.NOT_IN):
        items = frozenset(_decimal(item) for item in _items(value))
        return _membership_shortcut(_NUMERIC_CLASSES, operator, items)
    return _compare_shortcut(_NUMERIC_CLASSES, operator, _decimal(value))


def _money_shortcut(
    operator: Operator, value: Any, account_currency: str, own_currency: str
) -> Shortcut | None:
    """When every amount of the condition is in ``own_currency`` (the currency of a
    provider's bare amount: the property's declared one, else the account's), the test is a
    number's: on a bare number or on the amount of a ``Money`` in that currency or none (what
    billing providers send). Any other value (another currency, a malformed amount) takes the
    general path, which says why it cannot be compared."""
    numeric = _money_numeric(operator, value, account_currency, own_currency)
    if numeric is None:
        return None
    predicate = numeric.predicate
    assert predicate is not None
    yes, no = (FALSE, TRUE) if numeric.negated else (TRUE, FALSE)
    own = own_currency.upper()
    # The spellings coerce_money reads as that currency (it compares upper-case).
    same = (None, own, own.lower())

    def in_money(v: Any) -> Truth | None:
        if v.__class__ is Money and v.currency in same:
            amount = v.amount
            c = amount.__class__
            if c is int or (c is Decimal and amount.is_finite()):
                return yes if predicate(amount) else no
        return None

    return replace(numeric, other=in_money)


def _money_numeric(
    operator: Operator, value: Any, account_currency: str, own_currency: str
) -> Shortcut | None:
    """The number's shortcut of a money condition whose amounts (a bare one in the account
    currency) are all in ``own_currency``, or ``None``."""
    own = own_currency.upper()
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        (low, low_cur), (high, high_cur) = (_money(v, account_currency) for v in _pair(value))
        if low_cur != own or high_cur != own:
            return None
        return _range_shortcut(_NUMERIC_CLASSES, operator, low, high)
    if operator in (O.IN, O.NOT_IN):
        amounts = [_money(item, account_currency) for item in _items(value)]
        if any(currency != own for _, currency in amounts):
            return None
        items = frozenset(amount for amount, _ in amounts)
        return _membership_shortcut(_NUMERIC_CLASSES, operator, items)
    amount, currency = _money(value, account_currency)
    if currency != own:
        return None
    return _compare_shortcut(_NUMERIC_CLASSES, operator, amount)


def _text_shortcut(operator: Operator, value: Any, case_insensitive: bool) -> Shortcut | None:
    classes = (str,)
    if operator is O.MATCHES:
        return None
    if not case_insensitive:
        if operator in (O.IN, O.NOT_IN):
            items = frozenset(_text(item) for item in _items(value))
            return _membership_shortcut(classes, operator, items)
        target = _text(value)
        if operator in (O.EQ, O.NEQ):
            return _compare_shortcut(classes, operator, target)
        negated = operator is O.NOT_CONTAINS
        if operator in (O.CONTAINS, O.NOT_CONTAINS):
            return Shortcut(classes, methodcaller("__contains__", target), negated=negated)
        if operator is O.STARTS_WITH:
            return Shortcut(classes, methodcaller("startswith", target))
        if operator is O.ENDS_WITH:
            return Shortcut(classes, methodcaller("endswith", target))
        return None
    check: Callable[[str], bool]
    if operator in (O.IN, O.NOT_IN):
        check = frozenset(_text(item).casefold() for item in _items(value)).__contains__
    else:
        folded = _text(value).casefold()
        if operator in (O.EQ, O.NEQ):
            check = folded.__eq__
        elif operator in (O.CONTAINS, O.NOT_CONTAINS):
            check = methodcaller("__contains__", folded)
        elif operator is O.STARTS_WITH:
            check = methodcaller("startswith", folded)
        elif operator is O.ENDS_WITH:
            check = methodcaller("endswith", folded)
        else:
            return None
    negated = operator in (O.NEQ, O.NOT_IN, O.NOT_CONTAINS)
    return Shortcut(classes, lambda v: check(v.casefold()), negated=negated)


def _enum_shortcut(operator: Operator, value: Any, declared: tuple[str, ...]) -> Shortcut | None:
    """A table from each declared identifier, as the provider sends it, to the truth."""
    test = _enum_test(operator, value, declared)
    table: dict[str, Truth] = {}
    for identifier in declared:
        truth = test(identifier, _NO_ENV)
        if not isinstance(truth, Truth):
            return None
        table[identifier] = truth
    return Shortcut((str,), table=table)


def _date_shortcut(operator: Operator, value: Any, options: EvaluationOptions) -> Shortcut | None:
    if operator in (O.IN_LAST, O.IN_NEXT, O.MORE_THAN_AGO, O.MORE_THAN_AHEAD):
        return None  # the bound moves with "today"
    day = _day_parser(PropertyType.DATE, options)
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        low, high = _pair(value)
        return _range_shortcut((date,), operator, day(low), day(high))
    return _compare_shortcut((date,), operator, day(value))


def build_shortcut(
    definition: PropertyDefinition,
    operator: Operator,
    value: Any,
    case_insensitive: bool,
    options: EvaluationOptions,
) -> Shortcut | None:
    """The shortcut of one condition, or ``None`` where every value takes the general path
    (DATETIME, LIST, SEMVER, relative dates, MATCHES, presence). Call it only for a condition
    :func:`build_test` accepted."""
    kind = definition.type
    if kind is PropertyType.NUMBER:
        return _number_shortcut(operator, value)
    if kind is PropertyType.MONEY:
        own = value_currency(definition.currency, options.currency)
        return _money_shortcut(operator, value, options.currency, own)
    if kind is PropertyType.TEXT:
        return _text_shortcut(operator, value, case_insensitive)
    if kind is PropertyType.ENUM:
        return _enum_shortcut(operator, value, definition.enum_values)
    if kind is PropertyType.BOOLEAN:
        yes, no = (TRUE, FALSE) if operator is O.IS_TRUE else (FALSE, TRUE)
        return Shortcut((bool,), table={True: yes, False: no})
    if kind is PropertyType.DATE:
        return _date_shortcut(operator, value, options)
    return None


def build_test(
    definition: PropertyDefinition,
    operator: Operator,
    value: Any,
    case_insensitive: bool,
    options: EvaluationOptions,
    bound_index: BoundIndex,
) -> Test:
    """The test of one condition on a property (presence operators are the compiler's)."""
    kind = definition.type
    if kind is PropertyType.NUMBER:
        return _number_test(operator, value)
    if kind is PropertyType.MONEY:
        return _money_test(operator, value, options.currency)
    if kind is PropertyType.TEXT:
        return _text_test(operator, value, case_insensitive)
    if kind is PropertyType.ENUM:
        return _enum_test(operator, value, definition.enum_values)
    if kind is PropertyType.BOOLEAN:
        return _boolean_test(operator)
    if kind in (PropertyType.DATE, PropertyType.DATETIME):
        return _date_test(operator, value, kind, options, bound_index)
    if kind is PropertyType.LIST:
        return _list_test(operator, value, case_insensitive)
    if kind is PropertyType.SEMVER:
        return _semver_test(operator, value)
    raise ConditionValueError(f"no operators for type {kind!r}")


__all__ = [
    "BoundIndex",
    "ConditionValueError",
    "Shortcut",
    "Test",
    "build_shortcut",
    "build_test",
]
