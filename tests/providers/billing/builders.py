"""Stripe-shaped objects for billing tests, with a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: The pinned "now" of the derivation tests: Sunday 15 March 2026, noon UTC.
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def ts(text: str) -> int:
    """Unix seconds of an ISO date-time (UTC unless it has an offset), as Stripe sends them."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def price(
    ident: str,
    unit_amount: int | None,
    interval: str = "month",
    count: int = 1,
    *,
    currency: str = "usd",
    nickname: str | None = None,
    product: str | dict[str, Any] = "prod_basic",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "price",
        "nickname": nickname,
        "unit_amount": unit_amount,
        "currency": currency,
        "recurring": {"interval": interval, "interval_count": count},
        "product": product,
        **extra,
    }


def product(ident: str, name: str) -> dict[str, Any]:
    return {"id": ident, "object": "product", "name": name}


def coupon(
    ident: str,
    *,
    percent_off: float | int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    duration: str = "forever",
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "coupon",
        "percent_off": percent_off,
        "amount_off": amount_off,
        "currency": currency,
        "duration": duration,
    }


def discount(
    coupon_ref: str | dict[str, Any], *, start: str | None = None, end: str | None = None
) -> dict[str, Any]:
    return {
        "id": "di_" + (coupon_ref if isinstance(coupon_ref, str) else coupon_ref["id"]),
        "object": "discount",
        "coupon": coupon_ref,
        "start": ts(start) if start else None,
        "end": ts(end) if end else None,
    }


def item(
    price_ref: str | dict[str, Any],
    quantity: int | None = 1,
    kind: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ident = price_ref if isinstance(price_ref, str) else price_ref["id"]
    out: dict[str, Any] = {
        "id": f"si_{ident}",
        "object": "subscription_item",
        "price": price_ref,
        "metadata": {"kind": kind} if kind else {},
        **extra,
    }
    if quantity is not None:
        out["quantity"] = quantity
    return out


def subscription(
    ident: str,
    items: list[dict[str, Any]],
    status: str = "active",
    *,
    customer: str = "cus_1",
    created: str = "2026-01-01T00:00:00",
    current_period_end: str | None = "2026-04-01T00:00:00",
    trial_end: str | None = None,
    cancel_at_period_end: bool = False,
    cancel_at: str | None = None,
    canceled_at: str | None = None,
    discount: dict[str, Any] | None = None,
    currency: str | None = "usd",
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "currency": currency,
        "created": ts(created),
        "current_period_end": ts(current_period_end) if current_period_end else None,
        "trial_end": ts(trial_end) if trial_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": ts(cancel_at) if cancel_at else None,
        "canceled_at": ts(canceled_at) if canceled_at else None,
        "discount": discount,
        "items": {"object": "list", "data": items},
    }


def customer(
    ident: str = "cus_1", *, discount: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "customer",
        "email": f"{ident}@example.com",
        "discount": discount,
        **extra,
    }


def invoice(
    ident: str,
    amount_paid: int,
    *,
    status: str = "paid",
    subscription: str | None = None,
    refunded: int = 0,
    currency: str = "usd",
    customer: str = "cus_1",
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "invoice",
        "customer": customer,
        "subscription": subscription,
        "status": status,
        "amount_paid": amount_paid,
        "post_payment_credit_notes_amount": refunded,
        "currency": currency,
    }


def retention(
    kind: str,
    at: str,
    *,
    offer_id: str | None = None,
    coupon_id: str | None = None,
    subscriber_id: str = "cus_1",
) -> dict[str, Any]:
    return {
        "subscriber_id": subscriber_id,
        "kind": kind,
        "offer_id": offer_id,
        "coupon_id": coupon_id,
        "at": datetime.fromisoformat(at).replace(tzinfo=UTC),
    }
