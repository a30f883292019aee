"""The CDP's properties: what it declares, and how each value is read from its documents.

- ``cdp.trait.<name>``: the latest value of each declared trait, read as its declared type. A
  value that is not of that type (a string for a NUMBER trait, say) is answered as it was
  sent, never silently converted: evaluation finds it set and its comparisons a type error.
- ``cdp.first_seen`` / ``cdp.last_seen`` (DATETIME): the earliest and latest event time of any
  message with the subscriber's ``userId``.
- ``cdp.days_since_last_seen`` (NUMBER): whole calendar days in the account time zone from the
  last-seen day to today (0 for a last-seen time a few minutes ahead, past midnight).
- ``cdp.event.<slug>.count_30d`` (NUMBER): ``track`` calls of that event with an event time at
  or after now minus 30 days (a rolling window of 30 × 24 hours); 0 for a subscriber the CDP
  has seen who never sent it.
- ``cdp.event.<slug>.last_at`` (DATETIME): the latest event time of that event.

A subscriber the CDP has never seen (no message with its ``userId``) has every CDP property
missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from bson import Decimal128

from seggraph.domain.conditions import Money
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph_cdp.settings import TraitDeclaration
from seggraph_cdp.store import EventStats

PROVIDER = "cdp"
NAMESPACE = "cdp"
FIRST_SEEN = "cdp.first_seen"
LAST_SEEN = "cdp.last_seen"
DAYS_SINCE_LAST_SEEN = "cdp.days_since_last_seen"
TRAIT_PREFIX = "cdp.trait."
EVENT_PREFIX = "cdp.event."
COUNT_SUFFIX = ".count_30d"
LAST_AT_SUFFIX = ".last_at"
WINDOW = timedelta(days=30)


def definitions(
    traits: Iterable[TraitDeclaration], events: dict[str, str], currency: str
) -> list[PropertyDefinition]:
    out = [
        PropertyDefinition(
            key=FIRST_SEEN,
            label="CDP first seen",
            type=PropertyType.DATETIME,
            description="When the CDP first received a message from the subscriber.",
            provider=PROVIDER,
        ),
        PropertyDefinition(
            key=LAST_SEEN,
            label="CDP last seen",
            type=PropertyType.DATETIME,
            description="When the CDP last received a message from the subscriber.",
            provider=PROVIDER,
        ),
        PropertyDefinition(
            key=DAYS_SINCE_LAST_SEEN,
            label="Days since last seen",
            type=PropertyType.NUMBER,
            description="Whole calendar days (account time zone) since the subscriber was "
            "last seen by the CDP.",
            unit="days",
            provider=PROVIDER,
        ),
    ]
    for trait in traits:
        out.append(
            PropertyDefinition(
                key=TRAIT_PREFIX + trait.name,
                label=f"Trait {trait.trait}",
                type=trait.type,
                description=f"The latest value of the {trait.trait!r} trait (identify calls).",
                enum_values=trait.enum_values,
                currency=currency if trait.type is PropertyType.MONEY else None,
                provider=PROVIDER,
                extra={"trait": trait.trait},
            )
        )
    for slug, name in events.items():
        out.append(
            PropertyDefinition(
                key=f"{EVENT_PREFIX}{slug}{COUNT_SUFFIX}",
                label=f"{name}: events in the last 30 days",
                type=PropertyType.NUMBER,
                description=f"How many {name!r} track calls the subscriber made in the last "
                "30 days (a rolling window of 30 × 24 hours).",
                unit="events",
                provider=PROVIDER,
                extra={"event": name},
            )
        )
        out.append(
            PropertyDefinition(
                key=f"{EVENT_PREFIX}{slug}{LAST_AT_SUFFIX}",
                label=f"{name}: last occurred",
                type=PropertyType.DATETIME,
                description=f"When the subscriber last made a {name!r} track call.",
                provider=PROVIDER,
                extra={"event": name},
            )
        )
    return out


def _decoded(raw: Any) -> Any:
    """A stored value with every ``Decimal128`` in it (a number that no double or 64-bit
    integer holds, see ``messages.storable``) the ``Decimal`` it holds: the number as it was
    sent. Iterative: a stored value may be nested as deeply as JSON was."""
    if isinstance(raw, Decimal128):
        return raw.to_decimal()
    if not isinstance(raw, dict | list):
        return raw
    holder: dict[str, Any] = {}
    pending: list[tuple[Any, Any, Any]] = [(holder, "", raw)]
    while pending:
        container, key, item = pending.pop()
        if isinstance(item, dict):
            copy: Any = {}
            pending.extend((copy, k, v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            copy = [None] * len(item)
            pending.extend((copy, i, v) for i, v in enumerate(item))
        else:
            copy = item.to_decimal() if isinstance(item, Decimal128) else item
        container[key] = copy
    return holder[""]


def read_trait(raw: Any, kind: PropertyType, zone: tzinfo, currency: str) -> Any:
    """A stored trait value as its declared type, or unchanged when it is not of that type."""
    if raw is None:
        return None
    raw = _decoded(raw)
    if kind in (PropertyType.NUMBER, PropertyType.MONEY):
        number: Any = raw
        if isinstance(raw, float) and raw == raw and raw not in (float("inf"), float("-inf")):
            number = Decimal(repr(raw))
        if (
            kind is PropertyType.MONEY
            and isinstance(number, int | Decimal)
            and not isinstance(number, bool)
        ):
            return Money(Decimal(number), currency)
        return number
    if kind is PropertyType.DATE and isinstance(raw, str):
        try:
            return date.fromisoformat(raw) if len(raw) == 10 else raw
        except ValueError:
            return raw
    if kind is PropertyType.DATETIME and isinstance(raw, str):
        text = raw.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            return raw
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    return raw


class ValueReader:
    """Turns the documents loaded for a batch into each subscriber's values."""

    def __init__(
        self,
        traits: Iterable[TraitDeclaration],
        events: dict[str, str],
        *,
        zone: tzinfo,
        currency: str,
    ) -> None:
        self.traits = {TRAIT_PREFIX + t.name: t for t in traits}
        self.events = events
        self.zone, self.currency = zone, currency

    def event_for(self, key: str) -> tuple[str, str] | None:
        """(event name, suffix) of an event key, or None."""
        if not key.startswith(EVENT_PREFIX):
            return None
        for suffix in (COUNT_SUFFIX, LAST_AT_SUFFIX):
            if key.endswith(suffix):
                slug = key[len(EVENT_PREFIX) : -len(suffix)]
                if slug in self.events:
                    return self.events[slug], suffix
        return None

    def values(
        self,
        keys: Iterable[str],
        profile: dict[str, Any] | None,
        stats: dict[str, EventStats],
        now: datetime,
    ) -> dict[str, Any]:
        """Every asked key this provider knows: a value, or ``None`` when missing."""
        out: dict[str, Any] = {}
        for key in keys:
            out[key] = None if profile is None else self._value(key, profile, stats, now)
        return out

    def _value(
        self, key: str, profile: dict[str, Any], stats: dict[str, EventStats], now: datetime
    ) -> Any:
        if key == FIRST_SEEN:
            return profile.get("first_seen")
        if key == LAST_SEEN:
            return profile.get("last_seen")
        if key == DAYS_SINCE_LAST_SEEN:
            last = profile.get("last_seen")
            if last is None:
                return None
            days = (now.astimezone(self.zone).date() - last.astimezone(self.zone).date()).days
            # A message up to FUTURE_SKEW ahead is kept as sent: near midnight its day is
            # tomorrow, and it was seen today, not in -1 days.
            return max(days, 0)
        trait = self.traits.get(key)
        if trait is not None:
            raw = profile.get("traits", {}).get(trait.trait)
            # As sent, even when it is not of the declared type: it is set (IS SET is TRUE) and
            # a condition comparing it is UNKNOWN, a type error the evaluation names.
            return read_trait(raw, trait.type, self.zone, self.currency)
        event = self.event_for(key)
        if event is not None:
            name, suffix = event
            found = stats.get(name)
            if suffix == COUNT_SUFFIX:
                return found.count_30d if found else 0
            return found.last_at if found else None
        return None
