"""The billing provider: property values in batches, the webhook, the subscriber directory and
retention events. ``seggraph_billing.plugin`` connects it to seggraph's hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seggraph.clock import EARLIEST, taken_in_utc, to_milliseconds
from seggraph.domain.context import MAX_SUBJECT_ID, EvaluationContext
from seggraph.domain.errors import InputRefused, UserError
from seggraph.domain.retention import RetentionEvent, RetentionKind
from seggraph.evaluation.values import MISSING, Unknown, UnknownReason
from seggraph.plugins import Noted
from seggraph.settings import read_settings
from seggraph.web.methods import ANY_METHOD
from seggraph.web.middleware import BodyTooLarge, read_body
from seggraph_billing.derive import ALL_KEYS, Account, Lookups, SubscriberData, derive, ref_id
from seggraph_billing.ingest import IngestError, apply_event, parse_event, verify_signature
from seggraph_billing.properties import INVOICE_KEYS, PROVIDER, RETENTION_KEYS, definitions
from seggraph_billing.settings import BillingSettings
from seggraph_billing.store import COUPONS, PRICES, PRODUCTS, BillingStore

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/billing"
#: How far in the future a retention event's ``at`` may be (clock skew of the caller).
FUTURE_SKEW = timedelta(minutes=5)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BillingProvider:
    """One per process. ``bind`` it to the database and the account settings before use."""

    name = PROVIDER

    def __init__(
        self,
        settings: BillingSettings | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or read_settings(BillingSettings)
        self.clock = clock
        self.wall_time = wall_time
        self._store: BillingStore | None = None
        self.account = Account(ZoneInfo("UTC"), "USD")

    # --- set-up ----------------------------------------------------------------------------------

    def bind(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        zone: tzinfo | str = "UTC",
        currency: str = "USD",
        clock: Callable[[], datetime] | None = None,
    ) -> BillingProvider:
        self._store = BillingStore(db)
        self.account = Account(ZoneInfo(zone) if isinstance(zone, str) else zone, currency.upper())
        if clock is not None:
            self.clock = clock
        return self

    @property
    def store(self) -> BillingStore:
        if self._store is None:
            raise RuntimeError("the billing provider is not bound to a database yet")
        return self._store

    async def start(self) -> None:
        """Create the billing collections' indexes (idempotent)."""
        await self.store.ensure_indexes()
        if not self.settings.secrets():
            log.warning(
                "SEGGRAPH_BILLING_WEBHOOK_SECRET is not set: %s refuses every event",
                WEBHOOK_PATH,
            )

    def definitions(self) -> tuple[Any, ...]:
        return definitions(self.account.currency)

    # --- values ----------------------------------------------------------------------------------

    async def resolve(
        self,
        contexts: Sequence[EvaluationContext],
        keys: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The values of ``keys`` (all billing keys by default) for each context, in order.

        The whole batch is read at once: one query per collection, never one per subscriber
        (the plugin manager splits large batches). A value is :data:`MISSING` when the
        subscriber has none, :class:`Unknown` when it cannot be derived from what is stored.
        """
        wanted = [k for k in (keys if keys is not None else ALL_KEYS) if k in ALL_KEYS]
        moment = now or self.clock()
        if not contexts:
            return []
        batch = await self.store.load_batch(
            [c.subscriber_id for c in contexts],
            invoices=not INVOICE_KEYS.isdisjoint(wanted),
            retention=not RETENTION_KEYS.isdisjoint(wanted),
        )
        asked = frozenset(wanted)
        return [
            self._values(
                batch.subscribers.get(c.subscriber_id) or SubscriberData(c.subscriber_id),
                batch.lookups,
                moment,
                c,
                wanted,
                asked,
            )
            for c in contexts
        ]

    def _values(
        self,
        data: SubscriberData,
        lookups: Lookups,
        now: datetime,
        context: EvaluationContext,
        keys: list[str],
        asked: frozenset[str],
    ) -> dict[str, Any]:
        try:
            derivation = derive(data, lookups, self.account, now, context.subscription_id, asked)
        except Exception as exc:  # one subscriber's bad data must not fail the batch
            log.exception("billing: could not derive values for %s", context.subscriber_id)
            unknown = Unknown(UnknownReason.PROVIDER_ERROR, f"billing data unreadable: {exc}")
            return dict.fromkeys(keys, unknown)
        values, notes = derivation.values, derivation.notes
        return {
            key: Noted(values.get(key, MISSING), "; ".join(notes[key]))
            if key in notes
            else values.get(key, MISSING)
            for key in keys
        }

    async def explain(
        self, context: EvaluationContext, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Every value with the notes of its derivation (currencies left out, and so on)."""
        batch = await self.store.load_batch([context.subscriber_id])
        data = batch.subscribers[context.subscriber_id]
        derivation = derive(
            data, batch.lookups, self.account, now or self.clock(), context.subscription_id
        )
        return {
            "values": derivation.values,
            "notes": derivation.notes,
            "subscription_id": derivation.subscription_id,
        }

    # --- suggestions for a condition editor ----------------------------------------------------

    async def suggest(self, key: str, prefix: str, limit: int) -> list[str] | None:
        """Values of a catalogue property (plan, add-on and product names and ids, coupon ids)
        starting with ``prefix`` case-insensitively, in alphabetical order; ``None`` for the
        other keys (seggraph suggests an ENUM's declared values). The database selects the
        objects by the prefix; a plan's name is its price's nickname, else its product's."""
        objects = self.store.catalogue_objects
        recurring = {"recurring": {"$ne": None}}  # a subscription item's price
        if key in ("plan.id", "addon.id"):
            found = [
                doc["_id"]
                for doc in await objects(PRICES, ["_id"], starting=("_id", prefix), where=recurring)
            ]
        elif key in ("plan.name", "addon.name"):
            nicknamed = await objects(
                PRICES, ["nickname"], starting=("nickname", prefix), where=recurring
            )
            products = await objects(PRODUCTS, ["name"], starting=("name", prefix))
            unnamed = {"nickname": {"$in": [None, ""]}, **recurring}
            ids = [doc["_id"] for doc in products]
            by_product = (
                await objects(
                    PRICES,
                    ["product"],
                    where={
                        **unnamed,
                        "$or": [{"product": {"$in": ids}}, {"product.id": {"$in": ids}}],
                    },
                )
                if ids
                else []
            )
            named = {doc["_id"]: doc.get("name") for doc in products}
            found = [doc.get("nickname") for doc in nicknamed]
            found += [named.get(ref_id(doc.get("product"))) for doc in by_product]
        elif key in ("product.id", "product.name"):
            field = "_id" if key == "product.id" else "name"
            found = [
                doc.get(field) for doc in await objects(PRODUCTS, [field], starting=(field, prefix))
            ]
        elif key in ("subscriber.active_coupon_id", "subscription.active_coupon_id"):
            found = [
                doc["_id"] for doc in await objects(COUPONS, ["_id"], starting=("_id", prefix))
            ]
        else:
            return None
        folded = prefix.casefold()
        chosen = {v for v in found if isinstance(v, str) and v and v.casefold().startswith(folded)}
        return sorted(chosen, key=lambda v: (v.casefold(), v))[:limit]

    # --- the subscriber directory -----------------------------------------------------------------

    async def subscriber_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        """A page of subscriber ids in id order, strictly after ``after``."""
        return await self.store.subscriber_ids(after, limit)

    # --- retention events ------------------------------------------------------------------------

    async def record_retention_event(
        self,
        *,
        subscriber_id: str,
        kind: str,
        offer_id: str | None = None,
        coupon_id: str | None = None,
        at: datetime | None = None,
        actor: str | None = None,
        idempotency_key: str | None = None,
    ) -> RetentionEvent:
        """Record a save, cancellation or reactivation; raises :class:`InputRefused` with every
        refused part (nothing written). An ``idempotency_key`` an earlier call recorded writes
        nothing: that call's event is answered (``replayed``) when this one asks for the same
        event, else the key is refused."""
        errors: list[UserError] = []
        subscriber_id = (subscriber_id or "").strip()
        try:
            kind = RetentionKind(str(kind).strip().upper())
        except ValueError:
            errors.append(
                UserError(("kind",), "INVALID", "kind must be SAVED, CANCELED or REACTIVATED")
            )
        offer_id = (offer_id or "").strip() or None
        coupon_id = (coupon_id or "").strip() or None
        # MongoDB keeps milliseconds: the answer says what is stored (and read back).
        now = to_milliseconds(self.clock().astimezone(UTC))
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=self.account.zone)  # without an offset: in the account zone
        # None: before EARLIEST, or in no year a datetime holds once in UTC
        # (0001-01-01T00:00:00+01:00, 9999-12-31T23:59:59-01:00).
        taken = now if at is None else taken_in_utc(at)
        when = None if taken is None else to_milliseconds(taken)
        if not subscriber_id:
            errors.append(UserError(("subscriberId",), "BLANK", "subscriberId is required"))
        elif len(subscriber_id) > MAX_SUBJECT_ID:
            errors.append(_too_long("subscriberId", subscriber_id))
        elif not await self.store.has_customer(subscriber_id):
            errors.append(
                UserError(
                    ("subscriberId",),
                    "UNKNOWN_SUBSCRIBER",
                    f"no billing customer has the id {subscriber_id!r}",
                )
            )
        if kind == RetentionKind.SAVED and offer_id is None:
            errors.append(
                UserError(("offerId",), "BLANK", "a save needs the id of the offer accepted")
            )
        for field, value in (("offerId", offer_id), ("couponId", coupon_id)):
            if value is not None and len(value) > MAX_SUBJECT_ID:
                errors.append(_too_long(field, value))
        if (when is None and at is not None and at.year == 9999) or (
            when is not None and when > now + FUTURE_SKEW
        ):
            errors.append(UserError(("at",), "IN_FUTURE", "at must not be in the future"))
        elif when is None:
            errors.append(
                UserError(
                    ("at",),
                    "OUT_OF_RANGE",
                    f"at must be {EARLIEST.isoformat()} or later (the first time that is a "
                    "calendar day in every time zone)",
                )
            )
        if idempotency_key is not None and not idempotency_key.strip():
            errors.append(
                UserError(("idempotencyKey",), "BLANK", "an idempotency key must not be blank")
            )
        elif idempotency_key is not None and len(idempotency_key) > MAX_SUBJECT_ID:
            errors.append(_too_long("idempotencyKey", idempotency_key))
        doc: dict[str, Any] = {
            "subscriber_id": subscriber_id,
            "kind": str(kind).lower(),
            "offer_id": offer_id,
            "coupon_id": coupon_id,
            "at": when,
            "recorded_at": now,
            "actor": actor,
        }
        if idempotency_key is not None and not any(e.path == ("idempotencyKey",) for e in errors):
            # What the call asked for, compared with a retry's: ``at`` as given (None when the
            # time of recording was taken), so that a retry without ``at`` asks for the same
            # event.
            doc["idempotency"] = {"key": idempotency_key, "at_given": at is not None}
            # Looked up before the input is refused: a retry is answered the event recorded,
            # even once its customer is deleted (the flow must learn the save was kept).
            stored = await self.store.retention_event_by_key(idempotency_key)
            if stored is not None:
                return self._replayed(stored, doc)
        if errors:
            raise InputRefused(errors)
        if idempotency_key is None:
            doc["_id"] = await self.store.add_retention_event(doc)
            return retention_event(doc)
        stored = await self.store.add_retention_event_once(doc)
        return retention_event(doc) if stored is None else self._replayed(stored, doc)

    @staticmethod
    def _replayed(stored: Mapping[str, Any], asked: Mapping[str, Any]) -> RetentionEvent:
        """The event an earlier call recorded with the key ``asked`` holds, when ``asked`` is the
        same event; else the key is refused."""
        if not _same_request(stored, asked):
            raise InputRefused(
                [
                    UserError(
                        ("idempotencyKey",),
                        "IDEMPOTENCY_KEY_REUSED",
                        "this idempotency key was used for another event (a different "
                        "subscriber, kind, offer, coupon or at): use a new key for a new event",
                    )
                ]
            )
        return replace(retention_event(stored), replayed=True)

    async def retention_events(self, subscriber_id: str, limit: int = 20) -> list[RetentionEvent]:
        """A subscriber's events, latest first (by ``at``, then by recording)."""
        docs = await self.store.retention_events(subscriber_id, limit)
        return [retention_event(doc) for doc in docs]

    # --- the webhook -----------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [Route(WEBHOOK_PATH, self.webhook, methods=list(ANY_METHOD), name="billing_webhook")]

    async def webhook(self, request: Request) -> Response:
        """``POST /webhooks/billing``: one Stripe event, signed with the endpoint's secret
        (any other method: a JSON 405, as every error of the route is JSON)."""
        if request.method != "POST":
            return _error(
                405,
                "METHOD_NOT_ALLOWED",
                f"{WEBHOOK_PATH} takes POST, not {request.method}",
                Allow="POST",
            )
        try:
            return await self._webhook(request)
        except IngestError as exc:
            log.info("billing webhook refused: %s %s", exc.code, exc.message)
            return _error(exc.status, exc.code, exc.message)

    async def _webhook(self, request: Request) -> Response:
        if self._store is None:
            return _error(503, "NOT_READY", "the billing provider has not started")
        secrets = self.settings.secrets()
        if not secrets:
            return _error(
                503,
                "NOT_CONFIGURED",
                "the billing webhook has no signing secret: set SEGGRAPH_BILLING_WEBHOOK_SECRET",
            )
        try:
            # No further than the limit: a body sent in chunks, before any signature is
            # checked, was read whole into memory first.
            payload = await read_body(request, self.settings.max_body_bytes)
        except BodyTooLarge:
            raise IngestError(
                413, "TOO_LARGE", "the body is larger than the webhook accepts"
            ) from None
        verify_signature(
            payload,
            request.headers.get("stripe-signature"),
            secrets,
            tolerance=self.settings.webhook_tolerance_seconds,
            now=self.wall_time(),
        )
        event = parse_event(payload)
        if await self.store.seen_event(event.id) is not None:
            return JSONResponse({"received": True, "id": event.id, "outcome": "duplicate"})
        outcome = await apply_event(self.store, event)
        recorded = await self.store.record_event(
            event.id, event.type, event.created, outcome, self.clock()
        )
        return JSONResponse(
            {"received": True, "id": event.id, "outcome": outcome if recorded else "duplicate"}
        )


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _too_long(field: str, value: str) -> UserError:
    return UserError(
        (field,),
        "TOO_LONG",
        f"{field} has at most {MAX_SUBJECT_ID} characters, got {len(value)}",
    )


def _same_request(stored: Mapping[str, Any], asked: Mapping[str, Any]) -> bool:
    """Whether a recorded event is what a call with its idempotency key asks for: the same
    subscriber, kind, offer and coupon, and ``at`` given by both at the same millisecond or by
    neither."""
    fields = ("subscriber_id", "kind", "offer_id", "coupon_id")
    if any(stored.get(f) != asked.get(f) for f in fields):
        return False
    given = bool(stored["idempotency"].get("at_given"))
    if given != asked["idempotency"]["at_given"]:
        return False
    return not given or stored["at"] == asked["at"]


def retention_event(doc: Mapping[str, Any]) -> RetentionEvent:
    return RetentionEvent(
        id=str(doc["_id"]),
        subscriber_id=doc["subscriber_id"],
        kind=RetentionKind(str(doc["kind"]).upper()),
        at=doc["at"],
        recorded_at=doc["recorded_at"],
        offer_id=doc.get("offer_id"),
        coupon_id=doc.get("coupon_id"),
        actor=doc.get("actor"),
        idempotency_key=(doc.get("idempotency") or {}).get("key"),
    )
