"""Every billing property of the spec, derived from Stripe-shaped objects. Pure: no I/O.

``derive(data, lookups, account, now)`` takes one subscriber's billing objects (its customer,
subscriptions, invoices and retention events) plus the prices, products and coupons they refer
to, and returns the value of every property key in :data:`ALL_KEYS`, :data:`MISSING` where the
subscriber has none. The rules are those of ``spec/properties.md``; the comments below name the
convention each step follows.

Arithmetic is exact: amounts are :class:`fractions.Fraction` from the moment they are read
(``365/12`` has no finite decimal expansion, so ``Decimal`` division would already round), and a
MONEY value is rounded half-up to its currency's minor unit only when it is returned.

Objects are read the way Stripe writes them: timestamps are Unix seconds (``datetime`` values
are accepted too), ``items`` is a list object (``{"data": [...]}``, which may leave items out:
:func:`items_cut_short`) or a plain list, and a reference (an item's ``price``, a price's
``product``, a discount's ``coupon``, an invoice's ``subscription``) is an id or the expanded
object. A referenced object found in the lookups wins over an expanded copy, which may be older.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any, NoReturn, TypeGuard

from seggraph.domain.conditions import Money
from seggraph.domain.currencies import minor_units, round_money
from seggraph.domain.subscriptions import (
    CANCELED_STATUSES,
    PrimaryNotKnown,
    pick_primary,
    primary_note,
)
from seggraph.domain.subscriptions import stripe_moment as moment
from seggraph.evaluation.values import MISSING, Unknown, UnknownReason

Doc = Mapping[str, Any]

SUBSCRIBER_KEYS: tuple[str, ...] = (
    "subscriber.mrr",
    "subscriber.ltv",
    "subscriber.status",
    "subscriber.active_offer_id",
    "subscriber.active_coupon_id",
    "subscriber.days_since_saved",
)
SUBSCRIPTION_KEYS: tuple[str, ...] = (
    "subscription.mrr",
    "subscription.ltv",
    "subscription.is_free_trial",
    "subscription.status",
    "subscription.duration_days",
    "subscription.will_renew",
    "subscription.next_billing_date",
    "subscription.is_past_due",
    "subscription.active_coupon_id",
    "subscription.discount_percentage",
    "subscription.discount_fixed_amount",
)
PRODUCT_PLAN_ADDON_KEYS: tuple[str, ...] = (
    "product.id",
    "product.name",
    "plan.id",
    "plan.interval",
    "plan.interval_count",
    "plan.quantity",
    "plan.name",
    "addon.id",
    "addon.name",
)
#: The keys read from the plan item.
PLAN_KEYS: tuple[str, ...] = tuple(k for k in PRODUCT_PLAN_ADDON_KEYS if not k.startswith("addon."))
#: Every key the billing provider supplies, in the spec's order.
ALL_KEYS: tuple[str, ...] = SUBSCRIBER_KEYS + SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS

#: Statuses whose subscription counts towards MRR.
MRR_STATUSES = frozenset({"active", "past_due", "unpaid"})
#: "Canceled" in the spec's sense; every other status is live.
PAST_DUE_STATUSES = frozenset({"past_due", "unpaid"})

#: A price's interval normalised to months: ``amount_per_month = amount × factor / count``.
MONTHS_FACTOR: dict[str, Fraction] = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": Fraction(1),
    "year": Fraction(1, 12),
}
#: Months in one interval (the inverse of :data:`MONTHS_FACTOR`).
MONTHS_PER_INTERVAL: dict[str, Fraction] = {k: 1 / v for k, v in MONTHS_FACTOR.items()}
_ZERO = Fraction(0)


@dataclass(frozen=True, slots=True)
class Account:
    """The account settings a derivation needs: its time zone and its currency (upper case)."""

    zone: tzinfo
    currency: str


@dataclass(frozen=True, slots=True)
class Lookups:
    """Prices, products and coupons by id (a batch's worth, or everything in a test)."""

    prices: Mapping[str, Doc] = field(default_factory=dict)
    products: Mapping[str, Doc] = field(default_factory=dict)
    coupons: Mapping[str, Doc] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubscriberData:
    """One subscriber's own billing objects.

    ``retention_events`` are in the order they were recorded (ties on ``at`` go to the later
    one). ``customer`` is ``None`` when only other objects are known so far.
    """

    subscriber_id: str
    customer: Doc | None = None
    subscriptions: Sequence[Doc] = ()
    invoices: Sequence[Doc] = ()
    retention_events: Sequence[Doc] = ()

    @property
    def is_known(self) -> bool:
        """False for a subscriber billing knows nothing about (or whose customer was deleted)."""
        if self.customer is not None:
            return not self.customer.get("deleted", False)
        return bool(self.subscriptions or self.invoices or self.retention_events)


@dataclass(slots=True)
class Derivation:
    """The values (every key of :data:`ALL_KEYS`) and notes for explanations, by key."""

    values: dict[str, Any]
    notes: dict[str, list[str]] = field(default_factory=dict)
    subscription_id: str | None = None
    #: The keys asked for, when not all: the costly ones (MRR, LTV, the exact amounts) that
    #: are not asked for are left out (:func:`_guard`).
    wanted: frozenset[str] | None = None

    #: Each subscription's MRR (or why it has none) by ``id()`` of the subscription object,
    #: computed once: ``subscriber.mrr`` sums every subscription's, ``subscription.mrr`` is the
    #: chosen one's again, and a derivation asked for every key wants both.
    mrr_of: dict[int, tuple[Fraction, str] | DerivationError] = field(default_factory=dict)

    def note(self, key: str, text: str) -> None:
        self.notes.setdefault(key, []).append(text)

    def mrr_once(
        self, subscription: Doc, compute: Callable[[], tuple[Fraction, str]]
    ) -> tuple[Fraction, str]:
        """``compute()`` (the subscription's :func:`subscription_mrr`), once per subscription
        of this derivation: what it answered, or raised, the first time."""
        found = self.mrr_of.get(id(subscription))
        if found is None:
            try:
                found = compute()
            except DerivationError as exc:
                found = exc
            self.mrr_of[id(subscription)] = found
        if isinstance(found, DerivationError):
            raise found
        return found


class DerivationError(ValueError):
    """A value cannot be derived from the stored objects (a missing price, a bad amount)."""


# --- reading Stripe's shapes ---------------------------------------------------------------------


def _is_doc(value: Any) -> TypeGuard[Doc]:
    """A JSON object: a ``dict`` (what the database gives; checked first, since the check
    against the ``Mapping`` ABC costs several times as much and a derivation makes dozens),
    or any other mapping."""
    return value.__class__ is dict or isinstance(value, Mapping)


def ref_id(value: Any) -> str | None:
    """The id of a reference that is an id or an expanded object."""
    if isinstance(value, str):
        return value or None
    if _is_doc(value):
        ident = value.get("id")
        return ident if isinstance(ident, str) and ident else None
    return None


#: The largest magnitude of a decimal exponent, and the most digits, an amount, quantity,
#: percentage or interval count may have. Anything beyond is no billing figure, and exact
#: arithmetic on it is not bounded: ``"1E-1000000"`` as a unit amount made one MRR take 30 s
#: of the event loop (a gcd of million-digit integers).
MAX_EXPONENT = 60
MAX_DIGITS = 60
#: An int below this is taken as it is, at once (BSON's are 64-bit); a larger one is checked.
_SMALL = 10**MAX_DIGITS
#: The most digits a returned MONEY amount may have: what ``decimal``'s default context holds.
MONEY_DIGITS = 28


def _ratio(value: Any, what: str) -> tuple[int, int]:
    """:func:`exact`'s number as a numerator and a denominator; an int as itself, at once."""
    if value.__class__ is int and -_SMALL < value < _SMALL:
        return value, 1
    number = exact(value, what)
    return number.numerator, number.denominator


def _ratio_or_one(value: Any, what: str) -> tuple[int, int]:
    """:func:`_ratio` of ``value``, or 1 when it is absent (Stripe's default for a quantity
    and an interval count)."""
    return (1, 1) if value is None else _ratio(value, what)


def exact(value: Any, what: str) -> Fraction:
    """An exact number from JSON: an int, a decimal string or a float (read as its repr);
    :class:`DerivationError` for anything else, and for a number of more than
    :data:`MAX_DIGITS` digits or an exponent beyond :data:`MAX_EXPONENT`."""
    if isinstance(value, bool) or value is None:
        raise DerivationError(f"{what} is not a number: {value!r}")
    if isinstance(value, int):
        if not -_SMALL < value < _SMALL:
            raise DerivationError(f"{what} is not a billing figure: {value!r}")
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DerivationError(f"{what} is not finite: {value!r}")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal | str):
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise DerivationError(f"{what} is not a number: {value!r}") from None
        if not number.is_finite():
            raise DerivationError(f"{what} is not finite: {value!r}")
    else:
        raise DerivationError(f"{what} is not a number: {value!r}")
    if number and (
        abs(number.adjusted()) > MAX_EXPONENT or len(number.as_tuple().digits) > MAX_DIGITS
    ):
        raise DerivationError(f"{what} is not a billing figure: {value!r}")
    return Fraction(number)


