"""Stripe events and objects in: signature checks, the event envelope, and applying objects.

Used by the webhook endpoint (one event) and by the bulk import (lines of objects). Nothing is
written until a request has passed every check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from seggraph.domain.context import trimmed_id
from seggraph.domain.numbers import fits_int64
from seggraph_billing.derive import ref_id
from seggraph_billing.store import COLLECTION_OF, BillingStore, WriteReport, storage_problem


class IngestError(Exception):
    """A refused request or object: an HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- the Stripe-Signature scheme -----------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature of a payload: HMAC-SHA256 of ``"{timestamp}.{payload}"``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value, as Stripe sends it (for tests and tools)."""
    return f"t={timestamp},v1={sign(payload, secret, timestamp)}"


def verify_signature(
    payload: bytes, header: str | None, secrets: list[str], *, tolerance: int, now: float
) -> int:
    """Check a ``Stripe-Signature`` header (``t=…,v1=…[,v1=…]``); return its timestamp.

    Any ``v1`` signature made with any of ``secrets`` passes (Stripe sends several while a
    secret is rolled); other schemes (``v0``) are ignored. The timestamp must be within
    ``tolerance`` seconds of ``now``, either way. Raises :class:`IngestError`.
    """
    if not header:
        raise IngestError(400, "MISSING_SIGNATURE", "the Stripe-Signature header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise IngestError(
                    400, "BAD_SIGNATURE_HEADER", "the Stripe-Signature timestamp is not a number"
                ) from None
        elif key == "v1":
            candidates.append(value.strip())
    if timestamp is None:
        raise IngestError(
            400, "BAD_SIGNATURE_HEADER", "the Stripe-Signature header has no timestamp (t=…)"
        )
    if not candidates:
        raise IngestError(
            400, "BAD_SIGNATURE_HEADER", "the Stripe-Signature header has no v1 signature"
        )
    expected = [sign(payload, secret, timestamp) for secret in secrets]
    if not any(
        hmac.compare_digest(candidate, wanted) for candidate in candidates for wanted in expected
    ):
        raise IngestError(
            401,
            "BAD_SIGNATURE",
            "no v1 signature matches the payload and the endpoint's signing secret",
        )
    if abs(now - timestamp) > tolerance:
        raise IngestError(
            400,
            "STALE_TIMESTAMP",
            f"the signature's timestamp is {int(abs(now - timestamp))} s from now; "
            f"at most {tolerance} s are tolerated",
        )
    return timestamp


# --- the event envelope --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    created: int
    object: Mapping[str, Any]


def parse_event(payload: bytes) -> Event:
    """Read Stripe's envelope ``{id, type, created, data: {object}}``, or :class:`IngestError`."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, "MALFORMED_JSON", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise IngestError(400, "MALFORMED_EVENT", "the body must be a JSON object (an event)")
    problems = []
    ident, kind, created, data = (
        body.get("id"),
        body.get("type"),
        body.get("created"),
        body.get("data"),
    )
    if not isinstance(ident, str) or not ident:
        problems.append("id must be a non-empty string")
    if not isinstance(kind, str) or not kind:
        problems.append("type must be a non-empty string")
    if not isinstance(created, int) or isinstance(created, bool) or not fits_int64(created):
        problems.append("created must be a Unix timestamp (a 64-bit integer)")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        problems.append("data.object must be an object")
    if body.get("object", "event") != "event":
        problems.append('object must be "event"')
    if problems:
        raise IngestError(400, "MALFORMED_EVENT", "not a Stripe event: " + "; ".join(problems))
    assert isinstance(ident, str) and isinstance(kind, str) and isinstance(created, int)
    assert isinstance(obj, dict)
    return Event(ident, kind, created, obj)


# --- which events change what ---------------------------------------------------------------------

#: Event types by prefix: the object type their ``data.object`` holds.
_OBJECT_EVENTS: dict[str, str] = {
    "customer.subscription.": "subscription",
    "invoice.": "invoice",
    "price.": "price",
    "product.": "product",
    "coupon.": "coupon",
}
_CUSTOMER_EVENTS = frozenset({"customer.created", "customer.updated", "customer.deleted"})
_DISCOUNT_PREFIX = "customer.discount."
#: Events of a handled family that carry no storable object.
_IGNORED = frozenset({"invoice.upcoming"})


def object_type_of(event_type: str) -> str | None:
    """The object type an event changes (``discount`` for ``customer.discount.*``), or None
    for events the billing provider does not use."""
    if event_type in _IGNORED:
        return None
    if event_type.startswith(_DISCOUNT_PREFIX):
        return "discount"
    if event_type in _CUSTOMER_EVENTS:
        return "customer"
    for prefix, kind in _OBJECT_EVENTS.items():
        if event_type.startswith(prefix):
            return kind
    return None


