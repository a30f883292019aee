"""How provider values reach the evaluation core, and how each is read as its declared type.

A provider answers, per property key, one of:

- a plain Python value (the fast path),
- :data:`MISSING` or ``None`` — it has no value for this subscriber (absent or null),
- :class:`Unknown` — it failed, timed out, or could not produce a value,
- a :class:`ResolvedValue` wrapping any of the above with the provider's name and latency, which
  explanations show.

The ``coerce_*`` functions below are the single place where a provider value is checked against
its declared type. Each returns the value the operators work on, or an :class:`Unknown` with
reason ``TYPE_ERROR`` saying why. Nothing is converted between types: a numeric string for a
NUMBER or a date-time string for a DATE is a type error (see the spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, final

from seggraph.domain.conditions import Money
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation.dates import local_day as _local_day
from seggraph.evaluation.dates import parse_iso_date, parse_iso_day
from seggraph.evaluation.semver import SemverError, Version, parse_semver


class _Missing:
    """The type of :data:`MISSING` (a singleton)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: The provider has no value for this subscriber (absent or null). ``None`` means the same.
MISSING: Final = _Missing()


class UnknownReason(StrEnum):
    """Why a value (and so a condition) is UNKNOWN."""

    #: The provider raised or answered with an error.
    PROVIDER_ERROR = "PROVIDER_ERROR"
    #: The provider did not answer in time.
    TIMEOUT = "TIMEOUT"
    #: The value is present but cannot be read as the property's declared type.
    TYPE_ERROR = "TYPE_ERROR"
    #: A money value is in another currency than the condition's (no conversion is guessed).
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    #: A referenced segment's membership is UNKNOWN, or the caller did not supply it.
    SEGMENT_UNKNOWN = "SEGMENT_UNKNOWN"


@final
@dataclass(frozen=True, slots=True)
class Unknown:
    """An unreadable value, with the reason kept for explanations. (Final: the evaluator
    recognises it by its exact class, on the hot path.)"""

    reason: UnknownReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


@final
@dataclass(frozen=True, slots=True)
class ResolvedValue:
    """A provider's answer with where it came from and how long it took (for explanations),
    and the provider's note on how it got the value, when it gave one (e.g. amounts in
    another currency left out of a sum)."""

    value: Any
    provider: str | None = None
    latency_ms: float | None = None
    note: str | None = None