def to_money(amount: Fraction, currency: str) -> Money:
    """Round once, half-up (away from zero on a tie), to the currency's minor unit."""
    places = minor_units(currency)
    # floor(|amount| * 10**places + 1/2) in integers: the same number, without the four
    # Fraction operations it took (a third of a whole derivation's time, four times each).
    numerator, denominator = amount.numerator, amount.denominator  # denominator > 0
    whole = (2 * abs(numerator) * 10**places + denominator) // (2 * denominator)
    signed = -whole if numerator < 0 else whole
    if (digits := len(str(whole))) > MONEY_DIGITS:
        # Decimal's 28 digits could not hold it (quantize would raise): no amount is that.
        raise DerivationError(f"an amount of {digits} digits is no billing figure")
    return Money(round_money(Decimal(signed).scaleb(-places), currency), currency)


#: Currencies whose amounts Stripe's API writes with other decimals than ISO 4217's minor unit
#: (docs.stripe.com/currencies, "Zero-decimal currencies" and "Special cases"): ISK stays a
#: two-decimal currency in the API (an amount of 100 is 1 króna, though ISO 4217 gives it no
#: decimals), and MGA is one of Stripe's zero-decimal currencies (ISO 4217 gives it two).
#: Read with ISO's exponent, an ISK price of 1,990 kr (``unit_amount`` 199000) was an MRR of
#: 199,000 kr. A returned MONEY value is still rounded to ISO's minor unit (:func:`to_money`).
STRIPE_DECIMALS: dict[str, int] = {"ISK": 2, "MGA": 0}


