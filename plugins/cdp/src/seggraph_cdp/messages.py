"""Segment Tracking API messages (``identify``, ``track``, ``page``, ``screen``, ``group``,
``alias``, and ``batch`` of them), read and checked.

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
  ``properties`` (an object). ``page``, ``screen``, ``group`` and ``alias`` messages (on their
  endpoints or in a batch) only count as activity (``cdp.first_seen`` / ``cdp.last_seen``).
- Trait names containing ``.`` or starting with ``$`` cannot be stored (a trait name is a field
  path of the profile) and are refused. A field name containing NUL, anywhere in ``traits`` or
  ``properties``, cannot be stored at all (BSON names end at NUL) and is refused too.
- Numbers are stored exactly (JSON numbers are read exactly: see ``seggraph.web.json_bodies``).
  A double or a 64-bit integer is stored as it is; any other number (``0.10000000000000001``,
  ``12345678901234567890.5``, an integer of 2^63 or more) as a ``Decimal128`` when it holds it
  exactly (seggraph's bound for exact numbers, :func:`seggraph.domain.numbers.within_bounds`:
  at most 34 digits, 34 decimal places, below 10^34), and the message is refused otherwise
  (``1e400``, 40 significant digits): never rounded, truncated or turned into a string. This
  holds for event ``properties`` as for traits, so an event is stored as it was sent or not
  at all.
- A profile's size is bounded (:class:`Limits`): a message with more trait names than a
  profile may hold (``SEGGRAPH_CDP_MAX_TRAITS``), a trait name longer than
  :data:`MAX_TRAIT_NAME` or a trait value larger, as stored, than ``SEGGRAPH_CDP_MAX_TRAIT_BYTES``
  is refused here; the store refuses a message that would take a profile past its number of
  trait names.
- A time is from :data:`EARLIEST` (the first that is a calendar day in every time zone) to the
  end of year 9999, in UTC: ``0001-01-01T00:00:00+01:00`` and ``9999-12-31T23:59:59-01:00``
  are refused (a time after the receipt is the receipt time anyway, see above). A clock-skew
  correction that would leave that range (a ``sentAt`` centuries away from
  ``originalTimestamp``) is not applied: the client's clock is no guide, and
  ``originalTimestamp`` is taken as it was sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import bson
from bson import Decimal128

# The earliest time a message may have: a day after the calendar's first, so that it is a day in
# every time zone (the account's day of 0001-01-01T05:00Z is before year 1 in New York); shared
# with retention events and support tickets.
from seggraph.clock import EARLIEST, taken_in_utc
from seggraph.domain.context import MAX_SUBJECT_ID
from seggraph.domain.numbers import BOUNDS, fits_int64, within_bounds

#: A userId is a subscriber id; the message's other ids share its bound.
MAX_ID = MAX_SUBJECT_ID
MAX_EVENT = 200
MAX_BATCH = 2500
#: The longest trait name, as for an event name: a name is stored twice in its profile (with
#: its value and its time), so its length is part of what bounds a profile.
MAX_TRAIT_NAME = MAX_EVENT
#: The defaults of ``SEGGRAPH_CDP_MAX_TRAITS`` and ``SEGGRAPH_CDP_MAX_TRAIT_BYTES``.
DEFAULT_MAX_TRAITS = 500
DEFAULT_MAX_TRAIT_BYTES = 4096
MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
#: How far after its receipt a message's time may be (clock skew) before it counts as received.
FUTURE_SKEW = timedelta(minutes=5)


class BadMessage(ValueError):
    """The request cannot be accepted; ``where`` points at the offending message or field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where, self.message = where, message


@dataclass(frozen=True)
class Limits:
    """What one profile may hold: at most ``traits`` trait names (``SEGGRAPH_CDP_MAX_TRAITS``),
    each value at most ``trait_bytes`` bytes as stored (``SEGGRAPH_CDP_MAX_TRAIT_BYTES``)."""

    traits: int = DEFAULT_MAX_TRAITS
    trait_bytes: int = DEFAULT_MAX_TRAIT_BYTES


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Message:
    message_id: str
    type: str
    user_id: str | None
    timestamp: datetime
    event: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    #: Where the message is in its request (``batch[3]``; empty for a single message).
    where: str = ""


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
    utc = taken_in_utc(moment)
    if utc is None:
        raise BadMessage(
            where,
            f"{value[:60]!r} is out of range: a time is from {EARLIEST.date().isoformat()} to "
            "9999-12-31 in UTC",
        )
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def _corrected(original: datetime, sent_at: datetime | None, received_at: datetime) -> datetime:
    """``originalTimestamp`` corrected for the client's clock skew, as Segment does; as it was
    sent when there is no ``sentAt``, or when the correction would leave the times a message
    may have (a clock centuries off is no guide to the skew)."""
    if sent_at is None:
        return original
    try:
        corrected = received_at - (sent_at - original)
    except OverflowError:
        return original
    return corrected if corrected >= EARLIEST else original


