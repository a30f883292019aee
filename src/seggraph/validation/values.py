"""Parsing one condition value into its canonical form (see ``domain/conditions.py``).

Each parser takes what a user sent — JSON from GraphQL (numbers, strings, lists, objects) or the
values of the text form (``Decimal``, ``str``, ``tuple``, ``Money``, ``RelativeDate``) — and
returns the canonical value, or raises :class:`ValueRefused` saying what was expected.
"""

from __future__ import annotations

import math
import re
import reprlib
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from seggraph.domain.conditions import DateUnit, Money, RelativeDate
from seggraph.domain.currencies import is_currency_code, is_iso_currency, is_whole_minor_units
from seggraph.domain.numbers import BOUNDS, NUMBER_TEXT, within_bounds

# The regular expression semver.org publishes for strict Semantic Versioning 2.0.0.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


#: The largest ``{amount, unit}`` amount: 100,000 days is 273 years, and any larger window is
#: clamped to the calendar's range by evaluation anyway; it also keeps the stored amount an int64.
MAX_RELATIVE_AMOUNT = 100_000


class ValueRefused(ValueError):
    """A condition value does not parse; ``message`` says what was expected. ``at`` is where
    in the value, when it is a part of it (``("currency",)`` for the currency of
    ``{amount, currency}``; the validator puts an item's index in front)."""

    def __init__(
        self, message: str, code: str = "INVALID_VALUE", at: tuple[str | int, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.at = at


def describe(value: Any) -> str:
    """``value`` for a message, written as the client wrote it (JSON: ``true``, ``null``,
    ``[1, 2]``, a number as its digits; the text form's ``10 EUR`` and ``3 DAYS``) rather than
    as Python shows it (``True``, ``Decimal('1E+3')``, ``Money(amount=Decimal('10'), ...)``),
    shortened past 60 characters."""
    text = _SHORT.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def shown(value: Any) -> str:
    """A parsed condition value (its canonical form) for a message, as a person writes it: a
    number as its digits, money as ``10 EUR`` (a bare amount is in the account currency), a
    date or date-time as its ISO text without quotes (``2026-12-01``), ``3 DAYS``."""
    return value if isinstance(value, str) else describe(value)


class _JsonRepr(reprlib.Repr):
    """``reprlib``'s shortening, with JSON's spelling of the values JSON has."""

    def repr1(self, x: Any, level: int) -> str:
        if x is None:
            return "null"
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, Decimal):
            # As the text form writes it, without an exponent (str() wrote 0.0000001 as 1E-7),
            # unless it is past the bounds (1E+2000000 would be two million digits).
            return format(x, "f") if within_bounds(x) else str(x)
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        if isinstance(x, Money):  # from the text form, spelled as it is there
            currency = "¤" if x.currency is None else str(x.currency)  # ¤: the account's
            return f"{self.repr1(x.amount, level - 1)} {currency}"
        if isinstance(x, RelativeDate):
            unit = getattr(x.unit, "value", x.unit)
            return f"{self.repr1(x.amount, level - 1)} {unit}{'' if x.amount == 1 else 'S'}"
        return super().repr1(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        """As ``reprlib`` shows a dict, but in the client's order (``reprlib`` sorts keys)."""
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        shown = [
            f"{self.repr1(key, level - 1)}: {self.repr1(x[key], level - 1)}"
            for key in list(x)[: self.maxdict]
        ]
        return "{" + ", ".join(shown) + (", ..." if len(x) > self.maxdict else "") + "}"


#: Shows a value in a message: a few levels and items of it, so that a value nested a thousand
#: levels deep (JSON allows it) or a megabyte long is described without recursing through it.
_SHORT = _JsonRepr()
_SHORT.maxlevel = 3
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 6
_SHORT.maxstring = _SHORT.maxother = 60


def parse_decimal(value: Any, what: str = "a number") -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueRefused(f"expected {what}, got {describe(value)}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if not NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueRefused(f"expected {what}, got {describe(value)}")
        try:
            result = Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ValueRefused(f"expected {what}, got {describe(value)}") from None
    else:
        raise ValueRefused(f"expected {what}, got {describe(value)}")
    if not result.is_finite():
        raise ValueRefused(f"expected a finite number, got {describe(value)}")
    if not within_bounds(result):
        raise ValueRefused(f"{BOUNDS}, got {describe(value)}")
    return result


def parse_money(value: Any, account_currency: str) -> Money | Decimal:
    currency: str | None = None
    amount_raw = value
    if isinstance(value, Money):
        amount_raw, currency = value.amount, value.currency
    elif isinstance(value, dict):
        unknown = set(value) - {"amount", "currency"}
        if "amount" not in value or unknown:
            raise ValueRefused(
                'expected a money amount: a number, or {"amount": 99.95, "currency": "USD"}'
            )
        amount_raw, currency = value["amount"], value.get("currency")
    amount = parse_decimal(amount_raw, "a money amount in major units, such as 100 or 99.95")
    if currency is not None:
        if not isinstance(currency, str) or not is_currency_code(currency.strip().upper()):
            raise ValueRefused(
                f"expected a three-letter currency code, got {describe(currency)}",
                at=("currency",),
            )
        currency = currency.strip().upper()
        if not is_iso_currency(currency):
            raise ValueRefused(
                f"{currency!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)",
                at=("currency",),
            )
    effective = currency or account_currency
    if not is_whole_minor_units(amount, effective):
        raise ValueRefused(
            f"{describe(amount)} is not a whole number of {effective} minor units", "INVALID_MONEY"
        )
    # Without a currency the canonical form is the bare amount (the account currency), which is
    # also what the text form reads back from "100".
    return Money(amount, currency) if currency is not None else amount


def parse_text(value: Any, *, allow_empty: bool = True, max_length: int = 1000) -> str:
    if not isinstance(value, str):
        raise ValueRefused(f"expected a string, got {describe(value)}")
    if not allow_empty and value == "":
        raise ValueRefused("expected a non-empty string", "EMPTY_VALUE")
    if len(value) > max_length:
        raise ValueRefused(f"a text value has at most {max_length} characters", "TOO_LONG")
    return value


def parse_enum(value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str):
        folded = value.strip().casefold()
        for identifier in allowed:
            if identifier.casefold() == folded:
                return identifier
    raise ValueRefused(f"expected one of {', '.join(allowed)}, got {describe(value)}")


def parse_date(value: Any) -> str:
    if isinstance(value, datetime):
        raise ValueRefused(f"expected an ISO-8601 date (YYYY-MM-DD), got {describe(value)}")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueRefused(f"expected an ISO-8601 date (YYYY-MM-DD), got {describe(value)}")


def parse_date_or_datetime(value: Any) -> str:
    """A DATETIME condition value: a date, or a date-time (without offset: account zone)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise ValueRefused(
        f"expected an ISO-8601 date or date-time (2026-01-31 or 2026-01-31T09:30:00+01:00), "
        f"got {describe(value)}"
    )


def parse_relative(value: Any) -> RelativeDate:
    if isinstance(value, RelativeDate):
        amount_raw, unit_raw = value.amount, value.unit.value
    elif isinstance(value, dict) and set(value) == {"amount", "unit"}:
        amount_raw, unit_raw = value["amount"], value["unit"]
    else:
        raise ValueRefused('expected {"amount": N, "unit": DAY | WEEK | MONTH | YEAR}')
    if (
        isinstance(amount_raw, bool)
        or not isinstance(amount_raw, int | Decimal)
        or (isinstance(amount_raw, Decimal) and not amount_raw.is_finite())
    ):
        raise ValueRefused(f"expected a whole number amount >= 1, got {describe(amount_raw)}")
    if amount_raw > MAX_RELATIVE_AMOUNT:  # before int(): 1e2000000 is a whole number too
        raise ValueRefused(
            f"a relative date's amount is at most {MAX_RELATIVE_AMOUNT}, got {describe(amount_raw)}"
        )
    if amount_raw != int(amount_raw) or int(amount_raw) < 1:
        raise ValueRefused(f"expected a whole number amount >= 1, got {describe(amount_raw)}")
    if not isinstance(unit_raw, str) or unit_raw.upper() not in DateUnit.__members__:
        raise ValueRefused(f"expected a unit DAY, WEEK, MONTH or YEAR, got {describe(unit_raw)}")
    return RelativeDate(int(amount_raw), DateUnit(unit_raw.upper()))


def parse_semver(value: Any) -> str:
    if isinstance(value, str) and SEMVER.match(value):
        return value
    hint = " (without a leading v)" if isinstance(value, str) and value[:1] in "vV" else ""
    raise ValueRefused(
        f"expected a strict semantic version such as 1.4.0{hint}, got {describe(value)}"
    )


def parse_percentage(value: Any) -> Decimal:
    number = parse_decimal(value, "a percentage from 0 to 100")
    if not Decimal(0) <= number <= Decimal(100):
        raise ValueRefused(f"expected a percentage from 0 to 100, got {describe(number)}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3 and number != number.quantize(Decimal("0.001")):
        raise ValueRefused(f"a percentage has at most 3 decimals, got {describe(number)}")
    return number


def as_list(value: Any, *, max_items: int) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ValueRefused(f"expected a list, got {describe(value)}")
    if not value:
        raise ValueRefused("expected a non-empty list", "EMPTY_VALUE")
    if len(value) > max_items:
        raise ValueRefused(f"a list has at most {max_items} items", "TOO_LONG")
    return list(value)