def stripe_decimals(currency: str) -> int:
    """How many decimals Stripe's integer amounts (``unit_amount``, ``amount_off``,
    ``amount_paid``) have in ``currency``."""
    code = currency.upper()
    found = STRIPE_DECIMALS.get(code)
    return minor_units(code) if found is None else found


def minor_to_major(amount: Fraction, currency: str) -> Fraction:
    """A Stripe amount (in the currency's smallest unit as Stripe's API counts it) in major
    units."""
    return amount / 10 ** stripe_decimals(currency)


def number_value(value: Fraction) -> int | Decimal:
    """A NUMBER as returned: an int when whole, else the exact Decimal (from a finite decimal)."""
    if value.denominator == 1:
        return int(value)
    return Decimal(value.numerator) / Decimal(value.denominator)


def currency_of(value: Any, fallback: str) -> str:
    return value.upper() if isinstance(value, str) and value else fallback


def local_date(when: datetime, zone: tzinfo) -> date:
    """The calendar day of ``when`` in ``zone``; :class:`DerivationError` when that day is in no
    year a ``date`` holds (``0001-01-01T00:00Z`` is in year 0 in New York, a date stored before
    seggraph refused such times): a value that needs the day is unknown, the others are not."""
    try:
        return when.astimezone(zone).date()
    except OverflowError:
        raise DerivationError(
            f"{when.isoformat()} has no calendar day in the account time zone {zone}"
        ) from None


def days_between(earlier: datetime, now: datetime, zone: tzinfo) -> int:
    """Whole calendar days in ``zone``: the local date of now minus the local date of the event."""
    return (local_date(now, zone) - local_date(earlier, zone)).days


def items_of(subscription: Doc) -> list[Doc]:
    """The items the subscription holds: all of them, unless :func:`items_cut_short` says
    some are not embedded."""
    raw = subscription.get("items")
    if _is_doc(raw):
        raw = raw.get("data")
    if not isinstance(raw, list):
        return []
    return [item for item in raw if _is_doc(item)]


def items_cut_short(subscription: Doc) -> str | None:
    """Why the subscription's embedded items are not all its items, or None when they are.

    Stripe embeds a list object (``{"data": [...], "has_more", "total_count"}``) holding the
    first items only (at most 10 in an event; a subscription may have 20). Its
    ``total_count``, when given, says how many there are (a list completed by hand, with every
    item in ``data``, is complete whatever ``has_more`` still says); else ``has_more`` says
    whether more are left out. A plain list is taken as complete."""
    raw = subscription.get("items")
    if not _is_doc(raw):
        return None
    data = raw.get("data")
    embedded = len(data) if isinstance(data, list) else 0
    total = raw.get("total_count")
    if isinstance(total, int) and not isinstance(total, bool):
        if total <= embedded:
            return None
        held = f"{total} items and only {embedded} are stored"
    elif raw.get("has_more") is True:
        held = f"more items than the {embedded} stored"
    else:
        return None
    return (
        f"{_where(subscription)} has {held} (Stripe embeds the first items only: import it "
        "with all of them in items.data)"
    )


def item_kind(item: Doc) -> str | None:
    metadata = item.get("metadata")
    if _is_doc(metadata):
        kind = metadata.get("kind")
        if isinstance(kind, str):
            return kind.strip().lower()
    return None


def _plan_index(items: list[Doc]) -> int:
    return next((i for i, item in enumerate(items) if item_kind(item) == "plan"), 0)


def plan_item(subscription: Doc) -> Doc | None:
    """The plan: the first item whose kind is ``plan``, else the first (every other item is
    an add-on). With items left out (:func:`items_cut_short`), the first embedded item that
    says ``plan`` is still the plan (the embedded items come first); when none says it, a
    left-out item may: :class:`DerivationError`."""
    items = items_of(subscription)
    for item in items:
        if item_kind(item) == "plan":
            return item
    if (cut := items_cut_short(subscription)) is not None:
        raise DerivationError(f"the plan is not known: {cut}")
    return items[0] if items else None


def addon_items(subscription: Doc) -> list[Doc]:
    """Every item but the plan (:func:`plan_item`); :class:`DerivationError` when items are
    left out (:func:`items_cut_short`)."""
    if (cut := items_cut_short(subscription)) is not None:
        raise DerivationError(f"the add-ons are not all known: {cut}")
    items = items_of(subscription)
    index = _plan_index(items)
    return [item for i, item in enumerate(items) if i != index]


def is_canceled(subscription: Doc) -> bool:
    return subscription.get("status") in CANCELED_STATUSES


