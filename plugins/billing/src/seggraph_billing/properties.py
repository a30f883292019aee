"""The billing provider's property definitions: every subscriber, subscription, product, plan
and add-on key of ``spec/properties.md``."""

from __future__ import annotations

from dataclasses import replace

from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph_billing.derive import ALL_KEYS

PROVIDER = "billing"

#: Read groups (``PropertyDefinition.read_group``): the keys derived from a subscriber's paid
#: invoices, and from its retention events, each read by a join of its own, so a question
#: about the other keys (the customer and its subscriptions: MRR, plan, status of the
#: subscription, dates) reads neither.
INVOICES_GROUP = "invoices"
RETENTION_GROUP = "retention_events"

_T = PropertyType


def _define(
    key: str,
    label: str,
    kind: PropertyType,
    description: str,
    *,
    enum_values: tuple[str, ...] = (),
    unit: str | None = None,
    read_group: str = "",
) -> PropertyDefinition:
    return PropertyDefinition(
        key=key,
        label=label,
        type=kind,
        description=description,
        enum_values=enum_values,
        unit=unit,
        provider=PROVIDER,
        read_group=read_group,
    )


DEFINITIONS: tuple[PropertyDefinition, ...] = (
    # subscriber
    _define(
        "subscriber.mrr",
        "Subscriber MRR",
        _T.MONEY,
        "The subscriber's total monthly recurring revenue: the sum of its subscriptions' MRR "
        "in the account currency (subscriptions in other currencies are left out).",
    ),
    _define(
        "subscriber.ltv",
        "Subscriber LTV",
        _T.MONEY,
        "The subscriber's total lifetime value: amount paid minus refunds over all its paid "
        "invoices in the account currency.",
        read_group=INVOICES_GROUP,
    ),
    _define(
        "subscriber.status",
        "Subscriber status",
        _T.ENUM,
        "CANCELED when no subscription is live; otherwise SAVED or REACTIVATED after the "
        "latest retention event of that kind, else ACTIVE.",
        enum_values=("ACTIVE", "CANCELED", "SAVED", "REACTIVATED"),
        read_group=RETENTION_GROUP,
    ),
    _define(
        "subscriber.active_offer_id",
        "Active offer ID",
        _T.TEXT,
        "The offer id of the subscriber's latest save; missing if never saved.",
        read_group=RETENTION_GROUP,
    ),
    _define(
        "subscriber.active_coupon_id",
        "Subscriber active coupon ID",
        _T.TEXT,
        "The id of the coupon of the customer-level discount in force; missing if none.",
    ),
    _define(
        "subscriber.days_since_saved",
        "Days since saved",
        _T.NUMBER,
        "Calendar days (account time zone) since the subscriber's latest save; missing if "
        "never saved.",
        unit="days",
        read_group=RETENTION_GROUP,
    ),
    # subscription
    _define(
        "subscription.mrr",
        "Subscription MRR",
        _T.MONEY,
        "The subscription's monthly recurring revenue: its items normalised to a month, less "
        "the effective discount; 0 unless active, past due or unpaid. In the subscription's "
        "currency.",
    ),
    _define(
        "subscription.ltv",
        "Subscription LTV",
        _T.MONEY,
        "Amount paid minus refunds over the subscription's paid invoices, in the subscription's "
        "currency (invoices in another are left out).",
        read_group=INVOICES_GROUP,
    ),
    _define(
        "subscription.is_free_trial",
        "Is free trial",
        _T.BOOLEAN,
        "Whether the subscription is on a free trial (status trialing).",
    ),
    _define(
        "subscription.status",
        "Subscription status",
        _T.ENUM,
        "TRIALING, CANCELED (canceled or incomplete_expired), or ACTIVE for every other status.",
        enum_values=("TRIALING", "ACTIVE", "CANCELED"),
    ),
    _define(
        "subscription.duration_days",
        "Subscription duration",
        _T.NUMBER,
        "Calendar days (account time zone) from the subscription's creation to now.",
        unit="days",
    ),
    _define(
        "subscription.will_renew",
        "Will renew",
        _T.BOOLEAN,
        "Whether the subscription renews at the end of the current billing period: not "
        "canceled, not set to cancel at period end, no cancel_at.",
    ),
    _define(
        "subscription.next_billing_date",
        "Next billing date",
        _T.DATE,
        "The trial end when trialing, else the current period end, as a date in the account "
        "time zone; missing when the subscription will not renew.",
    ),
    _define(
        "subscription.is_past_due",
        "Is past due",
        _T.BOOLEAN,
        "Whether the subscription's status is past_due or unpaid.",
    ),
    _define(
        "subscription.active_coupon_id",
        "Subscription active coupon ID",
        _T.TEXT,
        "The coupon of the subscription's effective discount (its own, else the customer's); "
        "missing if none.",
    ),
    _define(
        "subscription.discount_percentage",
        "Discount percentage",
        _T.NUMBER,
        "The effective coupon's percent_off; missing if none or a fixed-amount coupon.",
        unit="percent",
    ),
    _define(
        "subscription.discount_fixed_amount",
        "Discount fixed amount",
        _T.MONEY,
        "The effective coupon's amount_off, in the coupon's currency; missing if none or a "
        "percentage coupon.",
    ),
    # product, plan, add-on
    _define("product.id", "Product ID", _T.TEXT, "The product id of the plan item's price."),
    _define("product.name", "Product name", _T.TEXT, "The name of the plan's product."),
    _define("plan.id", "Plan ID", _T.TEXT, "The price id of the subscription's plan item."),
    _define(
        "plan.interval",
        "Plan interval",
        _T.ENUM,
        "The billing interval of the plan's price.",
        enum_values=("DAY", "WEEK", "MONTH", "YEAR"),
    ),
    _define(
        "plan.interval_count",
        "Plan interval count",
        _T.NUMBER,
        "Intervals per billing period, e.g. 2 for a plan that bills every two weeks.",
    ),
    _define("plan.quantity", "Plan quantity", _T.NUMBER, "The quantity of the plan item."),
    _define(
        "plan.name",
        "Plan name",
        _T.TEXT,
        "The plan price's nickname, or its product's name when it has none.",
    ),
    _define(
        "addon.id",
        "Add-on IDs",
        _T.LIST,
        "The price ids of the subscription's add-on items (every item but the plan).",
    ),
    _define(
        "addon.name",
        "Add-on names",
        _T.LIST,
        "The add-on prices' nicknames (or their products' names).",
    ),
)

assert tuple(d.key for d in DEFINITIONS) == ALL_KEYS, "definitions and derivation disagree"

#: The MONEY keys whose every value is in the account currency (the subscriber-level sums add
#: only amounts in it). The others (a subscription's MRR and LTV, a coupon's fixed amount) are
#: in their own object's currency, which varies between subscribers, so they declare none:
#: each value carries its currency.
ACCOUNT_CURRENCY_KEYS = frozenset({"subscriber.mrr", "subscriber.ltv"})


def definitions(account_currency: str) -> tuple[PropertyDefinition, ...]:
    """The catalogue's definitions: :data:`DEFINITIONS`, with the account currency declared
    on the keys that are always in it (the catalogue's ``currency`` then says so)."""
    code = account_currency.upper()
    return tuple(
        replace(d, currency=code) if d.key in ACCOUNT_CURRENCY_KEYS else d for d in DEFINITIONS
    )


#: The keys of each join beyond the subscriptions'.
INVOICE_KEYS = frozenset(d.key for d in DEFINITIONS if d.read_group == INVOICES_GROUP)
RETENTION_KEYS = frozenset(d.key for d in DEFINITIONS if d.read_group == RETENTION_GROUP)