def check_object(kind: str, obj: Mapping[str, Any], *, where: str = "data.object") -> None:
    """Refuse an object seggraph cannot store, before anything is written: one without what
    it needs (an id, a customer), or one MongoDB cannot hold (an integer beyond 64 bits, a
    field name with a NUL character, …: :func:`~seggraph_billing.store.storage_problem`)."""
    declared = obj.get("object")
    if declared is not None and declared != kind:
        raise IngestError(
            400, "MALFORMED_OBJECT", f"{where} is a {declared!r}, expected a {kind!r}"
        )
    if kind == "discount":
        if ref_id(obj.get("customer")) is None and ref_id(obj.get("subscription")) is None:
            raise IngestError(
                400, "MALFORMED_OBJECT", f"{where}: a discount needs a customer or a subscription"
            )
    else:
        _check_fields(kind, obj, where)
    _check_padding(kind, obj, where)
    # A discount is kept inside its customer's or subscription's document.
    if (problem := storage_problem(obj, embedded=kind == "discount")) is not None:
        raise IngestError(400, "MALFORMED_OBJECT", f"{where}: cannot be stored: {problem}")


def _check_fields(kind: str, obj: Mapping[str, Any], where: str) -> None:
    ident = obj.get("id")
    if not isinstance(ident, str) or not ident:
        raise IngestError(400, "MALFORMED_OBJECT", f"{where}.id must be a non-empty string")
    if kind in ("subscription", "invoice") and ref_id(obj.get("customer")) is None:
        raise IngestError(400, "MALFORMED_OBJECT", f"{where}.customer must be a customer id")
    if kind == "subscription":
        status = obj.get("status")
        if status is not None and not isinstance(status, str):
            raise IngestError(400, "MALFORMED_OBJECT", f"{where}.status must be a string")
        items = obj.get("items")
        if isinstance(items, Mapping):
            items = items.get("data")
        if items is not None and not isinstance(items, list):
            raise IngestError(400, "MALFORMED_OBJECT", f"{where}.items must be a list of items")


def _check_padding(kind: str, obj: Mapping[str, Any], where: str) -> None:
    """Refuse an object, customer or subscription id with surrounding whitespace (no billing
    system makes one): every other way an id comes in trims it (``trimmed_id``), so one
    stored so would be found by no question, and its subscriber by no other provider."""
    fields = ("customer", "subscription") if kind == "discount" else ("id", "customer")
    for field in fields:
        ident = obj.get("id") if field == "id" else ref_id(obj.get(field))
        if isinstance(ident, str) and trimmed_id(ident) != ident:
            raise IngestError(
                400,
                "MALFORMED_OBJECT",
                f"{where}.{field}: an id cannot begin or end with whitespace, got {ident!r}",
            )


def as_deleted(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The state a ``*.deleted`` event leaves: marked deleted (a subscription: canceled)."""
    doc = dict(obj)
    if kind == "subscription":
        if doc.get("status") not in ("canceled", "incomplete_expired"):
            doc["status"] = "canceled"
    else:
        doc["deleted"] = True
    return doc


#: An invoice's statuses in the order of its life (Stripe: draft, then open, then paid, void or
#: uncollectible, which may still be paid or voided).
_INVOICE_STAGES = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3}


#: Objects whose ids the account chooses, so that one deleted may be created again with its id
#: (a coupon's terms cannot change: scripts delete and re-create it), in the same second too.
_REUSED_IDS = frozenset({"coupon", "product"})


def stage(event_type: str, kind: str, obj: Mapping[str, Any]) -> int | None:
    """How far along its life an event's snapshot of an object is, to order two events of one
    object with the same ``created`` second (which Stripe delivers in any order): deleted
    last, then an invoice's status and a subscription's cancellation (neither goes back);
    within one of those, a ``*.created`` event's snapshot (the object's first state) before
    any other event's. ``obj`` is the state to store (:func:`as_deleted` applied). None for
    objects whose ids may be used again (:data:`_REUSED_IDS`): a ``*.created`` event may then
    follow a deletion, and the arrival order decides."""
    if kind in _REUSED_IDS:
        return None
    if obj.get("deleted") is True:
        life = 9
    elif kind == "invoice":
        life = _INVOICE_STAGES.get(str(obj.get("status")), 1)
    elif kind == "subscription":
        life = 1 if obj.get("status") in ("canceled", "incomplete_expired") else 0
    else:
        life = 0
    step = 0 if event_type.endswith(".created") else 2 if event_type.endswith(".deleted") else 1
    return 10 * life + step


async def apply_event(store: BillingStore, event: Event) -> str:
    """Apply one verified event: ``applied``, ``stale`` (newer state kept) or ``ignored``."""
    kind = object_type_of(event.type)
    if kind is None:
        return "ignored"
    check_object(kind, event.object)
    if kind == "discount":
        return await _apply_discount(store, event)
    obj = event.object
    if event.type.endswith(".deleted"):
        obj = as_deleted(kind, obj)
    report = await store.put_objects(
        kind,
        [(obj, event.created)],
        source=f"event {event.id}",
        stage=stage(event.type, kind, obj),
    )
    return _outcome(report)


async def _apply_discount(store: BillingStore, event: Event) -> str:
    discount = event.object
    deleted = event.type.endswith(".deleted")
    subscription_id = ref_id(discount.get("subscription"))
    if subscription_id is not None:
        target_kind, target = "subscription", subscription_id
    else:
        target_kind, target = "customer", ref_id(discount.get("customer")) or ""
    report = await store.put_discount(
        target_kind, target, None if deleted else discount, event.created
    )
    return _outcome(report)


def _outcome(report: WriteReport) -> str:
    return "applied" if report.applied else "stale"


SUPPORTED_OBJECTS = tuple(COLLECTION_OF)