def quantity_of(item: Doc) -> Fraction:
    """An item's quantity; absent means 1, Stripe's default when an item is created."""
    return Fraction(*_quantity(item))


def _quantity(item: Doc) -> tuple[int, int]:
    """:func:`quantity_of` as a numerator and a denominator."""
    return _ratio_or_one(item.get("quantity"), "quantity")


def primary_subscription(subscriptions: Iterable[Doc]) -> Doc | None:
    """The most recently created subscription that is not canceled, else the most recently
    created one; ties on ``created`` go to the greatest id. :class:`DerivationError` when the
    choice turns on a ``created`` that is no time (:func:`pick_primary`)."""

    def read(subscription: Doc) -> tuple[Any, Any, Any]:
        return subscription.get("status"), subscription.get("created"), subscription.get("id")

    try:
        return pick_primary(subscriptions, read)
    except PrimaryNotKnown as exc:
        raise DerivationError(str(exc)) from None


class Resolver:
    """Finds the objects a subscription refers to, preferring the lookups' copies."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def price(self, item: Doc) -> Doc | None:
        raw = item.get("price")
        if raw is None:
            raw = item.get("plan")  # the legacy Plans API
        ident = ref_id(raw)
        if ident is not None and ident in self.lookups.prices:
            return self.lookups.prices[ident]
        return raw if _is_doc(raw) else None

    def product(self, price: Doc) -> Doc | None:
        raw = price.get("product")
        ident = ref_id(raw)
        if ident is not None and ident in self.lookups.products:
            return self.lookups.products[ident]
        return raw if _is_doc(raw) else None

    def coupon(self, discount: Doc) -> Doc | None:
        raw = discount.get("coupon")
        if raw is None:
            source = discount.get("source")  # newer API versions: discount.source.coupon
            if _is_doc(source):
                raw = source.get("coupon")
        ident = ref_id(raw)
        if ident is not None and ident in self.lookups.coupons:
            return self.lookups.coupons[ident]
        if _is_doc(raw):
            return raw
        return {"id": ident} if ident is not None else None

    def price_name(self, price: Doc) -> str | None:
        """The price's nickname, or its product's name when it has none."""
        nickname = price.get("nickname")
        if isinstance(nickname, str) and nickname:
            return nickname
        product = self.product(price)
        name = product.get("name") if product is not None else None
        return name if isinstance(name, str) and name else None


def coupon_terms_known(coupon: Doc) -> bool:
    """Whether the coupon says what it takes off (it has ``percent_off`` or ``amount_off``):
    one known by its id alone does not. Newer API versions send ``discount.source.coupon`` as
    an id, unexpanded, so a coupon the catalogue does not hold (created before the webhook
    endpoint, with no import of coupons since) is only an id."""
    return "percent_off" in coupon or "amount_off" in coupon


def _coupon_not_known(coupon: Doc, subscription: Doc) -> NoReturn:
    raise DerivationError(
        f"the coupon {ref_id(coupon)!r} of the discount of {_where(subscription)} is not known"
    )


def _unknown(exc: DerivationError) -> Unknown:
    """What a value that cannot be derived answers: UNKNOWN, saying why."""
    return Unknown(UnknownReason.PROVIDER_ERROR, str(exc))


def _raise(exc: DerivationError) -> NoReturn:
    raise exc


def discount_in_force(discount: Any, now: datetime) -> Doc | None:
    """The discount when its ``start`` (if any) is at or before now and its ``end`` (if any)
    is after now; otherwise ``None``. :class:`DerivationError` when a bound is there but is
    no time (milliseconds, text) and the other does not already put the discount out of
    force: whether it is in force is not known, and taking it for no bound kept it in force
    for ever."""
    if not _is_doc(discount) or discount.get("deleted"):
        return None
    unreadable: DerivationError | None = None
    for name in ("start", "end"):
        if discount.get(name) is None:
            continue
        try:
            bound = timestamp(discount, name)
        except DerivationError as exc:
            unreadable = unreadable or exc
            continue
        if bound > now if name == "start" else bound <= now:
            return None
    if unreadable is not None:
        raise unreadable
    return discount


def effective_discount(subscription: Doc, customer: Doc | None, now: datetime) -> Doc | None:
    """The subscription's own discount in force, else the customer-level one in force."""
    own = discount_in_force(subscription.get("discount"), now)
    if own is not None:
        return own
    return discount_in_force(customer.get("discount") if customer else None, now)


def invoice_subscription_id(invoice: Doc) -> str | None:
    ident = ref_id(invoice.get("subscription"))
    if ident is not None:
        return ident
    parent = invoice.get("parent")  # newer API versions: parent.subscription_details
    if _is_doc(parent):
        details = parent.get("subscription_details")
        if _is_doc(details):
            return ref_id(details.get("subscription"))
    return None


def invoice_net(invoice: Doc) -> Fraction:
    """``amount_paid`` minus the refunded amount (``post_payment_credit_notes_amount``), in
    minor units."""
    paid = exact(invoice.get("amount_paid") or 0, "invoice amount_paid")
    refunded = exact(invoice.get("post_payment_credit_notes_amount") or 0, "invoice refunds")
    return paid - refunded


