"""The wall clock, injectable so tests can pin "now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

#: The earliest time seggraph takes from a client (a CDP message, a retention event, a support
#: ticket): a day after the calendar's first, so that it is a calendar day in every time zone.
#: ``0001-01-01T00:00Z`` is in year 0 in New York, which no ``date`` holds: taken, it could not
#: be read in such an account's time zone (a day count, a date condition) at all.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


def taken_in_utc(moment: datetime) -> datetime | None:
    """An aware ``moment`` in UTC, or None when seggraph does not take it from a client: before
    :data:`EARLIEST`, or in no year a ``datetime`` holds once in UTC
    (``0001-01-01T00:00:00+01:00`` is in year 0 there)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    return utc if utc >= EARLIEST else None


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds (what MongoDB stores), so round trips are exact."""
    return to_milliseconds(datetime.now(UTC))


def to_milliseconds(moment: datetime) -> datetime:
    """``moment`` truncated to milliseconds (what MongoDB stores): answer what is stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
