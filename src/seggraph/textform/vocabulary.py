"""What the parser and the printer agree on: operator spellings, value shapes, keywords."""

from __future__ import annotations

import re
from enum import Enum

from seggraph.domain.conditions import DateUnit, Operator

#: The longest conditions text the API reads (``conditionsText``). A number parsed from such a
#: text is written out in at most as many characters, so the printer writes out every number
#: up to this length and gives a longer one (saved before numbers were bounded) its exponent
#: form rather than millions of digits.
MAX_TEXT = 200_000


class Shape(Enum):
    """The syntax of the value that follows an operator."""

    NONE = "none"  # IS SET: no value
    SCALAR = "scalar"  # = 100, CONTAINS "a", ON "2026-01-31": a number, an amount or a string
    LIST = "list"  # IN ("a", "b"): a list in parentheses
    RANGE = "range"  # BETWEEN 1 AND 10: two scalars joined by AND
    RELATIVE = "relative"  # IN LAST 30 DAYS: a whole number and a unit


SHAPES: dict[Operator, Shape] = {
    Operator.EQ: Shape.SCALAR,
    Operator.NEQ: Shape.SCALAR,
    Operator.GT: Shape.SCALAR,
    Operator.GTE: Shape.SCALAR,
    Operator.LT: Shape.SCALAR,
    Operator.LTE: Shape.SCALAR,
    Operator.BETWEEN: Shape.RANGE,
    Operator.NOT_BETWEEN: Shape.RANGE,
    Operator.IN: Shape.LIST,
    Operator.NOT_IN: Shape.LIST,
    Operator.IS_SET: Shape.NONE,
    Operator.IS_NOT_SET: Shape.NONE,
    Operator.CONTAINS: Shape.SCALAR,
    Operator.NOT_CONTAINS: Shape.SCALAR,
    Operator.STARTS_WITH: Shape.SCALAR,
    Operator.ENDS_WITH: Shape.SCALAR,
    Operator.MATCHES: Shape.SCALAR,
    Operator.IS_TRUE: Shape.NONE,
    Operator.IS_FALSE: Shape.NONE,
    Operator.ON: Shape.SCALAR,
    Operator.NOT_ON: Shape.SCALAR,
    Operator.BEFORE: Shape.SCALAR,
    Operator.AFTER: Shape.SCALAR,
    Operator.ON_OR_BEFORE: Shape.SCALAR,
    Operator.ON_OR_AFTER: Shape.SCALAR,
    Operator.IN_LAST: Shape.RELATIVE,
    Operator.IN_NEXT: Shape.RELATIVE,
    Operator.MORE_THAN_AGO: Shape.RELATIVE,
    Operator.MORE_THAN_AHEAD: Shape.RELATIVE,
    Operator.CONTAINS_ANY: Shape.LIST,
    Operator.CONTAINS_ALL: Shape.LIST,
    Operator.CONTAINS_NONE: Shape.LIST,
    Operator.IS_EMPTY: Shape.NONE,
    Operator.IS_NOT_EMPTY: Shape.NONE,
    Operator.IN_SEGMENT: Shape.SCALAR,
    Operator.NOT_IN_SEGMENT: Shape.SCALAR,
    Operator.PERCENTAGE: Shape.SCALAR,
}