def is_paid(invoice: Doc) -> bool:
    return invoice.get("status") == "paid"


# --- money ---------------------------------------------------------------------------------------


def subscription_currency(subscription: Doc, resolver: Resolver, account: Account) -> str:
    """The subscription's ``currency``, else its plan price's, else the account currency.

    With items left out (:func:`items_cut_short`) and none embedded saying ``plan``, the
    first embedded item's price says it: a Stripe subscription bills all its items in one
    currency. (Asking :func:`plan_item` there raised, so a canceled subscription, which adds
    nothing, made ``subscriber.mrr`` UNKNOWN, and a fixed-amount coupon failed the whole
    derivation.)"""
    if isinstance(subscription.get("currency"), str) and subscription["currency"]:
        return str(subscription["currency"]).upper()
    items = items_of(subscription)
    plan = items[_plan_index(items)] if items else None
    price = resolver.price(plan) if plan is not None else None
    return currency_of(price.get("currency") if price else None, account.currency)


def _recurring(price: Doc, subscription: Doc) -> tuple[str, int, int]:
    """The price's interval and its ``interval_count`` as a numerator and a denominator."""
    recurring = price.get("recurring")
    if not _is_doc(recurring):
        raise DerivationError(
            f"price {price.get('id')!r} of {_where(subscription)} is not recurring"
        )
    interval = recurring.get("interval")
    if interval not in MONTHS_FACTOR:
        raise DerivationError(f"price {price.get('id')!r} has an unknown interval {interval!r}")
    count, per = _interval_count(recurring)
    if count <= 0:
        raise DerivationError(
            f"price {price.get('id')!r} has interval_count {Fraction(count, per)}"
        )
    return str(interval), count, per


def interval_count(recurring: Doc) -> Fraction:
    """``recurring.interval_count``; absent means 1 (Stripe's default)."""
    return Fraction(*_interval_count(recurring))


def _interval_count(recurring: Doc) -> tuple[int, int]:
    """:func:`interval_count` as a numerator and a denominator."""
    return _ratio_or_one(recurring.get("interval_count"), "interval_count")


def _unit_amount(price: Doc) -> tuple[int, int]:
    """The unit amount in minor units (``unit_amount``, or the finer ``unit_amount_decimal``),
    as a numerator and a denominator."""
    if (raw := price.get("unit_amount")) is not None:
        return _ratio(raw, "unit_amount")
    if (raw := price.get("unit_amount_decimal")) is not None:
        return _ratio(raw, "unit_amount_decimal")
    raise DerivationError(f"price {price.get('id')!r} has no unit_amount")


def _where(subscription: Doc) -> str:
    return f"subscription {subscription.get('id')!r}"


def subscription_mrr(
    subscription: Doc,
    customer: Doc | None,
    resolver: Resolver,
    account: Account,
    now: datetime,
) -> tuple[Fraction, str]:
    """The exact MRR (major units) and its currency; raises :class:`DerivationError` when a
    counted item's price is unknown.

    The items' sum is kept as one integer numerator over one integer denominator and made a
    :class:`Fraction` once: a ``Fraction`` operation normalises by a gcd and checks its
    operands' types each time, and the dozen an item took were a third of a derivation's time
    (measured in finding 35 of ``bench/README.md``). The rare coupons then use ``Fraction``."""
    currency = subscription_currency(subscription, resolver, account)
    if subscription.get("status") not in MRR_STATUSES:
        return _ZERO, currency
    if (cut := items_cut_short(subscription)) is not None:
        raise DerivationError(cut)  # the sum of some of its items is no MRR
    # Σ unit × quantity × months factor / interval count (then over 10 ** minor units).
    numerator, denominator = 0, 1
    for item in items_of(subscription):
        price = resolver.price(item)
        if price is None:
            raise DerivationError(f"the price of an item of {_where(subscription)} is not known")
        interval, count, per = _recurring(price, subscription)
        unit, unit_per = _unit_amount(price)
        quantity, quantity_per = _quantity(item)
        factor = MONTHS_FACTOR[interval]
        top = unit * quantity * factor.numerator * per
        bottom = unit_per * quantity_per * factor.denominator * count
        numerator = numerator * bottom + top * denominator
        denominator *= bottom
    total = Fraction(numerator, denominator * 10 ** stripe_decimals(currency))
    discount = effective_discount(subscription, customer, now)
    coupon = resolver.coupon(discount) if discount is not None else None
    if coupon is not None:
        total = _after_coupon(total, coupon, subscription, resolver, currency)
    return (total if total.numerator >= 0 else _ZERO), currency


def _after_coupon(
    total: Fraction, coupon: Doc, subscription: Doc, resolver: Resolver, currency: str
) -> Fraction:
    """A monthly amount less the coupon: a percentage of it, or a fixed amount per plan
    period spread over its months. A coupon known only by its id makes it unknown: the
    amount before the discount is not the subscription's MRR."""
    if not coupon_terms_known(coupon):
        _coupon_not_known(coupon, subscription)
    if coupon.get("percent_off") is not None:
        return total * (1 - exact(coupon["percent_off"], "percent_off") / 100)
    amount_off = fixed_amount_off(coupon, currency)
    plan = plan_item(subscription)
    # A fixed-amount coupon with no amount in the subscription's currency cannot apply
    # (Stripe refuses it).
    if amount_off is None or plan is None:
        return total
    plan_price = resolver.price(plan)
    if plan_price is None:
        raise DerivationError(f"the plan price of {_where(subscription)} is not known")
    interval, count, per = _recurring(plan_price, subscription)
    months = Fraction(count, per) * MONTHS_PER_INTERVAL[interval]
    off = minor_to_major(exact(amount_off, "amount_off"), currency)
    return total - off / months


