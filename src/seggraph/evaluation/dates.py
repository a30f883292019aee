"""Calendar days in the account time zone, and the calendar arithmetic of relative operators.

Every date operator compares calendar days (see the spec): a date-time is first converted to its
day in the account time zone, and a date-time without an offset is already in that zone.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, tzinfo

from seggraph.domain.conditions import DateUnit, RelativeDate

#: ``YYYY-MM-DD`` with ASCII digits. ``date.fromisoformat`` alone also takes ``20260131`` and
#: week dates, which the contract does not.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_ISO_DATE_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, the day clamped to the target month's
    length (Mar 31 - 1 month = Feb 28/29). Raises ``OverflowError`` outside years 1..9999."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def shift(today: date, relative: RelativeDate, direction: int) -> date:
    """``today`` moved ``relative.amount`` units into the past (``direction=-1``) or the future
    (``+1``). A window reaching beyond the calendar's range is clamped to its first/last day,
    which gives the same answers for every representable date."""
    amount = relative.amount * direction
    try:
        if relative.unit is DateUnit.DAY:
            return today + timedelta(days=amount)
        if relative.unit is DateUnit.WEEK:
            return today + timedelta(days=7 * amount)
        if relative.unit is DateUnit.MONTH:
            return add_months(today, amount)
        return add_months(today, 12 * amount)
    except OverflowError:
        return date.min if direction < 0 else date.max


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The calendar day of ``moment`` in ``zone``; a naive ``moment`` is already local."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.date()
    return moment.astimezone(zone).date()


def parse_iso_date(text: str) -> date:
    """A strict ``YYYY-MM-DD`` date, or ``ValueError``."""
    if not ISO_DATE.match(text):
        raise ValueError(f"expected an ISO-8601 date YYYY-MM-DD, got {text!r}")
    return date.fromisoformat(text)


def parse_iso_day(text: str, zone: tzinfo) -> date:
    """The local calendar day of an ISO date or date-time string (no offset: account zone), or
    ``ValueError`` / ``OverflowError``."""
    if not _ISO_DATE_PREFIX.match(text):
        raise ValueError(f"expected an ISO-8601 date or date-time, got {text!r}")
    if len(text) == 10:
        return parse_iso_date(text)
    return local_day(datetime.fromisoformat(text), zone)