#: How the printer writes each operator (the relative ones around their amount, see the printer).
SPELLINGS: dict[Operator, str] = {
    Operator.EQ: "=",
    Operator.NEQ: "!=",
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
    Operator.BETWEEN: "BETWEEN",
    Operator.NOT_BETWEEN: "NOT BETWEEN",
    Operator.IN: "IN",
    Operator.NOT_IN: "NOT IN",
    Operator.IS_SET: "IS SET",
    Operator.IS_NOT_SET: "IS NOT SET",
    Operator.CONTAINS: "CONTAINS",
    Operator.NOT_CONTAINS: "NOT CONTAINS",
    Operator.STARTS_WITH: "STARTS WITH",
    Operator.ENDS_WITH: "ENDS WITH",
    Operator.MATCHES: "MATCHES",
    Operator.IS_TRUE: "IS TRUE",
    Operator.IS_FALSE: "IS FALSE",
    Operator.ON: "ON",
    Operator.NOT_ON: "NOT ON",
    Operator.BEFORE: "BEFORE",
    Operator.AFTER: "AFTER",
    Operator.ON_OR_BEFORE: "ON OR BEFORE",
    Operator.ON_OR_AFTER: "ON OR AFTER",
    Operator.IN_LAST: "IN LAST",
    Operator.IN_NEXT: "IN NEXT",
    Operator.MORE_THAN_AGO: "MORE THAN",  # MORE THAN 1 MONTH AGO
    Operator.MORE_THAN_AHEAD: "MORE THAN",  # MORE THAN 1 YEAR AHEAD
    Operator.CONTAINS_ANY: "CONTAINS ANY",
    Operator.CONTAINS_ALL: "CONTAINS ALL",
    Operator.CONTAINS_NONE: "CONTAINS NONE",
    Operator.IS_EMPTY: "IS EMPTY",
    Operator.IS_NOT_EMPTY: "IS NOT EMPTY",
    Operator.IN_SEGMENT: "IN SEGMENT",
    Operator.NOT_IN_SEGMENT: "NOT IN SEGMENT",
    Operator.PERCENTAGE: "PERCENTAGE",
}

#: The symbols of the comparison operators (``==`` and ``<>`` are accepted aliases).
SYMBOLS: dict[str, Operator] = {
    "=": Operator.EQ,
    "==": Operator.EQ,
    "!=": Operator.NEQ,
    "<>": Operator.NEQ,
    ">": Operator.GT,
    ">=": Operator.GTE,
    "<": Operator.LT,
    "<=": Operator.LTE,
}

#: Date units, singular and plural, upper case.
UNITS: dict[str, DateUnit] = {}
for _unit in DateUnit:
    UNITS[_unit.value] = _unit
    UNITS[_unit.value + "S"] = _unit

#: Every word with a meaning in the language.
KEYWORDS: frozenset[str] = frozenset(
    {"AND", "OR", "NOT", "ALL", "ANY", "NONE"}
    | {"IS", "SET", "TRUE", "FALSE", "EMPTY", "BETWEEN", "IN", "CONTAINS", "STARTS", "ENDS"}
    | {"WITH", "MATCHES", "ON", "BEFORE", "AFTER", "LAST", "NEXT", "MORE", "THAN", "AGO"}
    | {"AHEAD", "SEGMENT", "PERCENTAGE", "CASE", "INSENSITIVE", "CASE_INSENSITIVE", "NOCASE"}
    | {op.value for op in Operator}
    | set(UNITS)
)

#: The words that join or start conditions, so cannot be a property key as they stand (in any
#: case): such a key is written in backquotes, `not`. Other keywords are keys where a key is
#: expected (``segment IN SEGMENT "s"``), and a dotted word is always a key.
NOT_KEYS: frozenset[str] = frozenset(
    {"AND", "OR", "NOT", "ALL", "ANY", "NONE", "IN", "IN_SEGMENT", "NOT_IN_SEGMENT"}
)

#: A word: a property key (``subscriber.mrr``), a keyword or a currency code. ASCII only.
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
#: After an amount, the currency of the account: ``Money(amount, None)`` (ISO's generic currency
#: sign). A plain number is a ``Decimal``, which validation reads as such an amount for MONEY.
ACCOUNT_CURRENCY = "¤"
#: A currency code written without backquotes (``AND`` would be read as the connective).
CURRENCY = re.compile(r"[A-Z]{3}")


def is_plain_key(key: str) -> bool:
    """True when ``key`` can be written without backquotes."""
    if WORD.fullmatch(key) is None:
        return False
    return key.upper() not in NOT_KEYS


def is_plain_currency(code: str) -> bool:
    """True when ``code`` can follow an amount without backquotes."""
    return CURRENCY.fullmatch(code) is not None and code != "AND"
