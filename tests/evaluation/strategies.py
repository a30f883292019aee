"""Hypothesis strategies: random condition trees over a one-property-per-type catalogue, and
random provider values (good, wrongly typed, missing, unknown, wrapped)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from seggraph.domain.conditions import (
    BUCKET_PROPERTY,
    SEGMENT_PROPERTY,
    Combinator,
    Condition,
    DateUnit,
    Group,
    Money,
    Node,
    Operator,
    RelativeDate,
)
from seggraph.domain.properties import (
    OPERATORS_BY_TYPE,
    VALUELESS_OPERATORS,
    PropertyDefinition,
    PropertyType,
)
from seggraph.evaluation import MISSING, ResolvedValue, Truth, Unknown, UnknownReason

O = Operator  # noqa: E741
P = PropertyType

CATALOGUE: dict[str, PropertyDefinition] = {
    f"t.{kind.value.lower()}": PropertyDefinition(
        f"t.{kind.value.lower()}",
        kind.value.title(),
        kind,
        enum_values=("ACTIVE", "CANCELED", "SAVED") if kind is P.ENUM else (),
    )
    for kind in PropertyType
}
KEY = {definition.type: key for key, definition in CATALOGUE.items()}
#: A MONEY property declaring a currency other than the account's (a provider's bare amount
#: is in EUR there); its conditions and values are drawn like the other MONEY key's.
MONEY_EUR = "t.money_eur"
CATALOGUE[MONEY_EUR] = PropertyDefinition(MONEY_EUR, "Money in EUR", P.MONEY, currency="EUR")

ZONES = [
    ZoneInfo("UTC"),
    ZoneInfo("Europe/Paris"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Pacific/Auckland"),
]
# Clocks on awkward days: month ends, a leap day, a DST switch, late UTC evenings.
NOWS = [
    datetime(2024, 3, 31, 22, 30, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
    datetime(2023, 3, 31, 23, 59, tzinfo=UTC),
    datetime(2024, 1, 31, 0, 15, tzinfo=UTC),
    datetime(2024, 12, 31, 11, 0, tzinfo=UTC),
]
SEGMENT_IDS = ["seg-a", "seg-b", "seg-c"]
SUBSCRIBERS = [f"cus_{i}" for i in range(40)]

NUMBERS = [
    Decimal("0"),
    Decimal("100"),
    Decimal("100.00"),
    Decimal("99.95"),
    Decimal("-5"),
    Decimal("1E+2"),
    Decimal("0.3"),
]
CURRENCIES = [None, "USD", "EUR"]
TEXTS = ["gold", "Gold", "GOLD", "straße", "STRASSE", "", "old", "go", "a.b", " gold"]
PATTERNS = ["^gold$", "old", "STRASSE", "^$", "o+l", "[0-9]", r"a\.b", "ß"]
ENUMS = ["ACTIVE", "CANCELED", "SAVED"]
DATES = [
    "2023-02-28",
    "2023-03-31",
    "2024-02-28",
    "2024-02-29",
    "2024-03-01",
    "2024-03-30",
    "2024-03-31",
    "2024-04-01",
    "2024-04-14",
    "2024-12-31",
    "2025-01-01",
    "2024-01-31",
]
DATETIMES = DATES + [
    "2024-03-31T23:30:00+00:00",
    "2024-03-31T23:30:00",
    "2024-04-01T01:30:00+02:00",
    "2024-02-29T23:59:59-05:00",
    "2024-12-31T12:00:00+13:00",
]
LIST_ITEMS = ["a", "B", "b", "straße", "STRASSE"]
VERSIONS = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.0+build.5",
    "2.0.0",
    "1.10.0",
    "1.9.0",
    "1.0.0-2",
    "1.0.0-10",
]
PERCENTAGES = [
    Decimal("0"),
    Decimal("10"),
    Decimal("50.5"),
    Decimal("99.999"),
    Decimal("100"),
    Decimal("33.333"),
]


# --- condition values ----------------------------------------------------------------------------


def _scalar(kind: PropertyType, operator: Operator) -> st.SearchStrategy[Any]:
    if kind is P.NUMBER:
        return st.sampled_from(NUMBERS)
    if kind is P.MONEY:
        return st.builds(Money, st.sampled_from(NUMBERS), st.sampled_from(CURRENCIES))
    if kind is P.TEXT:
        if operator is O.MATCHES:
            return st.sampled_from(PATTERNS)
        non_empty = operator in (O.CONTAINS, O.NOT_CONTAINS, O.STARTS_WITH, O.ENDS_WITH)
        return st.sampled_from([t for t in TEXTS if t or not non_empty])
    if kind is P.ENUM:
        return st.sampled_from(ENUMS)
    if kind is P.DATE:
        return st.sampled_from(DATES)
    if kind is P.DATETIME:
        return st.sampled_from(DATETIMES)
    if kind is P.LIST:
        return st.sampled_from(LIST_ITEMS)
    if kind is P.SEMVER:
        return st.sampled_from(VERSIONS)
    raise AssertionError(kind)


def _sort_key(value: Any) -> Any:
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, str) and len(value) > 10:  # a date-time: order by its UTC-ish day
        return value[:10]
    return value


def _condition_value(kind: PropertyType, operator: Operator) -> st.SearchStrategy[Any]:
    if operator in VALUELESS_OPERATORS:
        return st.none()
    if operator in (O.IN_LAST, O.IN_NEXT, O.MORE_THAN_AGO, O.MORE_THAN_AHEAD):
        return st.builds(
            RelativeDate, st.sampled_from([1, 2, 12, 13, 30]), st.sampled_from(list(DateUnit))
        )
    one = _scalar(kind, operator)
    if operator in (O.BETWEEN, O.NOT_BETWEEN):
        return st.tuples(one, one).map(lambda pair: tuple(sorted(pair, key=_sort_key)))
    if operator in (O.IN, O.NOT_IN, O.CONTAINS_ANY, O.CONTAINS_ALL, O.CONTAINS_NONE):
        return st.lists(one, min_size=1, max_size=3).map(tuple)
    return one


_CONDITION_VALUES = {
    (kind, operator): _condition_value(kind, operator)
    for kind, operators in OPERATORS_BY_TYPE.items()
    for operator in operators
}
_OPERATORS = {kind: st.sampled_from(operators) for kind, operators in OPERATORS_BY_TYPE.items()}
_KINDS = st.sampled_from([*PropertyType, "SEGMENT", "BUCKET"])
_SEGMENT_OPERATORS = st.sampled_from([O.IN_SEGMENT, O.NOT_IN_SEGMENT])
_SEGMENT_IDS = st.sampled_from(SEGMENT_IDS)
_PERCENTAGES = st.sampled_from(PERCENTAGES)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    kind = draw(_KINDS)
    if kind == "SEGMENT":
        return Condition(SEGMENT_PROPERTY, draw(_SEGMENT_OPERATORS), draw(_SEGMENT_IDS))
    if kind == "BUCKET":
        return Condition(BUCKET_PROPERTY, O.PERCENTAGE, draw(_PERCENTAGES))
    assert isinstance(kind, PropertyType)
    operator = draw(_OPERATORS[kind])
    value = draw(_CONDITION_VALUES[kind, operator])
    ci = kind in (P.TEXT, P.LIST) and draw(st.booleans())
    key = draw(st.sampled_from([KEY[kind], MONEY_EUR])) if kind is P.MONEY else KEY[kind]
    return Condition(key, operator, value, ci)


def groups(depth: int = 1, max_depth: int = 5) -> st.SearchStrategy[Group]:
    child: st.SearchStrategy[Node] = conditions()
    if depth < max_depth:
        child = st.one_of(conditions(), conditions(), st.deferred(lambda: groups(depth + 1)))
    return st.builds(
        Group,
        st.sampled_from(list(Combinator)),
        st.lists(child, max_size=4 if depth < 3 else 3).map(tuple),
    )


# --- provider values -----------------------------------------------------------------------------

UNKNOWNS = [Unknown(UnknownReason.PROVIDER_ERROR, "boom"), Unknown(UnknownReason.TIMEOUT, "2s")]
WRONG = ["100", True, 5, b"gold", 1.5, ["x"], date(2024, 3, 31), "v1.0.0", None]

GOOD: dict[PropertyType, list[Any]] = {
    P.NUMBER: [
        100,
        100.0,
        Decimal("100.00"),
        99.95,
        Decimal("99.95"),
        -5,
        0,
        0.1 + 0.2,
        Decimal("0.3"),
        float("nan"),
        Decimal("NaN"),
        float("inf"),
        10**30,
    ],
    P.MONEY: [
        Money(Decimal("100"), "USD"),
        Money(100, None),
        Money(Decimal("99.95"), "usd"),
        Money(100, "EUR"),
        Money(Decimal("-5"), "EUR"),
        Decimal("100"),
        100,
        99.95,
        Money("100", "USD"),
        Money(1, "EURO"),
        Decimal("0"),
    ],
    P.TEXT: TEXTS + ["golden", "GOLDEN", "x1", "a.b", "aXb", "Straße"],
    P.ENUM: ["ACTIVE", "active", "Canceled", "saved", "OTHER", ""],
    P.BOOLEAN: [True, False, 0, 1, "true"],
    P.DATE: [
        date(2024, 3, 31),
        date(2024, 2, 29),
        date(2023, 2, 28),
        date(2024, 4, 14),
        date(2024, 4, 15),
        date(2024, 3, 1),
    ]
    + DATES
    + ["2024-03-31T10:00:00", datetime(2024, 3, 31, 10), "20240331", "2024-02-30"],
    P.DATETIME: [
        datetime(2024, 3, 31, 23, 30, tzinfo=UTC),
        datetime(2024, 3, 31, 23, 30),
        datetime(2024, 2, 29, 0, 30, tzinfo=timezone(timedelta(hours=5))),
        datetime(2024, 12, 31, 23, 0, tzinfo=ZoneInfo("America/New_York")),
        datetime(2024, 1, 30, 23, 59, tzinfo=UTC),
        date(2024, 3, 31),
        "2024-03-31T23:30:00Z",
        "2024-03-31T23:30:00",
        "2024-04-01",
        "2024-03-31T22:00:00-02:00",
        "garbage",
        "2024-13-01T00:00:00",
    ]
    + DATES,
    P.LIST: [["a"], [], ["B", "straße"], ("a", "b"), ["A", "b", "STRASSE"], ["a", 1], "a", ["c"]],
    P.SEMVER: VERSIONS + ["v1.0.0", "1.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+"],
}


ABSENT = object()  # the key is not in the values mapping at all


def _pool(kind: PropertyType) -> list[Any]:
    """Mostly good values, and often enough wrong, unknown and missing ones; each also wrapped
    in a ResolvedValue."""
    plain = GOOD[kind] * 2 + WRONG + UNKNOWNS * 3 + [MISSING] * 4
    wrapped = [ResolvedValue(value, "billing", 1.5) for value in plain[::2]]
    wrapped += [ResolvedValue(value) for value in plain[1::2]]
    return plain + plain + wrapped + [ABSENT] * 3


# Built once: hypothesis labels a strategy by hashing it, which is slow for big pools.
_VALUE_KEYS = [*KEY.values(), MONEY_EUR]
_VALUE_TUPLES = st.tuples(
    *(st.sampled_from(_pool(kind)) for kind in KEY), st.sampled_from(_pool(P.MONEY))
)


@st.composite
def value_maps(draw: st.DrawFn) -> dict[str, Any]:
    drawn = draw(_VALUE_TUPLES)
    return {
        key: value for key, value in zip(_VALUE_KEYS, drawn, strict=True) if value is not ABSENT
    }


segment_results = st.dictionaries(
    st.sampled_from(SEGMENT_IDS), st.sampled_from(list(Truth)), max_size=len(SEGMENT_IDS)
)