def fixed_amount_off(coupon: Doc, currency: str) -> Any:
    """The coupon's ``amount_off`` in ``currency`` (Stripe's integer amount): its own when it
    is in that currency, else the one its ``currency_options`` give for it (a multi-currency
    coupon, as Stripe applies it to a subscription in another currency); None when it has
    none in that currency."""
    if coupon.get("amount_off") is None:
        return None
    if currency_of(coupon.get("currency"), currency) == currency:
        return coupon["amount_off"]
    options = coupon.get("currency_options")
    if _is_doc(options):
        option = options.get(currency.lower())
        if option is None:
            option = options.get(currency)
        if _is_doc(option) and option.get("amount_off") is not None:
            return option["amount_off"]
    return None


def paid_invoices(invoices: Iterable[Doc]) -> list[Doc]:
    return [invoice for invoice in invoices if is_paid(invoice)]


# --- the derivation ------------------------------------------------------------------------------


def derive(
    data: SubscriberData,
    lookups: Lookups,
    account: Account,
    now: datetime,
    subscription_id: str | None = None,
    wanted: frozenset[str] | None = None,
) -> Derivation:
    """Every key of :data:`ALL_KEYS` for one subscriber (and one subscription: the one named,
    else the primary subscription). A value that cannot be derived is :class:`Unknown`.

    ``wanted``: the keys the caller will read. A key computed with exact arithmetic (MRR,
    LTV, discounts, quantities) is then computed only when wanted, and is MISSING otherwise;
    the other keys cost little and are always there. A question about four keys no longer
    pays for both MRRs and both LTVs."""
    values: dict[str, Any] = dict.fromkeys(ALL_KEYS, MISSING)
    out = Derivation(values, wanted=wanted)
    if not data.is_known:
        return out
    resolver = Resolver(lookups)
    customer = data.customer
    subscriptions = list(data.subscriptions)

    _derive_subscriber(out, data, subscriptions, customer, resolver, account, now)

    note: str | None = None
    if subscription_id is not None:
        chosen = next((s for s in subscriptions if s.get("id") == subscription_id), None)
        if chosen is None:
            note = (
                f"subscription {subscription_id} is not one of this subscriber's: billing reads "
                "only the subscriber's own subscriptions"
            )
    else:
        try:
            chosen = primary_subscription(subscriptions)
        except DerivationError as exc:
            # Every value read from "the" subscription would read one by a guess.
            unknown = _unknown(exc)
            for key in SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS:
                values[key] = unknown
            return out
        if chosen is not None and len(subscriptions) > 1:
            note = primary_note(ref_id(chosen.get("id")), len(subscriptions))
    if note is not None:  # which subscription was read, where that is a question
        for key in SUBSCRIPTION_KEYS + PRODUCT_PLAN_ADDON_KEYS:
            if out.wanted is None or key in out.wanted:  # a walk asks for a few keys
                out.note(key, note)
    if chosen is not None:
        out.subscription_id = ref_id(chosen.get("id"))
        _derive_subscription(out, chosen, data.invoices, customer, resolver, account, now)
        _derive_plan(out, chosen, resolver)
    return out


def _guard(out: Derivation, key: str, compute: Any) -> None:
    """Set ``key`` to ``compute()``, or to an :class:`Unknown` saying why it failed; leave it
    out when the caller does not want it."""
    if out.wanted is not None and key not in out.wanted:
        return
    _set(out, key, compute)


def _set(out: Derivation, key: str, compute: Any) -> None:
    """Set ``key`` to ``compute()``, or to an :class:`Unknown` saying why it failed: what one
    value cannot be derived from (a price not known, a date with no day in the account time
    zone) leaves the subscriber's other values as they are."""
    try:
        out.values[key] = compute()
    except DerivationError as exc:
        out.values[key] = _unknown(exc)


