"""Checking tickets sent to the ingestion endpoint: every problem at once, nothing half-written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seggraph_support_tickets.properties import PRIORITIES, STATUSES

MAX_TICKETS = 1000


class BadTickets(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_tickets(body: Any) -> list[dict[str, Any]]:
    """``{"tickets": [...]}`` (or one ticket object) as documents to store."""
    raw = body.get("tickets", [body]) if isinstance(body, dict) else None
    if not isinstance(raw, list) or not raw:
        raise BadTickets(['send {"tickets": [...]} with at least one ticket'])
    if len(raw) > MAX_TICKETS:
        raise BadTickets([f"send at most {MAX_TICKETS} tickets at once"])
    problems: list[str] = []
    tickets = [_ticket(i, item, problems) for i, item in enumerate(raw)]
    if problems:
        raise BadTickets(problems)
    return tickets


def _ticket(index: int, item: Any, problems: list[str]) -> dict[str, Any]:
    where = f"tickets[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{where}: expected an object")
        return {}
    ticket: dict[str, Any] = {}
    for field in ("id", "subscriber_id"):
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{field}: required, a non-empty string")
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
        ticket["tags"] = sorted({t.strip().lower() for t in tags})
    try:
        created = datetime.fromisoformat(str(item.get("created_at", "")))
        if created.tzinfo is None:
            raise ValueError("no offset")
        ticket["created_at"] = created
    except ValueError:
        problems.append(f"{where}.created_at: an ISO 8601 date-time with an offset")
    satisfaction = item.get("satisfaction")
    if satisfaction is not None and (
        isinstance(satisfaction, bool)
        or not isinstance(satisfaction, int)
        or not 1 <= satisfaction <= 5
    ):
        problems.append(f"{where}.satisfaction: an integer from 1 to 5, or null")
    ticket["satisfaction"] = satisfaction
    return ticket
