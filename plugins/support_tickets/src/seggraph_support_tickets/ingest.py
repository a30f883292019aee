"""Checking tickets sent to the ingestion endpoint: every problem at once, nothing half-written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from seggraph.clock import EARLIEST, taken_in_utc, to_milliseconds
from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph_support_tickets.properties import PRIORITIES, STATUSES
from seggraph_support_tickets.store import SOURCE_TIME, older_than

MAX_TICKETS = 1000
#: A ticket's id, as every id seggraph takes (a subscriber id's bound).
MAX_ID = MAX_SUBJECT_ID
#: A tag, as stored, as long as a condition's text value may be: a longer one could be
#: suggested to a condition editor but never written in a condition.
MAX_TAG = 1000
#: Tags on one ticket: as many as a condition's list of values may hold.
MAX_TAGS = 500
#: How far after the server's clock a ticket's ``created_at`` may be (the helpdesk's clock
#: skew). Beyond it the ticket is refused: it would count as created in the last 30 days, and
#: be the latest ticket, until long after it was sent.
MAX_AHEAD = timedelta(minutes=5)


class BadTickets(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_tickets(body: Any, now: datetime) -> list[dict[str, Any]]:
    """``{"tickets": [...]}`` (or one ticket object) as documents to store, one per ticket id:
    a ticket sent twice in one request is stored as it is the second time (the later one wins,
    as when it is sent again in a later request), unless the first states a newer
    ``updated_at``. ``now`` is the server's clock."""
    raw = body.get("tickets", [body]) if isinstance(body, dict) else None
    if not isinstance(raw, list) or not raw:
        raise BadTickets(['send {"tickets": [...]} with at least one ticket'])
    if len(raw) > MAX_TICKETS:
        raise BadTickets([f"send at most {MAX_TICKETS} tickets at once"])
    problems: list[str] = []
    tickets = [_ticket(i, item, problems, now) for i, item in enumerate(raw)]
    if problems:
        raise BadTickets(problems)
    latest: dict[str, dict[str, Any]] = {}
    for ticket in tickets:
        kept = latest.get(ticket["id"])
        if kept is None or not older_than(ticket, kept.get(SOURCE_TIME)):
            latest[ticket["id"]] = ticket
    return list(latest.values())


def _ticket(index: int, item: Any, problems: list[str], now: datetime) -> dict[str, Any]:
    where = f"tickets[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{where}: expected an object")
        return {}
    ticket: dict[str, Any] = {}
    for field in ("id", "subscriber_id"):
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{field}: required, a non-empty string")
        elif len(value.strip()) > MAX_ID:
            problems.append(
                f"{where}.{field}: at most {MAX_ID} characters, got {len(value.strip())}"
            )
        else:
            ticket[field] = value.strip()
    status = str(item.get("status", "open")).lower()
    if status not in STATUSES:
        problems.append(f"{where}.status: one of {', '.join(STATUSES)}")
    ticket["status"] = status
    priority = str(item.get("priority", "NORMAL")).upper()
    if priority not in PRIORITIES:
        problems.append(f"{where}.priority: one of {', '.join(PRIORITIES)}")
    ticket["priority"] = priority
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problems.append(f"{where}.tags: a list of non-empty strings")
    else:
        kept = [t.strip().lower() for t in tags]
        for i, tag in enumerate(kept):
            if len(tag) > MAX_TAG:
                problems.append(f"{where}.tags[{i}]: at most {MAX_TAG} characters, got {len(tag)}")
        ticket["tags"] = sorted(set(kept))
        if len(ticket["tags"]) > MAX_TAGS:  # counted as stored: repeats are one tag
            problems.append(f"{where}.tags: at most {MAX_TAGS} tags, got {len(ticket['tags'])}")
    created = _time(where, "created_at", item.get("created_at", ""), problems, now)
    if created is not None:
        ticket["created_at"] = created
    if item.get("updated_at") is not None:
        # The helpdesk's time of this state: a state older than the stored one is not written.
        updated = _time(where, "updated_at", item["updated_at"], problems, now)
        if updated is not None:
            # To the millisecond, as MongoDB keeps it: compared with the stored one as stored.
            ticket[SOURCE_TIME] = to_milliseconds(updated)
    satisfaction = item.get("satisfaction")
    if satisfaction is not None and (
        isinstance(satisfaction, bool)
        or not isinstance(satisfaction, int)
        or not 1 <= satisfaction <= 5
    ):
        problems.append(f"{where}.satisfaction: an integer from 1 to 5, or null")
    ticket["satisfaction"] = satisfaction
    return ticket


def _time(where: str, field: str, raw: Any, problems: list[str], now: datetime) -> datetime | None:
    """An ISO 8601 date-time with an offset, in UTC as it is stored, from :data:`EARLIEST` on
    and at most :data:`MAX_AHEAD` after ``now``; None (and a problem) when it is not."""
    try:
        taken = datetime.fromisoformat(str(raw))
        if taken.tzinfo is None:
            raise ValueError("no offset")
    except ValueError:
        problems.append(f"{where}.{field}: an ISO 8601 date-time with an offset")
        return None
    utc = taken_in_utc(taken)  # in UTC, as it is stored
    if utc is None:
        # From the CDP's earliest time on, a day in every time zone: 0001-01-01T00:00Z is
        # in year 0 in New York, where support.last_ticket_at could not be read.
        problems.append(
            f"{where}.{field}: out of range; in UTC it must fall between "
            f"{EARLIEST.replace(tzinfo=None).isoformat()} (the first time that is a "
            "calendar day in every time zone) and 9999-12-31T23:59:59"
        )
        return None
    if utc - now > MAX_AHEAD:
        problems.append(
            f"{where}.{field}: in the future (the server's clock says "
            f"{now.isoformat(timespec='seconds')}; at most 5 minutes ahead is taken "
            "as clock skew)"
        )
        return None
    return utc
