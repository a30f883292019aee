"""Every operator of every type, at its edges.

Each row compiles one condition and checks its truth on one provider value through the fast
path, ``evaluate`` with and without an explanation, and the reference interpreter (see
``helpers.evaluate_all_ways``). Clock pinned at 2024-03-31 12:00 UTC unless a row says otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from seggraph.domain.conditions import Condition, DateUnit, Money, Operator, RelativeDate
from seggraph.domain.properties import OPERATORS_BY_TYPE, PropertyType
from seggraph.evaluation import MISSING, ResolvedValue, Truth, Unknown, UnknownReason
from tests.evaluation.helpers import ABSENT, KEY_OF, truth_of

O = Operator  # noqa: E741
P = PropertyType
TR, FA, UN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
D = Decimal
ERR = Unknown(UnknownReason.PROVIDER_ERROR, "503 from billing")
TIMEOUT = Unknown(UnknownReason.TIMEOUT, "after 2s")
PARIS = "Europe/Paris"
NY = "America/New_York"


def rel(amount: int, unit: str) -> RelativeDate:
    return RelativeDate(amount, DateUnit(unit))


Row = tuple[PropertyType, Operator, Any, Any, Truth, dict[str, Any]]


def row(
    kind: PropertyType, op: Operator, value: Any, actual: Any, expected: Truth, **kw: Any
) -> Any:
    ci = kw.pop("ci", False)
    label = f"{kind.value}-{op.value}-{value!r}{'-ci' if ci else ''}-{actual!r}"
    return pytest.param(kind, op, value, actual, expected, ci, kw, id=label[:120])


ROWS = [
    # --- NUMBER: exact decimal comparison ------------------------------------------------------
    row(P.NUMBER, O.EQ, D("100"), 100, TR),
    row(P.NUMBER, O.EQ, D("100"), 100.0, TR),
    row(P.NUMBER, O.EQ, D("100"), D("100.00"), TR),
    row(P.NUMBER, O.EQ, D("100.00"), 100, TR),
    row(P.NUMBER, O.EQ, D("100"), 101, FA),
    row(P.NUMBER, O.EQ, D("100"), D("100.0000001"), FA),
    row(P.NUMBER, O.EQ, D("99.95"), 99.95, TR),  # a float is read as its shortest repr
    row(P.NUMBER, O.EQ, D("0.3"), 0.1 + 0.2, FA),  # 0.30000000000000004
    row(P.NUMBER, O.EQ, D("100"), ABSENT, FA),
    row(P.NUMBER, O.EQ, D("100"), None, FA),
    row(P.NUMBER, O.EQ, D("100"), MISSING, FA),
    row(P.NUMBER, O.EQ, D("100"), TIMEOUT, UN),
    row(P.NUMBER, O.EQ, D("100"), "100", UN),  # a numeric string is a type error
    row(P.NUMBER, O.EQ, D("1"), True, UN),  # a bool is not a number
    row(P.NUMBER, O.EQ, D("100"), float("nan"), UN),
    row(P.NUMBER, O.NEQ, D("100"), 101, TR),
    row(P.NUMBER, O.NEQ, D("100"), 100.0, FA),
    row(P.NUMBER, O.NEQ, D("100"), MISSING, FA),  # missing is FALSE for negative operators too
    row(P.NUMBER, O.NEQ, D("100"), ERR, UN),
    row(P.NUMBER, O.NEQ, D("100"), "abc", UN),
    row(P.NUMBER, O.GT, D("100"), D("100.01"), TR),
    row(P.NUMBER, O.GT, D("100"), 100, FA),
    row(P.NUMBER, O.GT, D("100"), MISSING, FA),
    row(P.NUMBER, O.GTE, D("100"), 100, TR),
    row(P.NUMBER, O.GTE, D("100"), 99.99, FA),
    row(P.NUMBER, O.LT, D("100"), 99.99, TR),
    row(P.NUMBER, O.LT, D("100"), D("100.0"), FA),
    row(P.NUMBER, O.LT, D("0"), -1, TR),
    row(P.NUMBER, O.LTE, D("100"), 100, TR),
    row(P.NUMBER, O.LTE, D("100"), 100.01, FA),
    row(P.NUMBER, O.LTE, D("100"), TIMEOUT, UN),
    row(P.NUMBER, O.BETWEEN, (D(10), D(20)), 10, TR),  # inclusive at both ends
    row(P.NUMBER, O.BETWEEN, (D(10), D(20)), 20, TR),
    row(P.NUMBER, O.BETWEEN, (D(10), D(20)), D("20.0001"), FA),
    row(P.NUMBER, O.BETWEEN, (D(10), D(20)), 9.99, FA),
    row(P.NUMBER, O.BETWEEN, (D(10), D(20)), MISSING, FA),
    row(P.NUMBER, O.NOT_BETWEEN, (D(10), D(20)), 9, TR),
    row(P.NUMBER, O.NOT_BETWEEN, (D(10), D(20)), 21, TR),
    row(P.NUMBER, O.NOT_BETWEEN, (D(10), D(20)), 10, FA),
    row(P.NUMBER, O.NOT_BETWEEN, (D(10), D(20)), MISSING, FA),
    row(P.NUMBER, O.NOT_BETWEEN, (D(10), D(20)), ERR, UN),
    row(P.NUMBER, O.IN, (D(1), D("2.5")), D("2.50"), TR),
    row(P.NUMBER, O.IN, (D(1), D("2.5")), 2.5, TR),
    row(P.NUMBER, O.IN, (D(1), D("2.5")), 1, TR),
    row(P.NUMBER, O.IN, (D(1), D("2.5")), 3, FA),
    row(P.NUMBER, O.IN, (D(1), D("2.5")), MISSING, FA),
    row(P.NUMBER, O.NOT_IN, (D(1), D("2.5")), 3, TR),
    row(P.NUMBER, O.NOT_IN, (D(1), D("2.5")), 1.0, FA),
    row(P.NUMBER, O.NOT_IN, (D(1), D("2.5")), MISSING, FA),
    row(P.NUMBER, O.NOT_IN, (D(1), D("2.5")), "1", UN),
    row(P.NUMBER, O.IS_SET, None, 0, TR),
    row(P.NUMBER, O.IS_SET, None, "not a number", TR),  # present but wrongly typed is set
    row(P.NUMBER, O.IS_SET, None, MISSING, FA),
    row(P.NUMBER, O.IS_SET, None, None, FA),
    row(P.NUMBER, O.IS_SET, None, TIMEOUT, UN),
    row(P.NUMBER, O.IS_NOT_SET, None, MISSING, TR),
    row(P.NUMBER, O.IS_NOT_SET, None, ABSENT, TR),
    row(P.NUMBER, O.IS_NOT_SET, None, None, TR),
    row(P.NUMBER, O.IS_NOT_SET, None, 5, FA),
    row(P.NUMBER, O.IS_NOT_SET, None, "not a number", FA),
    row(P.NUMBER, O.IS_NOT_SET, None, ERR, UN),
    row(P.NUMBER, O.IS_NOT_SET, None, TIMEOUT, UN),
    # --- MONEY: same currency only, no conversion --------------------------------------------
    row(P.MONEY, O.GT, Money(D(100)), Money(D("100.01"), "USD"), TR),
    row(P.MONEY, O.GT, Money(D(100)), D("100.01"), TR),  # a bare number: account currency
    row(P.MONEY, O.GT, Money(D(100)), Money(D(150), None), TR),
    row(P.MONEY, O.GT, Money(D(100)), Money(D(150), "usd"), TR),
    row(P.MONEY, O.GT, Money(D(100)), 100, FA),
    row(P.MONEY, O.GT, Money(D(100)), Money(D(150), "EUR"), UN),  # currency mismatch
    row(P.MONEY, O.GT, Money(D(100)), Money(D(150), "EUR"), TR, currency="EUR"),
    row(P.MONEY, O.GT, Money(D(100), "eur"), Money(D(150), "Eur"), TR),  # codes: any case
    row(P.MONEY, O.GT, Money(D(100)), 150, TR, currency="usd"),
    row(P.MONEY, O.GT, Money(D(100)), 150, TR, currency="EUR"),  # both in the account's EUR
    row(P.MONEY, O.GT, Money(D(100), "USD"), D(150), UN, currency="EUR"),
    row(P.MONEY, O.EQ, Money(D(100), "EUR"), 100, UN),  # account USD, condition EUR
    row(P.MONEY, O.EQ, Money(D(100), "EUR"), Money(D("100.00"), "EUR"), TR),
    row(P.MONEY, O.EQ, Money(D(100), "EUR"), Money(D(100), None), TR, currency="EUR"),
    row(P.MONEY, O.EQ, Money(D(100)), Money(D(100), "JPY"), UN),
    row(P.MONEY, O.EQ, Money(D(100)), "100", UN),
    row(P.MONEY, O.EQ, Money(D(100)), Money("100", "USD"), UN),
    row(P.MONEY, O.EQ, Money(D(100)), Money(D(100), "DOLLARS"), UN),
    row(P.MONEY, O.EQ, Money(D(100)), MISSING, FA),
    row(P.MONEY, O.NEQ, Money(D(100)), Money(D(5), "EUR"), UN),
    row(P.MONEY, O.NEQ, Money(D(100)), Money(D(5), "USD"), TR),
    row(P.MONEY, O.NEQ, Money(D(100)), MISSING, FA),
    row(P.MONEY, O.GTE, Money(D("99.95")), 99.95, TR),
    row(P.MONEY, O.LT, Money(D(100)), Money(D("99.99"), "USD"), TR),
    row(P.MONEY, O.LTE, Money(D(100)), Money(D("100.001"), "USD"), FA),
    row(P.MONEY, O.BETWEEN, (Money(D(10)), Money(D(20))), 15, TR),
    row(P.MONEY, O.BETWEEN, (Money(D(10)), Money(D(20))), Money(D(20), "USD"), TR),
    row(P.MONEY, O.BETWEEN, (Money(D(10)), Money(D(20))), Money(D(15), "EUR"), UN),
    row(P.MONEY, O.BETWEEN, (Money(D(10)), Money(D(20))), MISSING, FA),
    # A range in two currencies: the parts combine in Kleene logic.
    row(P.MONEY, O.BETWEEN, (Money(D(10), "USD"), Money(D(20), "EUR")), Money(D(5), "USD"), FA),
    row(P.MONEY, O.BETWEEN, (Money(D(10), "USD"), Money(D(20), "EUR")), Money(D(15), "USD"), UN),
    row(P.MONEY, O.NOT_BETWEEN, (Money(D(10)), Money(D(20))), 25, TR),
    row(P.MONEY, O.NOT_BETWEEN, (Money(D(10)), Money(D(20))), 15, FA),
    row(P.MONEY, O.NOT_BETWEEN, (Money(D(10)), Money(D(20))), Money(D(25), "EUR"), UN),
    row(P.MONEY, O.NOT_BETWEEN, (Money(D(10)), Money(D(20))), MISSING, FA),
    row(P.MONEY, O.IN, (Money(D(10), "USD"), Money(D(20), "EUR")), Money(D(10), "USD"), TR),
    row(P.MONEY, O.IN, (Money(D(10), "USD"), Money(D(20), "EUR")), Money(D(20), "EUR"), TR),
    row(P.MONEY, O.IN, (Money(D(10), "USD"), Money(D(20), "EUR")), Money(D(30), "EUR"), UN),
    row(P.MONEY, O.IN, (Money(D(10)), Money(D(20))), Money(D(30), "EUR"), UN),
    row(P.MONEY, O.IN, (Money(D(10)), Money(D(20))), 30, FA),
    row(P.MONEY, O.IN, (Money(D(10)), Money(D(20))), D("20.00"), TR),
    row(P.MONEY, O.NOT_IN, (Money(D(10)), Money(D(20))), 30, TR),
    row(P.MONEY, O.NOT_IN, (Money(D(10)), Money(D(20))), 10, FA),
    row(P.MONEY, O.NOT_IN, (Money(D(10)), Money(D(20))), Money(D(10), "EUR"), UN),
    row(P.MONEY, O.NOT_IN, (Money(D(10)), Money(D(20))), MISSING, FA),
    row(P.MONEY, O.IS_SET, None, Money(D(5), "EUR"), TR),  # another currency is still set
    row(P.MONEY, O.IS_SET, None, "abc", TR),
    row(P.MONEY, O.IS_SET, None, TIMEOUT, UN),
    row(P.MONEY, O.IS_NOT_SET, None, Money(D(5), "EUR"), FA),
    row(P.MONEY, O.IS_NOT_SET, None, None, TR),
    # --- TEXT ----------------------------------------------------------------------------------
    row(P.TEXT, O.EQ, "Gold", "Gold", TR),
    row(P.TEXT, O.EQ, "Gold", "gold", FA),  # case-sensitive by default
    row(P.TEXT, O.EQ, "Gold", "gold", TR, ci=True),
    row(P.TEXT, O.EQ, "Gold", "GOLD", TR, ci=True),
    row(P.TEXT, O.EQ, "STRASSE", "straße", TR, ci=True),  # full case folding
    row(P.TEXT, O.EQ, "STRASSE", "straße", FA),
    row(P.TEXT, O.EQ, "straße", "STRASSE", TR, ci=True),  # casefold, not lower, on both sides
    row(P.TEXT, O.EQ, "Gold", " Gold", FA),  # subscriber values are never trimmed
    row(P.TEXT, O.EQ, "", "", TR),
    row(P.TEXT, O.EQ, "Gold", MISSING, FA),
    row(P.TEXT, O.EQ, "Gold", 5, UN),
    row(P.TEXT, O.EQ, "Gold", ERR, UN),
    row(P.TEXT, O.NEQ, "gold", "silver", TR),
    row(P.TEXT, O.NEQ, "gold", "gold", FA),
    row(P.TEXT, O.NEQ, "gold", "GOLD", TR),
    row(P.TEXT, O.NEQ, "gold", "GOLD", FA, ci=True),
    row(P.TEXT, O.NEQ, "gold", "", TR),
    row(P.TEXT, O.NEQ, "gold", MISSING, FA),
    row(P.TEXT, O.IN, ("gold", "silver"), "silver", TR),
    row(P.TEXT, O.IN, ("gold", "silver"), "bronze", FA),
    row(P.TEXT, O.IN, ("gold", "silver"), "SILVER", FA),
    row(P.TEXT, O.IN, ("gold", "silver"), "SILVER", TR, ci=True),
    row(P.TEXT, O.IN, ("gold", "silver"), MISSING, FA),
    row(P.TEXT, O.IN, ["gold", "silver"], "gold", TR),  # a list instead of a tuple is fine
    row(P.TEXT, O.NOT_IN, ("gold", "silver"), "bronze", TR),
    row(P.TEXT, O.NOT_IN, ("gold", "silver"), "gold", FA),
    row(P.TEXT, O.NOT_IN, ("gold", "silver"), "GOLD", FA, ci=True),
    row(P.TEXT, O.NOT_IN, ("gold", "silver"), MISSING, FA),
    row(P.TEXT, O.CONTAINS, "old", "gold", TR),
    row(P.TEXT, O.CONTAINS, "old", "GOLD", FA),
    row(P.TEXT, O.CONTAINS, "old", "GOLD", TR, ci=True),
    row(P.TEXT, O.CONTAINS, "old", MISSING, FA),
    row(P.TEXT, O.CONTAINS, "old", ["old"], UN),
    row(P.TEXT, O.NOT_CONTAINS, "old", "silver", TR),
    row(P.TEXT, O.NOT_CONTAINS, "old", "gold", FA),
    row(P.TEXT, O.NOT_CONTAINS, "old", "GOLD", TR),
    row(P.TEXT, O.NOT_CONTAINS, "old", "GOLD", FA, ci=True),
    row(P.TEXT, O.NOT_CONTAINS, "old", MISSING, FA),
    row(P.TEXT, O.NOT_CONTAINS, "old", "", TR),  # an empty string is a value
    row(P.TEXT, O.STARTS_WITH, "go", "gold", TR),
    row(P.TEXT, O.STARTS_WITH, "go", "ago", FA),
    row(P.TEXT, O.STARTS_WITH, "go", "Gold", FA),
    row(P.TEXT, O.STARTS_WITH, "go", "Gold", TR, ci=True),
    row(P.TEXT, O.STARTS_WITH, "go", MISSING, FA),
    row(P.TEXT, O.ENDS_WITH, "ld", "gold", TR),
    row(P.TEXT, O.ENDS_WITH, "ld", "gold ", FA),
    row(P.TEXT, O.ENDS_WITH, "LD", "gold", TR, ci=True),
    row(P.TEXT, O.ENDS_WITH, "ld", TIMEOUT, UN),
    row(P.TEXT, O.MATCHES, "o+l", "gooold", TR),  # a search, not a full match
    row(P.TEXT, O.MATCHES, "^gold$", "golden", FA),
    row(P.TEXT, O.MATCHES, "^gold$", "gold", TR),
    row(P.TEXT, O.MATCHES, "^GOLD$", "gold", FA),
    row(P.TEXT, O.MATCHES, "^GOLD$", "gold", TR, ci=True),  # RE2's case-insensitive mode
    row(P.TEXT, O.MATCHES, "^$", "", TR),
    row(P.TEXT, O.MATCHES, "", "anything", TR),  # the empty pattern is in every text
    row(P.TEXT, O.MATCHES, "", "", TR),
    row(P.TEXT, O.MATCHES, "[0-9]", "abc", FA),
    row(P.TEXT, O.MATCHES, "[0-9]", MISSING, FA),
    row(P.TEXT, O.MATCHES, "[0-9]", 5, UN),
    row(P.TEXT, O.IS_SET, None, "", TR),  # an empty string is set
    row(P.TEXT, O.IS_NOT_SET, None, "", FA),
    row(P.TEXT, O.IS_NOT_SET, None, MISSING, TR),
    # --- ENUM: case-insensitive on declared identifiers ----------------------------------------
    row(P.ENUM, O.EQ, "ACTIVE", "ACTIVE", TR),
    row(P.ENUM, O.EQ, "ACTIVE", "active", TR),
    row(P.ENUM, O.EQ, "ACTIVE", "Active", TR),
    row(P.ENUM, O.EQ, "ACTIVE", "CANCELED", FA),
    row(P.ENUM, O.EQ, "ACTIVE", "OTHER", UN),  # outside the declared values: type error
    row(P.ENUM, O.EQ, "ACTIVE", "", UN),
    row(P.ENUM, O.EQ, "ACTIVE", 1, UN),
    row(P.ENUM, O.EQ, "ACTIVE", MISSING, FA),
    row(P.ENUM, O.NEQ, "ACTIVE", "canceled", TR),
    row(P.ENUM, O.NEQ, "ACTIVE", "active", FA),
    row(P.ENUM, O.NEQ, "ACTIVE", MISSING, FA),
    row(P.ENUM, O.NEQ, "ACTIVE", "OTHER", UN),
    row(P.ENUM, O.IN, ("ACTIVE", "SAVED"), "saved", TR),
    row(P.ENUM, O.IN, ("ACTIVE", "SAVED"), "CANCELED", FA),
    row(P.ENUM, O.IN, ("ACTIVE", "SAVED"), MISSING, FA),
    row(P.ENUM, O.NOT_IN, ("ACTIVE", "SAVED"), "canceled", TR),
    row(P.ENUM, O.NOT_IN, ("ACTIVE", "SAVED"), "Saved", FA),
    row(P.ENUM, O.NOT_IN, ("ACTIVE", "SAVED"), MISSING, FA),
    row(P.ENUM, O.NOT_IN, ("ACTIVE", "SAVED"), TIMEOUT, UN),
    row(P.ENUM, O.IS_SET, None, "OTHER", TR),
    row(P.ENUM, O.IS_NOT_SET, None, "OTHER", FA),
    # --- BOOLEAN -------------------------------------------------------------------------------
    row(P.BOOLEAN, O.IS_TRUE, None, True, TR),
    row(P.BOOLEAN, O.IS_TRUE, None, False, FA),
    row(P.BOOLEAN, O.IS_TRUE, None, MISSING, FA),
    row(P.BOOLEAN, O.IS_TRUE, None, 1, UN),
    row(P.BOOLEAN, O.IS_TRUE, None, "true", UN),
    row(P.BOOLEAN, O.IS_TRUE, None, ERR, UN),
    row(P.BOOLEAN, O.IS_FALSE, None, False, TR),
    row(P.BOOLEAN, O.IS_FALSE, None, True, FA),
    row(P.BOOLEAN, O.IS_FALSE, None, MISSING, FA),  # missing is not false
    row(P.BOOLEAN, O.IS_FALSE, None, None, FA),
    row(P.BOOLEAN, O.IS_FALSE, None, 0, UN),
    row(P.BOOLEAN, O.IS_SET, None, False, TR),
    row(P.BOOLEAN, O.IS_NOT_SET, None, None, TR),
    row(P.BOOLEAN, O.IS_NOT_SET, None, False, FA),
    # --- DATE (today: 2024-03-31) --------------------------------------------------------------
    row(P.DATE, O.ON, "2024-03-31", date(2024, 3, 31), TR),
    row(P.DATE, O.ON, "2024-03-31", "2024-03-31", TR),
    row(P.DATE, O.ON, "2024-03-31", "2024-03-30", FA),
    row(P.DATE, O.ON, "2024-03-31", datetime(2024, 3, 31, 10), UN),  # a date-time for a DATE
    row(P.DATE, O.ON, "2024-03-31", "2024-03-31T00:00:00", UN),
    row(P.DATE, O.ON, "2024-03-31", "20240331", UN),
    row(P.DATE, O.ON, "2024-03-31", "2024-02-30", UN),
    row(P.DATE, O.ON, "2024-03-31", 20240331, UN),
    row(P.DATE, O.ON, "2024-03-31", MISSING, FA),
    row(P.DATE, O.ON, date(2024, 3, 31), "2024-03-31", TR),  # a date object as condition value
    row(P.DATE, O.NOT_ON, "2024-03-31", "2024-03-30", TR),
    row(P.DATE, O.NOT_ON, "2024-03-31", "2024-03-31", FA),
    row(P.DATE, O.NOT_ON, "2024-03-31", MISSING, FA),
    row(P.DATE, O.NOT_ON, "2024-03-31", TIMEOUT, UN),
    row(P.DATE, O.BEFORE, "2024-03-01", "2024-02-29", TR),
    row(P.DATE, O.BEFORE, "2024-03-01", "2024-03-01", FA),
    row(P.DATE, O.BEFORE, "2024-03-01", MISSING, FA),
    row(P.DATE, O.AFTER, "2024-03-01", "2024-03-02", TR),
    row(P.DATE, O.AFTER, "2024-03-01", "2024-03-01", FA),
    row(P.DATE, O.ON_OR_BEFORE, "2024-03-01", "2024-03-01", TR),
    row(P.DATE, O.ON_OR_BEFORE, "2024-03-01", "2024-03-02", FA),
    row(P.DATE, O.ON_OR_AFTER, "2024-03-01", "2024-03-01", TR),
    row(P.DATE, O.ON_OR_AFTER, "2024-03-01", "2024-02-29", FA),
    row(P.DATE, O.BETWEEN, ("2024-02-28", "2024-03-01"), "2024-02-29", TR),  # leap day
    row(P.DATE, O.BETWEEN, ("2024-02-28", "2024-03-01"), "2024-02-28", TR),
    row(P.DATE, O.BETWEEN, ("2024-02-28", "2024-03-01"), "2024-03-01", TR),
    row(P.DATE, O.BETWEEN, ("2024-02-28", "2024-03-01"), "2024-03-02", FA),
    row(P.DATE, O.BETWEEN, ("2024-02-28", "2024-03-01"), MISSING, FA),
    row(P.DATE, O.NOT_BETWEEN, ("2024-02-28", "2024-03-01"), "2024-03-02", TR),
    row(P.DATE, O.NOT_BETWEEN, ("2024-02-28", "2024-03-01"), "2024-02-29", FA),
    row(P.DATE, O.NOT_BETWEEN, ("2024-02-28", "2024-03-01"), MISSING, FA),
    row(P.DATE, O.IN_LAST, rel(30, "DAY"), "2024-03-01", TR),  # today - 30 days, inclusive
    row(P.DATE, O.IN_LAST, rel(30, "DAY"), "2024-02-29", FA),
    row(P.DATE, O.IN_LAST, rel(30, "DAY"), "2024-03-31", TR),  # today
    row(P.DATE, O.IN_LAST, rel(30, "DAY"), "2024-04-01", FA),  # the future is not "last"
    row(P.DATE, O.IN_LAST, rel(30, "DAY"), MISSING, FA),
    row(P.DATE, O.IN_LAST, rel(1, "MONTH"), "2024-02-29", TR),  # Mar 31 - 1 month = Feb 29
    row(P.DATE, O.IN_LAST, rel(1, "MONTH"), "2024-02-28", FA),
    row(
        P.DATE,
        O.IN_LAST,
        rel(1, "MONTH"),
        "2023-02-28",
        TR,
        now=datetime(2023, 3, 31, 12, tzinfo=UTC),
    ),  # not a leap year: Feb 28
    row(
        P.DATE,
        O.IN_LAST,
        rel(1, "MONTH"),
        "2023-02-27",
        FA,
        now=datetime(2023, 3, 31, 12, tzinfo=UTC),
    ),
    row(
        P.DATE,
        O.IN_LAST,
        rel(1, "YEAR"),
        "2023-02-28",
        TR,
        now=datetime(2024, 2, 29, 12, tzinfo=UTC),
    ),  # Feb 29 - 12 months = Feb 28
    row(
        P.DATE,
        O.IN_LAST,
        rel(1, "YEAR"),
        "2023-02-27",
        FA,
        now=datetime(2024, 2, 29, 12, tzinfo=UTC),
    ),
    row(P.DATE, O.IN_LAST, rel(2, "WEEK"), "2024-03-17", TR),
    row(P.DATE, O.IN_LAST, rel(2, "WEEK"), "2024-03-16", FA),
    row(P.DATE, O.IN_LAST, rel(13, "MONTH"), "2023-02-28", TR),  # Mar 31 - 13 months
    row(P.DATE, O.IN_LAST, rel(13, "MONTH"), "2023-02-27", FA),
    row(P.DATE, O.IN_NEXT, rel(2, "WEEK"), "2024-04-14", TR),  # today + 14 days, inclusive
    row(P.DATE, O.IN_NEXT, rel(2, "WEEK"), "2024-04-15", FA),
    row(P.DATE, O.IN_NEXT, rel(2, "WEEK"), "2024-03-31", TR),
    row(P.DATE, O.IN_NEXT, rel(2, "WEEK"), "2024-03-30", FA),
    row(P.DATE, O.IN_NEXT, rel(2, "WEEK"), MISSING, FA),
    row(P.DATE, O.IN_NEXT, rel(1, "MONTH"), "2024-04-30", TR),  # Mar 31 + 1 month = Apr 30
    row(P.DATE, O.IN_NEXT, rel(1, "MONTH"), "2024-05-01", FA),
    row(P.DATE, O.MORE_THAN_AGO, rel(1, "MONTH"), "2024-02-28", TR),
    row(P.DATE, O.MORE_THAN_AGO, rel(1, "MONTH"), "2024-02-29", FA),  # strictly before
    row(P.DATE, O.MORE_THAN_AGO, rel(1, "MONTH"), MISSING, FA),
    row(P.DATE, O.MORE_THAN_AGO, rel(1, "DAY"), "2024-03-29", TR),
    row(P.DATE, O.MORE_THAN_AGO, rel(1, "DAY"), "2024-03-30", FA),
    row(
        P.DATE,
        O.MORE_THAN_AHEAD,
        rel(1, "MONTH"),
        "2024-03-01",
        TR,
        now=datetime(2024, 1, 31, 12, tzinfo=UTC),
    ),  # Jan 31 + 1 month = Feb 29
    row(
        P.DATE,
        O.MORE_THAN_AHEAD,
        rel(1, "MONTH"),
        "2024-02-29",
        FA,
        now=datetime(2024, 1, 31, 12, tzinfo=UTC),
    ),
    row(P.DATE, O.MORE_THAN_AHEAD, rel(1, "DAY"), "2024-04-02", TR),
    row(P.DATE, O.MORE_THAN_AHEAD, rel(1, "DAY"), "2024-04-01", FA),
    row(P.DATE, O.MORE_THAN_AHEAD, rel(1, "DAY"), MISSING, FA),
    row(P.DATE, O.MORE_THAN_AHEAD, rel(1, "DAY"), ERR, UN),
    row(P.DATE, O.IS_SET, None, "garbage", TR),
    row(P.DATE, O.IS_NOT_SET, None, "garbage", FA),
    # --- DATETIME: calendar days in the account time zone ------------------------------------
    # 23:30 UTC on Mar 31 is 01:30 on Apr 1 in Paris (CEST, +02:00 since that morning).
    row(P.DATETIME, O.ON, "2024-04-01", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), TR, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-04-01", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), FA),
    row(P.DATETIME, O.ON, "2024-03-31", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), TR),
    row(P.DATETIME, O.ON, "2024-04-01", "2024-03-31T23:30:00Z", TR, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-04-01", "2024-03-31T23:30:00+00:00", TR, tz=PARIS),
    # Without an offset a date-time is already in the account zone.
    row(P.DATETIME, O.ON, "2024-04-01", datetime(2024, 3, 31, 23, 30), FA, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-03-31", datetime(2024, 3, 31, 23, 30), TR, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-03-31", "2024-03-31T23:30:00", TR, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-04-01", "2024-03-31T23:30:00-05:00", TR),  # 04:30 UTC Apr 1
    row(P.DATETIME, O.ON, "2024-03-31", "2024-04-01T02:00:00Z", TR, tz=NY),  # 22:00 in NY
    row(P.DATETIME, O.ON, "2024-03-31", date(2024, 3, 31), TR),  # a date is its own day
    row(P.DATETIME, O.ON, "2024-03-31", "2024-03-31", TR),
    row(P.DATETIME, O.ON, "2024-03-31", "garbage", UN),
    row(P.DATETIME, O.ON, "2024-03-31", "2024-13-01T00:00:00", UN),
    row(P.DATETIME, O.ON, "2024-03-31", 1711929600, UN),
    row(P.DATETIME, O.ON, "2024-03-31", MISSING, FA),
    # A DATETIME condition value is converted to its local day too.
    row(P.DATETIME, O.ON, "2024-03-31T23:30:00+00:00", "2024-04-01", TR, tz=PARIS),
    row(P.DATETIME, O.ON, "2024-03-31T23:30:00+00:00", "2024-03-31", TR),
    row(P.DATETIME, O.ON, "2024-03-31T23:30:00", "2024-03-31", TR, tz=PARIS),
    row(P.DATETIME, O.BEFORE, "2024-04-01", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), TR),
    row(
        P.DATETIME, O.BEFORE, "2024-04-01", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), FA, tz=PARIS
    ),
    row(
        P.DATETIME, O.NOT_ON, "2024-04-01", datetime(2024, 3, 31, 23, 30, tzinfo=UTC), FA, tz=PARIS
    ),
    row(P.DATETIME, O.NOT_ON, "2024-04-01", MISSING, FA),
    row(P.DATETIME, O.BETWEEN, ("2024-03-01", "2024-03-31"), "2024-03-31T23:30:00Z", TR),
    row(P.DATETIME, O.BETWEEN, ("2024-03-01", "2024-03-31"), "2024-03-31T23:30:00Z", FA, tz=PARIS),
    row(
        P.DATETIME,
        O.NOT_BETWEEN,
        ("2024-03-01", "2024-03-31"),
        "2024-03-31T23:30:00Z",
        TR,
        tz=PARIS,
    ),
    row(P.DATETIME, O.AFTER, "2024-03-31", "2024-03-31T23:30:00Z", TR, tz=PARIS),
    row(P.DATETIME, O.ON_OR_BEFORE, "2024-03-31", "2024-03-31T23:30:00Z", TR),
    row(P.DATETIME, O.ON_OR_AFTER, "2024-04-01", "2024-03-31T23:30:00Z", FA),
    # "Today" is now's day in the account zone: 22:30 UTC on Mar 31 is Apr 1 in Paris.
    row(
        P.DATETIME,
        O.IN_LAST,
        rel(1, "DAY"),
        "2024-03-30",
        TR,
        now=datetime(2024, 3, 31, 22, 30, tzinfo=UTC),
    ),
    row(
        P.DATETIME,
        O.IN_LAST,
        rel(1, "DAY"),
        "2024-03-30",
        FA,
        tz=PARIS,
        now=datetime(2024, 3, 31, 22, 30, tzinfo=UTC),
    ),
    row(
        P.DATETIME,
        O.IN_LAST,
        rel(1, "DAY"),
        "2024-04-01T00:30:00+02:00",
        TR,
        tz=PARIS,
        now=datetime(2024, 3, 31, 22, 30, tzinfo=UTC),
    ),
    row(
        P.DATETIME,
        O.IN_NEXT,
        rel(1, "DAY"),
        "2024-04-02",
        FA,
        tz=NY,
        now=datetime(2024, 4, 1, 2, 0, tzinfo=UTC),
    ),  # still Mar 31 in New York
    row(
        P.DATETIME,
        O.IN_NEXT,
        rel(1, "DAY"),
        "2024-04-01",
        TR,
        tz=NY,
        now=datetime(2024, 4, 1, 2, 0, tzinfo=UTC),
    ),
    row(
        P.DATETIME,
        O.IN_NEXT,
        rel(1, "DAY"),
        "2024-04-02",
        TR,
        now=datetime(2024, 4, 1, 2, 0, tzinfo=UTC),
    ),
    row(P.DATETIME, O.MORE_THAN_AGO, rel(1, "WEEK"), "2024-03-23T23:59:59", TR),
    row(P.DATETIME, O.MORE_THAN_AGO, rel(1, "WEEK"), "2024-03-24T00:00:00", FA),
    row(P.DATETIME, O.MORE_THAN_AHEAD, rel(1, "YEAR"), "2025-04-01T00:00:00Z", TR),
    row(P.DATETIME, O.MORE_THAN_AHEAD, rel(1, "YEAR"), "2025-03-31T23:00:00Z", FA),
    row(P.DATETIME, O.MORE_THAN_AHEAD, rel(1, "YEAR"), "2025-03-31T23:00:00Z", TR, tz=PARIS),
    row(P.DATETIME, O.IS_SET, None, "garbage", TR),
    row(P.DATETIME, O.IS_NOT_SET, None, TIMEOUT, UN),
    # --- LIST ----------------------------------------------------------------------------------
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ["b", "c"], TR),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ("a",), TR),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ["c"], FA),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), [], FA),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ["A"], FA),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ["A"], TR, ci=True),
    row(P.LIST, O.CONTAINS_ANY, ("STRASSE",), ["straße"], TR, ci=True),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), MISSING, FA),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), ["a", 1], UN),
    row(P.LIST, O.CONTAINS_ANY, ("a", "b"), "a", UN),  # a string is not a list
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), ["a", "b", "c"], TR),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), ["b", "a"], TR),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), ["a"], FA),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), [], FA),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), ["A", "B"], FA),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), ["A", "B"], TR, ci=True),
    row(P.LIST, O.CONTAINS_ALL, ("a", "b"), MISSING, FA),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), ["c"], TR),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), [], TR),  # an empty list contains none
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), MISSING, FA),  # a missing list does not
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), None, FA),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), ["b"], FA),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), ["B"], TR),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), ["B"], FA, ci=True),
    row(P.LIST, O.CONTAINS_NONE, ("a", "b"), TIMEOUT, UN),
    row(P.LIST, O.IS_EMPTY, None, [], TR),
    row(P.LIST, O.IS_EMPTY, None, (), TR),
    row(P.LIST, O.IS_EMPTY, None, ["a"], FA),
    row(P.LIST, O.IS_EMPTY, None, MISSING, FA),
    row(P.LIST, O.IS_EMPTY, None, ERR, UN),
    row(P.LIST, O.IS_EMPTY, None, "", UN),
    row(P.LIST, O.IS_NOT_EMPTY, None, ["a"], TR),
    row(P.LIST, O.IS_NOT_EMPTY, None, [], FA),
    row(P.LIST, O.IS_NOT_EMPTY, None, MISSING, FA),
    row(P.LIST, O.IS_SET, None, [], TR),  # an empty list is set
    row(P.LIST, O.IS_NOT_SET, None, [], FA),
    # --- SEMVER --------------------------------------------------------------------------------
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0", TR),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0+build.7", TR),  # build metadata is ignored
    row(P.SEMVER, O.EQ, "1.0.0+a", "1.0.0+b", TR),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0-rc.1", FA),
    row(P.SEMVER, O.NEQ, "1.0.0", "1.0.0+build.7", FA),
    row(P.SEMVER, O.NEQ, "1.0.0", "1.0.1", TR),
    row(P.SEMVER, O.NEQ, "1.0.0", MISSING, FA),
    row(P.SEMVER, O.GT, "1.9.0", "1.10.0", TR),  # numerically, not as text
    row(P.SEMVER, O.GT, "1.0.0", "1.0.0-rc.1", FA),  # a pre-release sorts before its release
    row(P.SEMVER, O.GT, "1.0.0-2", "1.0.0-10", TR),  # numeric identifiers numerically
    row(P.SEMVER, O.GT, "1.0.0-10", "1.0.0-alpha", TR),  # numeric before alphanumeric
    row(P.SEMVER, O.GTE, "1.0.0", "1.0.0+x", TR),
    row(P.SEMVER, O.GTE, "1.0.0", "0.99.99", FA),
    row(P.SEMVER, O.LT, "2.0.0", "1.99.0", TR),
    row(P.SEMVER, O.LT, "1.0.0", "1.0.0-alpha", TR),
    row(P.SEMVER, O.LTE, "1.0.0-alpha", "1.0.0-alpha", TR),
    row(P.SEMVER, O.LTE, "1.0.0-alpha", "1.0.0-alpha.1", FA),
    row(P.SEMVER, O.EQ, "1.0.0", "v1.0.0", UN),  # a leading v is a type error
    row(P.SEMVER, O.EQ, "1.0.0", "1.0", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "01.0.0", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0-01", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0-", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0+", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "1.0.0-a..b", UN),
    row(P.SEMVER, O.EQ, "1.0.0", "１.0.0", UN),  # a non-ASCII digit
    row(P.SEMVER, O.EQ, "1.0.0", 1, UN),
    row(P.SEMVER, O.EQ, "1.0.0", MISSING, FA),
    row(P.SEMVER, O.IS_SET, None, "v1.0.0", TR),
    row(P.SEMVER, O.IS_NOT_SET, None, "v1.0.0", FA),
]


@pytest.mark.parametrize(("kind", "op", "value", "actual", "expected", "ci", "kw"), ROWS)
def test_operator(
    kind: PropertyType,
    op: Operator,
    value: Any,
    actual: Any,
    expected: Truth,
    ci: bool,
    kw: dict[str, Any],
) -> None:
    condition = Condition(KEY_OF[kind], op, value, ci)
    assert truth_of(condition, actual, **kw) is expected


def test_every_operator_of_every_type_has_rows() -> None:
    covered = {(param.values[0], param.values[1]) for param in ROWS}
    missing = [
        (kind.value, op.value)
        for kind, operators in OPERATORS_BY_TYPE.items()
        for op in operators
        if (kind, op) not in covered
    ]
    assert not missing


def test_every_operator_is_false_on_missing_except_is_not_set() -> None:
    """The rule that absence never matches by accident, checked across the whole table's
    conditions rather than by hand-picked rows."""
    for param in ROWS:
        kind, op, value, *_rest, ci, kw = param.values
        condition = Condition(KEY_OF[kind], op, value, ci)
        for absent in (MISSING, None, ABSENT, ResolvedValue(None, "crm", 3.0)):
            expected = Truth.TRUE if op is O.IS_NOT_SET else Truth.FALSE
            assert truth_of(condition, absent, **kw) is expected, (kind, op, absent)


def test_every_operator_is_unknown_on_unknown() -> None:
    for param in ROWS:
        kind, op, value, *_rest, ci, kw = param.values
        condition = Condition(KEY_OF[kind], op, value, ci)
        for failed in (ERR, TIMEOUT, ResolvedValue(TIMEOUT, "crm", 2000.0)):
            assert truth_of(condition, failed, **kw) is Truth.UNKNOWN, (kind, op, failed)


SEMVER_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
]


@pytest.mark.parametrize("index", range(len(SEMVER_CHAIN) - 1))
def test_semver_precedence_chain(index: int) -> None:
    """semver.org's own example order, each pair from both sides."""
    lower, higher = SEMVER_CHAIN[index], SEMVER_CHAIN[index + 1]
    assert truth_of(Condition("v", O.GT, lower), higher) is Truth.TRUE
    assert truth_of(Condition("v", O.LT, higher), lower) is Truth.TRUE
    assert truth_of(Condition("v", O.GT, higher), lower) is Truth.FALSE
    assert truth_of(Condition("v", O.EQ, lower), higher) is Truth.FALSE


def test_date_values_with_offsets_cross_midnight_both_ways() -> None:
    """The same instant is a different day in different zones, for provider values."""
    instant = datetime(2024, 6, 30, 22, 30, tzinfo=timezone(timedelta(hours=-4)))  # 02:30 UTC
    on = Condition("dt", O.ON, "2024-07-01")
    assert truth_of(on, instant) is Truth.TRUE
    assert truth_of(on, instant, tz=PARIS) is Truth.TRUE
    assert truth_of(on, instant, tz=NY) is Truth.FALSE
    assert truth_of(on, instant.astimezone(ZoneInfo("Asia/Tokyo")), tz=NY) is Truth.FALSE
