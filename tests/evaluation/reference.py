"""A slow, plain reference interpreter of the condition contract, written from the spec.

It shares nothing with ``seggraph.evaluation``'s compiler, coercions, dates or semver code:
only the domain types and the value wrappers (``MISSING``, ``Unknown``, ``ResolvedValue``) the
core receives. Every condition is evaluated (no short-circuit) and groups are combined from the
Kleene truth tables. Decisions the spec leaves open are the ones ``docs/conditions.md`` records.
"""

from __future__ import annotations

import calendar
import hashlib
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import re2

from seggraph.domain.conditions import (
    Combinator,
    Condition,
    DateUnit,
    Group,
    Money,
    Node,
    Operator,
    RelativeDate,
)
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation.truth import Truth
from seggraph.evaluation.values import MISSING, ResolvedValue, Unknown

T, F, U = "T", "F", "U"

# semver.org's own regular expression for strict SemVer 2.0.0.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    re.ASCII,
)


class TypeErr(Exception):
    """The provider value cannot be read as the declared type."""


def k_not(x: str) -> str:
    return {T: F, F: T, U: U}[x]


def k_and(xs: list[str]) -> str:
    if F in xs:
        return F
    if U in xs:
        return U
    return T


def k_or(xs: list[str]) -> str:
    if T in xs:
        return T
    if U in xs:
        return U
    return F


def b(x: bool) -> str:
    return T if x else F


# --- reading provider values ---------------------------------------------------------------------


