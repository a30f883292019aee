"""The properties this provider declares, and how each is derived from a subscriber's tickets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import MISSING

OPEN_STATUSES = frozenset({"open", "pending"})
STATUSES = ("open", "pending", "solved", "closed")
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")
RECENT = timedelta(days=30)

OPEN_TICKETS = "support.open_tickets"
RECENT_TICKETS = "support.tickets_last_30_days"
LAST_TICKET_AT = "support.last_ticket_at"
HIGHEST_OPEN_PRIORITY = "support.highest_open_priority"
TAGS = "support.tags"
SATISFACTION = "support.satisfaction"

DEFINITIONS = (
    PropertyDefinition(
        OPEN_TICKETS,
        "Open support tickets",
        PropertyType.NUMBER,
        description="Tickets whose status is open or pending (0 when none).",
        unit="tickets",
    ),
    PropertyDefinition(
        RECENT_TICKETS,
        "Support tickets in the last 30 days",
        PropertyType.NUMBER,
        description="Tickets created at or after now minus 30 days (a rolling window of 30 times "
        "24 hours), whatever their status.",
        unit="tickets",
    ),
    PropertyDefinition(
        LAST_TICKET_AT,
        "Last support ticket",
        PropertyType.DATETIME,
        description="When the latest ticket was created; missing when there is none.",
    ),
    PropertyDefinition(
        HIGHEST_OPEN_PRIORITY,
        "Highest open ticket priority",
        PropertyType.ENUM,
        description="The most urgent priority among open tickets; missing when none is open.",
        enum_values=PRIORITIES,
    ),
    PropertyDefinition(
        TAGS,
        "Support ticket tags",
        PropertyType.LIST,
        description="Every tag of every ticket, sorted (empty when none).",
    ),
    PropertyDefinition(
        SATISFACTION,
        "Support satisfaction",
        PropertyType.NUMBER,
        description="Average satisfaction rating (1 to 5) of rated tickets; missing when none "
        "is rated.",
    ),
)
KEYS = frozenset(d.key for d in DEFINITIONS)


def values(
    keys: Iterable[str], tickets: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """The values of ``keys`` for one subscriber, from all of its tickets."""
    open_tickets = [t for t in tickets if t.get("status") in OPEN_STATUSES]
    out: dict[str, Any] = {}
    for key in keys:
        if key == OPEN_TICKETS:
            out[key] = len(open_tickets)
        elif key == RECENT_TICKETS:
            out[key] = sum(1 for t in tickets if t["created_at"] >= now - RECENT)
        elif key == LAST_TICKET_AT:
            out[key] = max((t["created_at"] for t in tickets), default=MISSING)
        elif key == HIGHEST_OPEN_PRIORITY:
            ranks = [PRIORITIES.index(t["priority"]) for t in open_tickets]
            out[key] = PRIORITIES[max(ranks)] if ranks else MISSING
        elif key == TAGS:
            out[key] = sorted({tag for t in tickets for tag in t.get("tags", ())})
        elif key == SATISFACTION:
            ratings = [t["satisfaction"] for t in tickets if t.get("satisfaction") is not None]
            if ratings:
                # Exact when the average has a finite decimal expansion (4.125), else to 28
                # significant digits: rounded to cents, 4.125 read as 4.12, below 4.125.
                out[key] = Decimal(sum(ratings)) / len(ratings)
            else:
                out[key] = MISSING
    return out