def storable(value: dict[str, Any], where: str) -> dict[str, Any]:
    """``value`` (``traits`` or ``properties``) as it is stored: a copy where every number BSON
    holds neither as a double nor as a 64-bit integer is a ``Decimal128`` of the same number.
    Raises :class:`BadMessage`, at the field, for a number no ``Decimal128`` holds exactly
    (within seggraph's bounds) and for a field name with NUL. Iterative: JSON may be nested
    as deeply as the decoder allows."""
    out: dict[str, Any] = {}
    # (the container the copy goes into, its key there, the value, the value's path)
    pending: list[tuple[Any, Any, Any, str]] = [(out, "", value, where)]
    while pending:
        container, key, item, path = pending.pop()
        if isinstance(item, dict):
            copy: Any = {}
            for name in item:
                if "\x00" in name:
                    raise BadMessage(path, f"a field name cannot contain NUL: {name!r}")
            pending.extend((copy, n, v, f"{path}.{n}") for n, v in reversed(item.items()))
        elif isinstance(item, list):
            copy = [None] * len(item)
            pending.extend((copy, i, v, f"{path}[{i}]") for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, Decimal) or (
            isinstance(item, int) and not isinstance(item, bool) and not fits_int64(item)
        ):
            if not within_bounds(item):
                raise BadMessage(path, f"the number cannot be stored exactly: {BOUNDS}")
            copy = Decimal128(item if isinstance(item, Decimal) else Decimal(item))
        else:
            copy = item
        container[key] = copy
    copied: dict[str, Any] = out[""]
    return copied


def stored_size(value: Any) -> int:
    """The bytes ``value`` takes in the database (BSON): a string its UTF-8 length + 5, a
    number 8 (4 for a small integer, 16 for a decimal), an object or list its fields' sizes,
    names included, + 5."""
    return len(bson.encode({"": value})) - 7  # less the wrapping document and its field name


def _traits(body: Any, where: str, limits: Limits) -> dict[str, Any]:
    """The ``traits`` of an identify call, as stored, checked against ``limits``."""
    traits = _object(body, where)
    if len(traits) > limits.traits:
        raise BadMessage(
            where,
            f"{len(traits)} traits in one message, but a profile holds at most {limits.traits} "
            "trait names (SEGGRAPH_CDP_MAX_TRAITS)",
        )
    for name in traits:
        if not name or "." in name or "\x00" in name or name.startswith("$"):
            raise BadMessage(
                where,
                f"a trait name cannot be empty, contain '.' or NUL or start with '$': {name!r}",
            )
        if len(name) > MAX_TRAIT_NAME:
            raise BadMessage(
                where, f"a trait name has at most {MAX_TRAIT_NAME} characters: {name[:60]!r}…"
            )
    stored = storable(traits, where)
    for name, value in stored.items():
        size = stored_size(value)
        if size > limits.trait_bytes:
            raise BadMessage(
                f"{where}.{name}",
                f"the value takes {size} bytes stored, but a trait value takes at most "
                f"{limits.trait_bytes} (SEGGRAPH_CDP_MAX_TRAIT_BYTES)",
            )
    return stored


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
    limits: Limits = DEFAULT_LIMITS,
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
        timestamp = _corrected(original, sent_at, received_at)
    if timestamp is not None and timestamp > received_at + FUTURE_SKEW:
        timestamp = received_at  # a clock ahead would keep the subscriber "seen" until then
    event: str | None = None
    traits: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    if kind == "identify":
        traits = _traits(body.get("traits"), f"{prefix}traits", limits)
    elif kind == "track":
        raw_event = body.get("event")
        if not isinstance(raw_event, str) or not raw_event.strip():
            raise BadMessage(f"{prefix}event", "a track call needs an event name")
        if len(raw_event) > MAX_EVENT:
            raise BadMessage(f"{prefix}event", f"at most {MAX_EVENT} characters")
        event = raw_event
        properties = storable(
            _object(body.get("properties"), f"{prefix}properties"), f"{prefix}properties"
        )
    return Message(
        message_id=message_id,
        type=kind,
        user_id=user_id,
        timestamp=timestamp or received_at,
        event=event,
        traits=traits,
        properties=properties,
        where=where,
    )


def parse_request(
    body: Any, kind: str, received_at: datetime, limits: Limits = DEFAULT_LIMITS
) -> list[Message]:
    """The messages of one request to an endpoint of one message type, or to ``/batch``."""
    if kind != "batch":
        return [parse_message(body, kind, received_at, limits=limits)]
    if not isinstance(body, dict):
        raise BadMessage("body", "expected a JSON object with a batch array")
    items = body.get("batch")
    if not isinstance(items, list) or not items:
        raise BadMessage("batch", "expected a non-empty array of messages")
    if len(items) > MAX_BATCH:
        raise BadMessage("batch", f"at most {MAX_BATCH} messages in one batch")
    sent_at = parse_time(body.get("sentAt"), "sentAt")
    return [
        parse_message(
            item, None, received_at, where=f"batch[{index}]", batch_sent_at=sent_at, limits=limits
        )
        for index, item in enumerate(items)
    ]
