"""What an evaluation needs besides the subscriber's values.

:class:`EvaluationOptions` are the account's settings, fixed when a segment is compiled.
:class:`Env` is the per-call state the compiled closures read: the subscriber, "today" and the
relative-date bounds derived from it, and how to look up referenced segments' results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from seggraph.clock import utcnow
from seggraph.evaluation.truth import Truth

SegmentLookup = Callable[[str], "Truth | bool | None"]


@dataclass(frozen=True)
class EvaluationOptions:
    """Account settings a compiled segment depends on.

    ``timezone`` decides calendar days; ``currency`` is the account currency (of money values
    and conditions that name none); ``clock`` returns "now" (tz-aware; a naive result is read as
    UTC) and is injectable so tests can pin it. Options are hashable (the clock by identity) and
    part of the compile cache key.
    """

    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    currency: str = "USD"
    clock: Callable[[], datetime] = utcnow


def no_segment_results(segment_id: str) -> None:
    """The lookup used when the caller supplies no referenced-segment results."""
    return None


class Env:
    """Per-call state read by compiled conditions (kept tiny: one is built per call)."""

    __slots__ = ("bounds", "lookup", "subscriber_id", "today")

    def __init__(
        self,
        subscriber_id: str,
        today: date | None,
        bounds: tuple[date, ...],
        lookup: SegmentLookup,
    ) -> None:
        self.subscriber_id = subscriber_id
        self.today = today
        #: The relative-date bounds of the segment, by the index the compiler gave them.
        self.bounds = bounds
        self.lookup = lookup