def unwrapped(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``values`` with every :class:`ResolvedValue` replaced by the value it wraps (``values``
    itself when none is wrapped). The compiled fast path answers the commonest value classes
    in place and sends anything else, a wrapper included, down the general path: a row that
    is evaluated against many conditions is unwrapped once, first, and keeps its wrappers
    only for explanations, which show the provider and latency."""
    for v in values.values():
        if v.__class__ is ResolvedValue:
            return {k: v.value if v.__class__ is ResolvedValue else v for k, v in values.items()}
    return values


def _type_error(expected: str, raw: Any) -> Unknown:
    text = repr(raw)
    if len(text) > 60:
        text = text[:57] + "..."
    detail = f"expected {expected}, got {type(raw).__name__} {text}"
    return Unknown(UnknownReason.TYPE_ERROR, detail)


# --- one coercion per declared type --------------------------------------------------------------


def coerce_number(raw: Any) -> int | Decimal | Unknown:
    """An ``int`` or a finite ``Decimal`` (a float becomes the Decimal of its shortest repr, so
    ``99.95`` is exactly ``99.95``). ``bool`` and strings are not numbers."""
    cls = raw.__class__
    if cls is int or cls is Decimal:
        if cls is Decimal and not raw.is_finite():
            return _type_error("a finite number", raw)
        return raw
    if isinstance(raw, bool):
        return _type_error("a number", raw)
    if isinstance(raw, int):
        return int(raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            return _type_error("a finite number", raw)
        return Decimal(repr(raw))
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else _type_error("a finite number", raw)
    return _type_error("a number", raw)


#: A money value read for comparison: ``(amount, upper-case currency code)``. A tuple rather than
#: ``Money`` because it is built on the hot path.
MoneyValue = tuple[int | Decimal, str]


def coerce_money(raw: Any, account_currency: str) -> MoneyValue | Unknown:
    """``(amount, currency)`` with an exact amount; a bare number, or ``Money`` without a
    currency, is in ``account_currency``: the property's declared currency when it has one,
    else the account's (see :func:`value_currency`). Currency codes are compared upper-case
    (Stripe sends ``"usd"``)."""
    cls = raw.__class__
    if cls is Decimal or cls is int:
        amount = coerce_number(raw)
        if isinstance(amount, Unknown):
            return amount
        return (amount, account_currency)
    if isinstance(raw, Money):
        amount = coerce_number(raw.amount)
        if isinstance(amount, Unknown):
            return _type_error("a money amount", raw.amount)
        currency = raw.currency
        if currency is None:
            return (amount, account_currency)
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isascii()
            and currency.isalpha()
        ):
            return _type_error("a three-letter currency code", currency)
        return (amount, currency.upper())
    amount = coerce_number(raw)
    if isinstance(amount, Unknown):
        return _type_error("a money amount (Money or a number)", raw)
    return (amount, account_currency)


def coerce_text(raw: Any) -> str | Unknown:
    return raw if isinstance(raw, str) else _type_error("a string", raw)


def coerce_enum(raw: Any, canonical: Mapping[str, str]) -> str | Unknown:
    """The declared identifier ``raw`` names, case-insensitively (``canonical`` maps each
    identifier's casefold to the identifier)."""
    if not isinstance(raw, str):
        return _type_error("an enum identifier", raw)
    identifier = canonical.get(raw.casefold())
    if identifier is None:
        return Unknown(
            UnknownReason.TYPE_ERROR,
            f"{raw!r} is not one of {', '.join(sorted(set(canonical.values())))}",
        )
    return identifier


def coerce_boolean(raw: Any) -> bool | Unknown:
    return raw if raw is True or raw is False else _type_error("a boolean", raw)


def coerce_date(raw: Any) -> date | Unknown:
    """A ``date`` (not a ``datetime``) or a ``YYYY-MM-DD`` string."""
    if raw.__class__ is date:
        return raw
    if isinstance(raw, str):
        try:
            return parse_iso_date(raw)
        except ValueError:
            return _type_error("an ISO-8601 date YYYY-MM-DD", raw)
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return date(raw.year, raw.month, raw.day)
    return _type_error("a date", raw)


def coerce_datetime(raw: Any, zone: tzinfo) -> date | Unknown:
    """The calendar day in ``zone`` of a ``datetime`` or ISO date-time string (without an offset:
    already in ``zone``). A plain date is accepted as that day."""
    try:
        if isinstance(raw, datetime):
            return _local_day(raw, zone)
        if isinstance(raw, date):
            return date(raw.year, raw.month, raw.day)
        if isinstance(raw, str):
            return parse_iso_day(raw, zone)
    except OverflowError:  # a moment the calendar holds, but not in this zone (year 10000)
        text = raw.isoformat() if isinstance(raw, datetime) else str(raw)[:60]
        return Unknown(
            UnknownReason.TYPE_ERROR,
            f"{text} has no calendar day in the account time zone {zone} (years 1 to 9999)",
        )
    except ValueError:
        return _type_error("an ISO-8601 date-time", raw)
    return _type_error("a date-time", raw)


def coerce_list(raw: Any) -> list[str] | tuple[str, ...] | Unknown:
    if isinstance(raw, list | tuple):
        for item in raw:
            if not isinstance(item, str):
                return _type_error("a list of strings", raw)
        return raw
    return _type_error("a list of strings", raw)


def coerce_semver(raw: Any) -> Version | Unknown:
    if not isinstance(raw, str):
        return _type_error("a semantic version string", raw)
    try:
        return parse_semver(raw)
    except SemverError as exc:
        return Unknown(UnknownReason.TYPE_ERROR, str(exc))


class _NeverDirect:
    """No value has this class: for types whose every value needs coercion."""


#: Per type, the one class whose instances are already the coerced value (coercion is the
#: identity, and the operators' tests accept them as they are). The compiler skips the coercion
#: call for these; every other value goes through ``coercer_for``. Exact classes only: ``bool``
#: is not an ``int`` here, nor ``datetime`` a ``date``.
DIRECT_CLASS: dict[PropertyType, type] = {
    PropertyType.NUMBER: int,
    PropertyType.MONEY: _NeverDirect,
    PropertyType.TEXT: str,
    PropertyType.ENUM: _NeverDirect,
    PropertyType.BOOLEAN: bool,
    PropertyType.DATE: date,
    PropertyType.DATETIME: _NeverDirect,
    PropertyType.LIST: _NeverDirect,
    PropertyType.SEMVER: _NeverDirect,
}


def value_currency(declared: str | None, account_currency: str) -> str:
    """The currency of a MONEY amount a provider sends without one (a bare number, or
    ``Money`` with no currency): the property's declared currency
    (``PropertyDefinition.currency``) when it has one, else the account currency. Condition
    values are not read this way: a condition's bare amount is in the account currency."""
    return (declared or account_currency).upper()


def money_as_read(raw: Any, currency: str) -> Any:
    """A provider's MONEY answer as an explanation or a ``properties`` answer shows it when
    the property declares ``currency``: a bare amount, or ``Money`` without a currency, as
    ``Money`` in that currency (what the evaluation reads it as); anything else as it came."""
    if raw.__class__ is Money:
        return raw if raw.currency is not None else Money(raw.amount, currency)
    if isinstance(raw, int | Decimal | float) and not isinstance(raw, bool):
        amount = coerce_number(raw)
        return raw if isinstance(amount, Unknown) else Money(Decimal(amount), currency)
    return raw


def datetime_as_read(raw: Any, zone: tzinfo) -> Any:
    """A provider's DATETIME answer as an explanation or a ``properties`` answer shows it: a
    moment with an offset (a ``datetime``, or an ISO string the evaluation reads) as that
    moment in the account zone ``zone``, so that its date is the calendar day conditions
    compare (``2024-03-31T23:30:00Z`` in Paris is ``2024-04-01T01:30:00+02:00``); anything
    else (no offset: already in the account zone; a plain date; unreadable) as it came."""
    moment = raw
    if isinstance(raw, str):
        if len(raw) == 10 or isinstance(coerce_datetime(raw, zone), Unknown):
            return raw
        moment = datetime.fromisoformat(raw)
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        return raw
    try:
        return moment.astimezone(zone)
    except (OverflowError, ValueError):  # at the ends of the calendar
        return raw


@lru_cache(maxsize=4096)
def shown_as_read(
    definition: PropertyDefinition | None, zone: tzinfo | None = None
) -> Callable[[Any], Any] | None:
    """How a present value of ``definition`` is shown (``None``: as it came): a MONEY
    property with a declared currency shows its bare amounts in that currency; an ENUM shows
    the declared identifier a value names in another case (``"gold"`` as ``GOLD``, which is
    what a condition compares and what a client finds in the catalogue's ``enumValues``);
    with the account zone ``zone``, a DATETIME with an offset shows in that zone
    (:func:`datetime_as_read`)."""
    if definition is None:
        return None
    if definition.type is PropertyType.DATETIME:
        if zone is None:
            return None
        return lambda raw: datetime_as_read(raw, zone)
    if definition.type is PropertyType.ENUM:
        coerce = _enum_coercer(definition.enum_values)

        def identifier(raw: Any) -> Any:
            named = coerce(raw)
            return raw if named.__class__ is Unknown else named

        return identifier
    if definition.type is not PropertyType.MONEY:
        return None
    currency = definition.currency
    if not currency:
        return None
    code = currency.upper()
    return lambda raw: money_as_read(raw, code)


@lru_cache(maxsize=4096)
def coercer_of(
    definition: PropertyDefinition, *, timezone: tzinfo, currency: str
) -> Callable[[Any], Any]:
    """The coercion of one declared property's provider values, ``currency`` being the
    account currency (a MONEY property's own declared currency, when it has one, reads its
    bare amounts). Made once per definition and settings: a ``properties`` answer, the
    contract kit and value suggestions read each value with it, and an ENUM's coercion builds
    tables of its values."""
    return coercer_for(
        definition.type,
        enum_values=definition.enum_values,
        timezone=timezone,
        currency=value_currency(definition.currency, currency),
    )


def _enum_coercer(enum_values: tuple[str, ...]) -> Callable[[Any], str | Unknown]:
    """An ENUM's coercion: the declared identifier a value names, case-insensitively."""
    canonical = {identifier.casefold(): identifier for identifier in enum_values}
    exact = {identifier: identifier for identifier in enum_values}

    def enum(raw: Any) -> str | Unknown:
        if raw.__class__ is str:
            found = exact.get(raw)
            if found is not None:
                return found
        return coerce_enum(raw, canonical)

    return enum


def coercer_for(
    kind: PropertyType,
    *,
    enum_values: tuple[str, ...] = (),
    timezone: tzinfo,
    currency: str,
) -> Callable[[Any], Any]:
    """The coercion of one declared type, with the account settings it needs bound in
    (``currency``: that of a bare MONEY amount; :func:`coercer_of` picks it for a property)."""
    if kind is PropertyType.NUMBER:
        return coerce_number
    if kind is PropertyType.MONEY:
        account = currency.upper()
        return lambda raw: coerce_money(raw, account)
    if kind is PropertyType.TEXT:
        return coerce_text
    if kind is PropertyType.ENUM:
        return _enum_coercer(enum_values)
    if kind is PropertyType.BOOLEAN:
        return coerce_boolean
    if kind is PropertyType.DATE:
        return coerce_date
    if kind is PropertyType.DATETIME:
        return lambda raw: coerce_datetime(raw, timezone)
    if kind is PropertyType.LIST:
        return coerce_list
    if kind is PropertyType.SEMVER:
        return coerce_semver
    raise ValueError(f"no coercion for type {kind!r}")