def read_number(x: Any) -> Decimal:
    if isinstance(x, bool):
        raise TypeErr
    if isinstance(x, int):
        return Decimal(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise TypeErr
        return Decimal(str(x))
    if isinstance(x, Decimal):
        if x.is_nan() or x.is_infinite():
            raise TypeErr
        return x
    raise TypeErr


def read_money(x: Any, account: str) -> tuple[Decimal, str]:
    if isinstance(x, Money):
        amount = read_number(x.amount)
        if x.currency is None:
            return amount, account
        c = x.currency
        if not isinstance(c, str) or not re.fullmatch(r"[A-Za-z]{3}", c):
            raise TypeErr
        return amount, c.upper()
    return read_number(x), account


def read_date(x: Any) -> date:
    if isinstance(x, datetime):
        raise TypeErr
    if isinstance(x, date):
        return date(x.year, x.month, x.day)
    if isinstance(x, str) and re.fullmatch(r"\d\d\d\d-\d\d-\d\d", x, re.ASCII):
        try:
            return date.fromisoformat(x)
        except ValueError:
            raise TypeErr from None
    raise TypeErr


def day_of(moment: datetime, zone: tzinfo) -> date:
    if moment.utcoffset() is None:
        return moment.date()
    return moment.astimezone(zone).date()


def read_datetime_day(x: Any, zone: tzinfo) -> date:
    try:
        if isinstance(x, datetime):
            return day_of(x, zone)
        if isinstance(x, date):
            return date(x.year, x.month, x.day)
        if isinstance(x, str) and re.match(r"\d\d\d\d-\d\d-\d\d", x, re.ASCII):
            if len(x) == 10:
                return date.fromisoformat(x)
            return day_of(datetime.fromisoformat(x), zone)
    except (ValueError, OverflowError):
        raise TypeErr from None
    raise TypeErr


def semver_parts(text: str) -> tuple[list[int], list[str]]:
    m = SEMVER_RE.match(text)
    if not m:
        raise TypeErr
    return [int(m.group(i)) for i in (1, 2, 3)], (m.group(4).split(".") if m.group(4) else [])


def semver_cmp(a: str, b_: str) -> int:
    """-1, 0, 1 by SemVer 2.0.0 §11."""
    (na, pa), (nb, pb) = semver_parts(a), semver_parts(b_)
    if na != nb:
        return -1 if na < nb else 1
    if not pa and not pb:
        return 0
    if not pa:
        return 1
    if not pb:
        return -1
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd:
            return -1
        if yd:
            return 1
        return -1 if x < y else 1
    if len(pa) == len(pb):
        return 0
    return -1 if len(pa) < len(pb) else 1


def read(definition: PropertyDefinition, x: Any, zone: tzinfo, account: str) -> Any:
    kind = definition.type
    if kind is PropertyType.NUMBER:
        return read_number(x)
    if kind is PropertyType.MONEY:
        # A provider's bare amount is in the property's declared currency, else the account's.
        return read_money(x, (definition.currency or account).upper())
    if kind is PropertyType.TEXT:
        if not isinstance(x, str):
            raise TypeErr
        return x
    if kind is PropertyType.ENUM:
        if isinstance(x, str):
            for ident in definition.enum_values:
                if ident.casefold() == x.casefold():
                    return ident
        raise TypeErr
    if kind is PropertyType.BOOLEAN:
        if x is True or x is False:
            return x
        raise TypeErr
    if kind is PropertyType.DATE:
        return read_date(x)
    if kind is PropertyType.DATETIME:
        return read_datetime_day(x, zone)
    if kind is PropertyType.LIST:
        if isinstance(x, list | tuple) and all(isinstance(i, str) for i in x):
            return list(x)
        raise TypeErr
    if kind is PropertyType.SEMVER:
        if not isinstance(x, str):
            raise TypeErr
        semver_parts(x)
        return x
    raise AssertionError(kind)


# --- condition values ----------------------------------------------------------------------------


def cond_day(definition: PropertyDefinition, v: Any, zone: tzinfo) -> date:
    if definition.type is PropertyType.DATE:
        return v if isinstance(v, date) and not isinstance(v, datetime) else date.fromisoformat(v)
    if isinstance(v, datetime):
        return day_of(v, zone)
    if isinstance(v, date):
        return v
    if len(v) == 10:
        return date.fromisoformat(v)
    return day_of(datetime.fromisoformat(v), zone)


def cond_money(v: Any, account: str) -> tuple[Decimal, str]:
    if isinstance(v, Money):
        return Decimal(v.amount), (v.currency or account).upper()
    return Decimal(v), account


def plus_months(d: date, n: int) -> date:
    y, m = d.year, d.month
    m += n
    while m > 12:
        m -= 12
        y += 1
    while m < 1:
        m += 12
        y -= 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def move(today: date, rel: RelativeDate, sign: int) -> date:
    if rel.unit is DateUnit.DAY:
        return today + timedelta(days=sign * rel.amount)
    if rel.unit is DateUnit.WEEK:
        return today + timedelta(days=sign * 7 * rel.amount)
    months = rel.amount if rel.unit is DateUnit.MONTH else 12 * rel.amount
    return plus_months(today, sign * months)


# --- operators -----------------------------------------------------------------------------------

O = Operator  # noqa: E741


def cmp_op(op: Operator, x: Any, y: Any) -> bool:
    return {
        O.EQ: x == y,
        O.ON: x == y,
        O.NEQ: x != y,
        O.NOT_ON: x != y,
        O.GT: x > y,
        O.AFTER: x > y,
        O.GTE: x >= y,
        O.ON_OR_AFTER: x >= y,
        O.LT: x < y,
        O.BEFORE: x < y,
        O.LTE: x <= y,
        O.ON_OR_BEFORE: x <= y,
    }[op]


def money_eq(x: tuple[Decimal, str], y: tuple[Decimal, str]) -> str:
    return U if x[1] != y[1] else b(x[0] == y[0])


def money_cmp(op: Operator, x: tuple[Decimal, str], y: tuple[Decimal, str]) -> str:
    return U if x[1] != y[1] else b(cmp_op(op, x[0], y[0]))


def apply(
    definition: PropertyDefinition, c: Condition, x: Any, zone: tzinfo, account: str, today: date
) -> str:
    op, v, ci = c.operator, c.value, c.case_insensitive
    kind = definition.type
    if kind is PropertyType.NUMBER:
        if op in (O.BETWEEN, O.NOT_BETWEEN):
            r = Decimal(v[0]) <= x <= Decimal(v[1])
            return b(r if op is O.BETWEEN else not r)
        if op in (O.IN, O.NOT_IN):
            r = any(x == Decimal(i) for i in v)
            return b(r if op is O.IN else not r)
        return b(cmp_op(op, x, Decimal(v)))
    if kind is PropertyType.MONEY:
        if op in (O.BETWEEN, O.NOT_BETWEEN):
            r3 = k_and(
                [
                    money_cmp(O.GTE, x, cond_money(v[0], account)),
                    money_cmp(O.LTE, x, cond_money(v[1], account)),
                ]
            )
            return r3 if op is O.BETWEEN else k_not(r3)
        if op in (O.IN, O.NOT_IN):
            r3 = k_or([money_eq(x, cond_money(i, account)) for i in v])
            return r3 if op is O.IN else k_not(r3)
        return money_cmp(op, x, cond_money(v, account))
    if kind is PropertyType.TEXT:
        if op is O.MATCHES:
            options = re2.Options()
            options.case_sensitive = not ci
            return b(re2.compile(v, options).search(x) is not None)

        def f(s: str) -> str:
            return s.casefold() if ci else s

        if op in (O.IN, O.NOT_IN):
            r = any(f(x) == f(i) for i in v)
            return b(r if op is O.IN else not r)
        return b(
            {
                O.EQ: f(x) == f(v),
                O.NEQ: f(x) != f(v),
                O.CONTAINS: f(v) in f(x),
                O.NOT_CONTAINS: f(v) not in f(x),
                O.STARTS_WITH: f(x).startswith(f(v)),
                O.ENDS_WITH: f(x).endswith(f(v)),
            }[op]
        )
    if kind is PropertyType.ENUM:
        if op in (O.IN, O.NOT_IN):
            r = any(x.casefold() == i.casefold() for i in v)
            return b(r if op is O.IN else not r)
        return b(cmp_op(op, x.casefold(), v.casefold()))
    if kind is PropertyType.BOOLEAN:
        return b(x is True) if op is O.IS_TRUE else b(x is False)
    if kind in (PropertyType.DATE, PropertyType.DATETIME):
        if op is O.IN_LAST:
            return b(move(today, v, -1) <= x <= today)
        if op is O.IN_NEXT:
            return b(today <= x <= move(today, v, +1))
        if op is O.MORE_THAN_AGO:
            return b(x < move(today, v, -1))
        if op is O.MORE_THAN_AHEAD:
            return b(x > move(today, v, +1))
        if op in (O.BETWEEN, O.NOT_BETWEEN):
            r = cond_day(definition, v[0], zone) <= x <= cond_day(definition, v[1], zone)
            return b(r if op is O.BETWEEN else not r)
        return b(cmp_op(op, x, cond_day(definition, v, zone)))
    if kind is PropertyType.LIST:
        items = [i.casefold() if ci else i for i in x]
        wanted = [i.casefold() if ci else i for i in (v or ())]
        if op is O.IS_EMPTY:
            return b(len(items) == 0)
        if op is O.IS_NOT_EMPTY:
            return b(len(items) > 0)
        if op is O.CONTAINS_ANY:
            return b(any(w in items for w in wanted))
        if op is O.CONTAINS_ALL:
            return b(all(w in items for w in wanted))
        return b(not any(w in items for w in wanted))
    if kind is PropertyType.SEMVER:
        return b(cmp_op(op, semver_cmp(x, v), 0))
    raise AssertionError(kind)


def condition_truth(
    c: Condition,
    catalogue: Mapping[str, PropertyDefinition],
    values: Mapping[str, Any],
    *,
    segment_id: str,
    subscriber_id: str,
    segment_results: Mapping[str, Truth] | None,
    zone: tzinfo,
    account: str,
    today: date,
) -> str:
    if c.operator in (O.IN_SEGMENT, O.NOT_IN_SEGMENT):
        found = (segment_results or {}).get(c.value)
        r = {Truth.TRUE: T, Truth.FALSE: F, Truth.UNKNOWN: U, None: U}[found]
        return r if c.operator is O.IN_SEGMENT else k_not(r)
    if c.operator is O.PERCENTAGE:
        digest = hashlib.sha1(f"{segment_id}:{subscriber_id}".encode()).hexdigest()
        bucket = Decimal(int(digest[:8], 16) % 100000) / Decimal(1000)
        return b(bucket < Decimal(c.value))
    raw = values.get(c.property, MISSING)
    if isinstance(raw, ResolvedValue):
        raw = raw.value
    if raw is None or raw is MISSING:
        return T if c.operator is O.IS_NOT_SET else F
    if isinstance(raw, Unknown):
        return U
    if c.operator is O.IS_SET:
        return T
    if c.operator is O.IS_NOT_SET:
        return F
    definition = catalogue[c.property]
    try:
        x = read(definition, raw, zone, account)
    except TypeErr:
        return U
    return apply(definition, c, x, zone, account, today)


def node_truth(node: Node, **kw: Any) -> str:
    if isinstance(node, Condition):
        return condition_truth(node, **kw)
    results = [node_truth(child, **kw) for child in node.children]
    if node.combinator is Combinator.ALL:
        return k_and(results)
    if node.combinator is Combinator.ANY:
        return k_or(results)
    return k_not(k_or(results))


def reference_truth(
    root: Group,
    catalogue: Mapping[str, PropertyDefinition],
    values: Mapping[str, Any],
    *,
    segment_id: str,
    subscriber_id: str,
    segment_results: Mapping[str, Truth] | None = None,
    zone: tzinfo,
    account: str,
    now: datetime,
) -> Truth:
    today = now.astimezone(zone).date()
    account = account.upper()  # currency codes compare case-insensitively
    r = node_truth(
        root,
        catalogue=catalogue,
        values=values,
        segment_id=segment_id,
        subscriber_id=subscriber_id,
        segment_results=segment_results,
        zone=zone,
        account=account,
        today=today,
    )
    return {T: Truth.TRUE, F: Truth.FALSE, U: Truth.UNKNOWN}[r]