def _derive_subscriber(
    out: Derivation,
    data: SubscriberData,
    subscriptions: list[Doc],
    customer: Doc | None,
    resolver: Resolver,
    account: Account,
    now: datetime,
) -> None:
    def mrr() -> Money:
        counted: list[Fraction] = []
        for subscription in subscriptions:
            amount: Fraction | None
            try:
                amount, currency = out.mrr_once(
                    subscription,
                    partial(subscription_mrr, subscription, customer, resolver, account, now),
                )
            except DerivationError:
                # A subscription in another currency is left out whatever its MRR, so one
                # whose MRR cannot be derived (a price not known yet) leaves the sum known.
                currency = subscription_currency(subscription, resolver, account)
                if currency == account.currency:
                    raise
                amount = None
            if amount is not None and currency == account.currency:
                counted.append(amount)
            elif amount is None or amount:
                out.note(
                    "subscriber.mrr",
                    f"subscription {subscription.get('id')} is in {currency}, not the account "
                    f"currency {account.currency}: left out",
                )
        # Most subscribers have one subscription: its amount as it is, with no addition.
        total = counted[0] if len(counted) == 1 else sum(counted, _ZERO)
        return to_money(total, account.currency)

    def ltv() -> Money:
        total = Fraction(0)
        for invoice in paid_invoices(data.invoices):
            currency = currency_of(invoice.get("currency"), account.currency)
            if currency == account.currency:
                total += minor_to_major(invoice_net(invoice), currency)
            else:
                out.note(
                    "subscriber.ltv",
                    f"invoice {invoice.get('id')} is in {currency}, not the account currency "
                    f"{account.currency}: left out",
                )
        return to_money(total, account.currency)

    _guard(out, "subscriber.mrr", mrr)
    _guard(out, "subscriber.ltv", ltv)

    events = list(data.retention_events)
    latest = _latest(events)
    if not any(not is_canceled(s) for s in subscriptions):
        status = "CANCELED"
    elif latest is not None and _kind(latest) == "saved":
        status = "SAVED"
    elif latest is not None and _kind(latest) == "reactivated":
        status = "REACTIVATED"
    else:
        status = "ACTIVE"
    out.values["subscriber.status"] = status

    latest_save = _latest([e for e in events if _kind(e) == "saved"])
    if latest_save is not None:
        offer = latest_save.get("offer_id")
        if isinstance(offer, str) and offer:
            out.values["subscriber.active_offer_id"] = offer
        saved_at = moment(latest_save.get("at"))
        if saved_at is not None:
            _set(
                out,
                "subscriber.days_since_saved",
                lambda: days_between(saved_at, now, account.zone),
            )

    try:
        discount = discount_in_force(customer.get("discount") if customer else None, now)
    except DerivationError as exc:
        out.values["subscriber.active_coupon_id"] = _unknown(exc)
        return
    coupon = resolver.coupon(discount) if discount is not None else None
    if coupon is not None and ref_id(coupon) is not None:
        out.values["subscriber.active_coupon_id"] = ref_id(coupon)


def _kind(event: Doc) -> str:
    return str(event.get("kind") or "").lower()


def _latest(events: Sequence[Doc]) -> Doc | None:
    """The event with the latest ``at``; ties go to the one recorded last (later in the list)."""
    best: tuple[datetime, int] | None = None
    chosen: Doc | None = None
    for index, event in enumerate(events):
        at = moment(event.get("at"))
        if at is None:
            continue
        if best is None or (at, index) >= best:
            best, chosen = (at, index), event
    return chosen


def _derive_subscription(
    out: Derivation,
    subscription: Doc,
    invoices: Sequence[Doc],
    customer: Doc | None,
    resolver: Resolver,
    account: Account,
    now: datetime,
) -> None:
    values = out.values
    status = subscription.get("status")
    canceled = is_canceled(subscription)

    def mrr() -> Money:
        amount, currency = out.mrr_once(
            subscription, partial(subscription_mrr, subscription, customer, resolver, account, now)
        )
        return to_money(amount, currency)

    def ltv() -> Money:
        currency = subscription_currency(subscription, resolver, account)
        ident = subscription.get("id")
        total = Fraction(0)
        for invoice in paid_invoices(invoices):
            if invoice_subscription_id(invoice) != ident:
                continue
            invoice_currency = currency_of(invoice.get("currency"), currency)
            if invoice_currency != currency:
                out.note(
                    "subscription.ltv",
                    f"invoice {invoice.get('id')} is in {invoice_currency}, not the "
                    f"subscription's {currency}: left out",
                )
                continue
            total += minor_to_major(invoice_net(invoice), currency)
        return to_money(total, currency)

    _guard(out, "subscription.mrr", mrr)
    _guard(out, "subscription.ltv", ltv)
    values["subscription.is_free_trial"] = status == "trialing"
    values["subscription.status"] = (
        "TRIALING" if status == "trialing" else "CANCELED" if canceled else "ACTIVE"
    )
    if subscription.get("created") is not None:
        _set(
            out,
            "subscription.duration_days",
            lambda: days_between(timestamp(subscription, "created"), now, account.zone),
        )
    at_period_end = subscription.get("cancel_at_period_end")
    will_renew = (
        not canceled and at_period_end is not True and subscription.get("cancel_at") is None
    )
    if will_renew and not (at_period_end is None or at_period_end is False):
        # Not a boolean ("false" as text was taken for true): whether it renews, and so its
        # next billing date, is not known.
        unknown = Unknown(
            UnknownReason.PROVIDER_ERROR,
            f"cancel_at_period_end of {_where(subscription)} is {at_period_end!r:.40}: "
            "not a boolean",
        )
        values["subscription.will_renew"] = unknown
        values["subscription.next_billing_date"] = unknown
        will_renew = False
    else:
        values["subscription.will_renew"] = will_renew
    if will_renew:
        try:
            next_billing = _next_billing_date(subscription, account)
        except DerivationError as exc:
            values["subscription.next_billing_date"] = _unknown(exc)
        else:
            if next_billing is not None:
                values["subscription.next_billing_date"] = next_billing
    values["subscription.is_past_due"] = status in PAST_DUE_STATUSES

    try:
        discount = effective_discount(subscription, customer, now)
    except DerivationError as exc:
        # Whether a discount is in force is not known: its coupon and its terms neither.
        values["subscription.active_coupon_id"] = _unknown(exc)
        for key in ("subscription.discount_percentage", "subscription.discount_fixed_amount"):
            _guard(out, key, partial(_raise, exc))
        return
    coupon = resolver.coupon(discount) if discount is not None else None
    if coupon is not None:
        coupon_id = ref_id(coupon)
        if coupon_id is not None:
            values["subscription.active_coupon_id"] = coupon_id
        if not coupon_terms_known(coupon):
            # A percentage or a fixed amount: which, and how much, is not known.
            for key in ("subscription.discount_percentage", "subscription.discount_fixed_amount"):
                _guard(out, key, partial(_coupon_not_known, coupon, subscription))
        elif coupon.get("percent_off") is not None:
            _guard(
                out,
                "subscription.discount_percentage",
                lambda: number_value(exact(coupon["percent_off"], "percent_off")),
            )
        elif coupon.get("amount_off") is not None:
            # In the subscription's currency when the coupon has an amount in it (its own,
            # or one of its currency_options), else in the coupon's own.
            own = subscription_currency(subscription, resolver, account)
            amount_off = fixed_amount_off(coupon, own)
            if amount_off is None:
                own, amount_off = currency_of(coupon.get("currency"), own), coupon["amount_off"]
            _guard(
                out,
                "subscription.discount_fixed_amount",
                lambda: to_money(minor_to_major(exact(amount_off, "amount_off"), own), own),
            )


