"""The peer engines, one module each, and the attribute shapes several of them share.

Each module defines ``ENGINE``, an :class:`bench.engines.Engine` subclass. Modules are imported
by name when the comparison runs, so a peer whose package is missing is reported and skipped
rather than stopping the run.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from ..workload import Subscriber, flat_attributes

#: Module names under ``bench.peers``, in the order the report lists them.
PEER_MODULES = ("growthbook", "flagsmith", "launchdarkly", "jsonlogic", "ruleengine", "unleash")


def json_attributes(subscriber: Subscriber) -> dict[str, Any]:
    """Attributes as a JSON payload carries them: MRR a float (JSON has no decimals), dates
    ``YYYY-MM-DD`` strings, which order as the dates do."""
    attributes = flat_attributes(subscriber)
    if "mrr" in attributes:
        attributes["mrr"] = float(attributes["mrr"])
    if "next_billing_date" in attributes:
        attributes["next_billing_date"] = attributes["next_billing_date"].isoformat()
    return attributes


def midnight_utc(day: Any) -> datetime:
    """A calendar day as the instant it starts in UTC (the account time zone here)."""
    return datetime.combine(day, time(), tzinfo=UTC)
