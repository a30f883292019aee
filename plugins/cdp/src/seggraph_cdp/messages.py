"""Segment Tracking API messages (``identify``, ``track``, ``batch``), read and checked.

A request is read whole before anything is written: one bad message refuses the request
(:class:`BadMessage`, a 400) and nothing of it is stored. The rules:

- ``userId`` (a string or a number) names the subscriber. A message with only an
  ``anonymousId`` is valid Segment input but cannot be matched to a subscriber: it is accepted
  and ignored (counted as ``ignored`` in the response). A message with neither is refused.
- ``messageId`` de-duplicates deliveries; when a client sends none, one is generated (so such a
  message is never de-duplicated).
- The event time is ``timestamp`` when sent; else ``originalTimestamp`` corrected by the client's
  clock skew (``receivedAt - (sentAt - originalTimestamp)``, as Segment does); else
  ``originalTimestamp``; else the time the request was received. A time without an offset is UTC.
  A time more than :data:`FUTURE_SKEW` after the request was received (a client's clock far
  ahead) is the time it was received: taken as it is, 2099 would keep the subscriber last
  seen "today" (days since last seen below zero) and the event in every 30-day count until then.
- ``identify`` takes ``traits`` (an object); ``track`` takes a non-empty ``event`` and
  ``properties`` (an object). In a batch, ``page``, ``screen``, ``group`` and ``alias`` messages
  are accepted too and only count as activity (``cdp.first_seen`` / ``cdp.last_seen``).
- Trait names containing ``.`` or starting with ``$`` cannot be stored and are refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from seggraph.domain.context import MAX_SUBJECT_ID

#: A userId is a subscriber id; the message's other ids share its bound.
MAX_ID = MAX_SUBJECT_ID
MAX_EVENT = 200
MAX_BATCH = 2500
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
#: How far after its receipt a message's time may be (clock skew) before it counts as received.
FUTURE_SKEW = timedelta(minutes=5)


class BadMessage(ValueError):
    """The request cannot be accepted; ``where`` points at the offending message or field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where, self.message = where, message


@dataclass(frozen=True)
class Message:
    message_id: str
    type: str
    user_id: str | None
    timestamp: datetime
    event: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


def parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadMessage(
            where, f"expected an ISO-8601 date-time string, got {type(value).__name__}"
        )
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadMessage(where, f"expected an ISO-8601 date-time, got {value[:60]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _identifier(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadMessage(where, f"expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        return None
    if len(text) > MAX_ID:
        raise BadMessage(where, f"at most {MAX_ID} characters")
    return text


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage(where, f"expected an object, got {type(value).__name__}")
    return value


def parse_message(
    body: Any,
    kind: str | None,
    received_at: datetime,
    *,
    where: str = "",
    batch_sent_at: datetime | None = None,
) -> Message:
    """One message; ``kind`` is the endpoint's type (``None`` in a batch: the message says)."""
    prefix = f"{where}." if where else ""
    if not isinstance(body, dict):
        raise BadMessage(where or "body", "expected a JSON object")
    declared = body.get("type")
    if kind is None:
        if not isinstance(declared, str) or declared.strip().lower() not in MESSAGE_TYPES:
            raise BadMessage(
                f"{prefix}type", f"expected one of {', '.join(MESSAGE_TYPES)}, got {declared!r}"
            )
        kind = declared.strip().lower()
    user_id = _identifier(body.get("userId"), f"{prefix}userId")
    anonymous_id = _identifier(body.get("anonymousId"), f"{prefix}anonymousId")
    if user_id is None and anonymous_id is None:
        raise BadMessage(f"{prefix}userId", "a userId or an anonymousId is required")
    message_id = _identifier(body.get("messageId"), f"{prefix}messageId") or (
        f"seggraph-{uuid.uuid4()}"
    )
    timestamp = parse_time(body.get("timestamp"), f"{prefix}timestamp")
    original = parse_time(body.get("originalTimestamp"), f"{prefix}originalTimestamp")
    sent_at = parse_time(body.get("sentAt"), f"{prefix}sentAt") or batch_sent_at
    if timestamp is None and original is not None:
        timestamp = received_at - (sent_at - original) if sent_at is not None else original
    if timestamp is not None and timestamp > received_at + FUTURE_SKEW:
        timestamp = received_at  # a clock ahead would keep the subscriber "seen" until then
    event: str | None = None
    traits: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    if kind == "identify":
        traits = _object(body.get("traits"), f"{prefix}traits")
        for name in traits:
            if not name or "." in name or name.startswith("$"):
                raise BadMessage(
                    f"{prefix}traits",
                    f"a trait name cannot contain '.' or start with '$': {name!r}",
                )
    elif kind == "track":
        raw_event = body.get("event")
        if not isinstance(raw_event, str) or not raw_event.strip():
            raise BadMessage(f"{prefix}event", "a track call needs an event name")
        if len(raw_event) > MAX_EVENT:
            raise BadMessage(f"{prefix}event", f"at most {MAX_EVENT} characters")
        event = raw_event
        properties = _object(body.get("properties"), f"{prefix}properties")
    return Message(
        message_id=message_id,
        type=kind,
        user_id=user_id,
        timestamp=timestamp or received_at,
        event=event,
        traits=traits,
        properties=properties,
    )


def parse_request(body: Any, kind: str, received_at: datetime) -> list[Message]:
    """The messages of one request to ``/identify``, ``/track`` or ``/batch``."""
    if kind != "batch":
        return [parse_message(body, kind, received_at)]
    if not isinstance(body, dict):
        raise BadMessage("body", "expected a JSON object with a batch array")
    items = body.get("batch")
    if not isinstance(items, list) or not items:
        raise BadMessage("batch", "expected a non-empty array of messages")
    if len(items) > MAX_BATCH:
        raise BadMessage("batch", f"at most {MAX_BATCH} messages in one batch")
    sent_at = parse_time(body.get("sentAt"), "sentAt")
    return [
        parse_message(item, None, received_at, where=f"batch[{index}]", batch_sent_at=sent_at)
        for index, item in enumerate(items)
    ]