def timestamp(doc: Doc, field: str) -> datetime:
    """``doc[field]``, a time that is there (not None), read as Stripe writes it;
    :class:`DerivationError` when it is not one (``"soon"``, or milliseconds, which are in no
    year a ``datetime`` holds as seconds): a value derived from it is unknown, not missing."""
    raw = doc.get(field)
    found = moment(raw)
    if found is None:
        shown = repr(raw)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        kind = doc.get("object")
        raise DerivationError(
            f"{field} of {kind if isinstance(kind, str) and kind else 'object'} "
            f"{doc.get('id')!r} is {shown}: not a Unix timestamp in seconds (nor an ISO 8601 "
            "date-time)"
        )
    return found


def period_end(subscription: Doc) -> datetime | None:
    """The subscription's ``current_period_end``, else its plan item's; None when neither has
    one, :class:`DerivationError` when the one there is not a time."""
    if subscription.get("current_period_end") is not None:
        return timestamp(subscription, "current_period_end")
    plan = plan_item(subscription)
    if plan is None or plan.get("current_period_end") is None:
        return None
    return timestamp(plan, "current_period_end")


def _next_billing_date(subscription: Doc, account: Account) -> date | None:
    """``trial_end`` when trialing, else the period end, as a day in the account zone; None
    when there is none."""
    if subscription.get("status") == "trialing":
        if subscription.get("trial_end") is None:
            return None
        when: datetime | None = timestamp(subscription, "trial_end")
    else:
        when = period_end(subscription)
    return None if when is None else local_date(when, account.zone)


def _derive_plan(out: Derivation, subscription: Doc, resolver: Resolver) -> None:
    values = out.values
    try:
        addon_prices = [(item, resolver.price(item)) for item in addon_items(subscription)]
    except DerivationError as exc:  # items left out: so would be add-ons
        values["addon.id"] = values["addon.name"] = _unknown(exc)
    else:
        values["addon.id"] = [
            ident
            for item, price in addon_prices
            if (ident := ref_id(price) or ref_id(item.get("price"))) is not None
        ]
        values["addon.name"] = [
            name
            for _, price in addon_prices
            if price is not None and (name := resolver.price_name(price)) is not None
        ]
    try:
        plan = plan_item(subscription)
    except DerivationError as exc:  # the plan may be an item left out
        for key in PLAN_KEYS:
            values[key] = _unknown(exc)
        return
    if plan is None:
        return
    price = resolver.price(plan)
    plan_id = ref_id(price) or ref_id(plan.get("price"))
    if plan_id is not None:
        values["plan.id"] = plan_id
    _guard(out, "plan.quantity", lambda: number_value(quantity_of(plan)))
    if price is None:
        return
    recurring = price.get("recurring")
    if _is_doc(recurring):
        interval = recurring.get("interval")
        if isinstance(interval, str) and interval:
            values["plan.interval"] = interval.upper()
        _guard(
            out,
            "plan.interval_count",
            lambda: number_value(interval_count(recurring)),
        )
    name = resolver.price_name(price)
    if name is not None:
        values["plan.name"] = name
    product_id = ref_id(price.get("product"))
    if product_id is not None:
        values["product.id"] = product_id
        product = resolver.product(price)
        product_name = product.get("name") if product is not None else None
        if isinstance(product_name, str) and product_name:
            values["product.name"] = product_name
