"""The wall clock, injectable so tests can pin "now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds (what MongoDB stores), so round trips are exact."""
    return to_milliseconds(datetime.now(UTC))


def to_milliseconds(moment: datetime) -> datetime:
    """``moment`` truncated to milliseconds (what MongoDB stores): answer what is stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
