"""Billing storage and ingestion on the real test database: batched reads, events applied in
any order, the bulk import, the subscriber directory, retention events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import AsyncMongoClient
from pymongo.database import Database as SyncDatabase
from seggraph_billing.importer import import_file
from seggraph_billing.ingest import Event, apply_event
from seggraph_billing.provider import BillingProvider
from seggraph_billing.store import CUSTOMERS, JOIN_MAX_IDS, SUBSCRIPTIONS, BillingStore

from seggraph.clock import EARLIEST
from seggraph.domain.conditions import Money
from seggraph.domain.context import EvaluationContext as Subject
from seggraph.domain.errors import InputRefused
from seggraph.evaluation.values import MISSING, Unknown, UnknownReason
from tests.providers.billing.builders import (
    NOW,
    coupon,
    customer,
    discount,
    invoice,
    item,
    price,
    product,
    subscription,
)
from tests.providers.billing.conftest import Clock, CommandLog

T0 = int(NOW.timestamp()) - 3600
PLUS_ONE = timezone(timedelta(hours=1))
END_MINUS_ONE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))


def event(kind: str, obj: dict[str, Any], created: int, ident: str | None = None) -> Event:
    return Event(ident or f"evt_{kind}_{obj.get('id')}_{created}", kind, created, obj)


async def seed_catalogue(billing: BillingProvider) -> None:
    await billing.store.put_objects(
        "product",
        [(product("prod_basic", "Basic"), T0), (product("prod_pro", "Pro"), T0)],
        source="test",
    )
    await billing.store.put_objects(
        "price",
        [
            (price("month_10", 1000, nickname="Basic monthly"), T0),
            (price("year_120", 12000, "year", product="prod_pro"), T0),
            (price("addon_5", 500, product="prod_pro", nickname="Seats"), T0),
        ],
        source="test",
    )
    await billing.store.put_objects(
        "coupon", [(coupon("pct25", percent_off=25), T0)], source="test"
    )


async def store_save(billing: BillingProvider, subscriber_id: str, days_ago: int) -> None:
    """A save (offer ``o1``) recorded ``days_ago`` days before NOW, stored as it is recorded."""
    when = NOW - timedelta(days=days_ago)
    await billing.store.add_retention_event(
        {
            "subscriber_id": subscriber_id,
            "kind": "saved",
            "offer_id": "o1",
            "coupon_id": None,
            "at": when,
            "recorded_at": when,
            "actor": "test",
        }
    )


async def values_of(billing: BillingProvider, subscriber: str, *keys: str) -> dict[str, Any]:
    [out] = await billing.resolve([Subject(subscriber)], keys or None)
    return out


# --- batched reads -------------------------------------------------------------------------------


async def test_one_operation_per_small_batch_one_query_per_collection_for_a_large_one(
    provider: BillingProvider, command_log: CommandLog
) -> None:
    await seed_catalogue(provider)
    customers = [customer(f"cus_{i:02}") for i in range(30)]
    await provider.store.put_objects("customer", [(c, T0) for c in customers], source="test")
    subs = [
        subscription(
            f"sub_{i:02}",
            [item("year_120"), item("addon_5", 2)],
            customer=f"cus_{i:02}",
            discount=discount("pct25") if i % 2 else None,
        )
        for i in range(30)
    ]
    await provider.store.put_objects("subscription", [(s, T0) for s in subs], source="test")
    await provider.store.put_objects(
        "invoice",
        [(invoice(f"in_{i:02}", 1000, customer=f"cus_{i:02}"), T0) for i in range(30)],
        source="test",
    )
    # A large batch (a walk's page): one query per collection, and one for the catalogue's
    # write token.
    per_collection = [
        ("find", c)
        for c in (
            "billing_customers",
            "billing_meta",
            "billing_subscriptions",
            "billing_invoices",
            "billing_retention_events",
        )
    ]
    command_log.clear()
    results = await provider.resolve([Subject(f"cus_{i:02}") for i in range(30)])
    catalogue = [("find", c) for c in ("billing_prices", "billing_coupons", "billing_products")]
    assert sorted(command_log.commands) == sorted(per_collection + catalogue)
    # The catalogue is unchanged: the next batch reads none of it.
    command_log.clear()
    assert await provider.resolve([Subject(f"cus_{i:02}") for i in range(30)]) == results
    assert sorted(command_log.commands) == sorted(per_collection)
    assert results[0]["subscriber.mrr"] == Money(Decimal("20.00"), "USD")
    assert results[1]["subscriber.mrr"] == Money(Decimal("15.00"), "USD")
    assert results[1]["subscription.active_coupon_id"] == "pct25"
    assert results[7]["plan.name"] == "Pro"
    assert results[7]["addon.name"] == ["Seats"]
    assert results[7]["subscriber.ltv"] == Money(Decimal("10.00"), "USD")
    # A small batch (the questions about one subscriber): one operation, the customers with
    # their subscriptions, invoices and retention events joined and the token added.
    command_log.clear()
    small = [Subject(f"cus_{i:02}") for i in range(JOIN_MAX_IDS)]
    assert await provider.resolve(small) == results[:JOIN_MAX_IDS]
    assert command_log.commands == [("aggregate", "billing_customers")]
    assert sorted(command_log.joined) == [
        "billing_invoices",
        "billing_retention_events",
        "billing_subscriptions",
    ]
    assert command_log.unioned == ["billing_meta"]


async def test_a_catalogue_write_by_another_process_is_seen_by_the_next_batch(
    provider: BillingProvider, mongo_uri: str, database_name: str
) -> None:
    """Catalogue objects are kept in memory behind a token; another process's write (here a
    second client and store on the same database, as the import CLI is) changes the token."""
    await seed_catalogue(provider)
    await provider.store.put_objects("customer", [(customer("cus_a"), T0)], source="test")
    await provider.store.put_objects(
        "subscription",
        [(subscription("sub_a", [item("year_120"), item("later_1")], customer="cus_a"), T0)],
        source="test",
    )
    keys = ("plan.name", "addon.name", "subscriber.mrr")
    before = await values_of(provider, "cus_a", *keys)
    assert before["plan.name"] == "Pro"
    assert before["addon.name"] == []  # price "later_1" is not stored yet
    assert await values_of(provider, "cus_a", *keys) == before  # answered from memory

    other_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        other = BillingStore(other_client[database_name])
        await other.put_objects("product", [(product("prod_pro", "Pro Plus"), T0 + 1)], source="t")
        await other.put_objects(
            "price",
            [(price("later_1", 300, product="prod_basic", nickname="Extra"), T0)],
            source="t",
        )
    finally:
        await other_client.close()

    after = await values_of(provider, "cus_a", *keys)
    assert after["plan.name"] == "Pro Plus"
    assert after["addon.name"] == ["Extra"]
    assert not isinstance(before["subscriber.mrr"], Money)  # an item's price is unknown
    assert after["subscriber.mrr"] == Money(Decimal("13.00"), "USD")


async def test_collections_the_keys_do_not_need_are_not_read(
    provider: BillingProvider, command_log: CommandLog
) -> None:
    await provider.store.put_objects(
        "customer", [(customer(f"cus_{i:02}"), T0) for i in range(12)], source="test"
    )
    command_log.clear()
    results = await provider.resolve(
        [Subject(f"cus_{i:02}") for i in range(12)], ["subscriber.mrr"]
    )
    assert [set(r) for r in results] == [{"subscriber.mrr"}] * 12
    assert results[0]["subscriber.mrr"] == Money(Decimal("0"), "USD")
    assert command_log.collections_read() == [
        "billing_customers",
        "billing_meta",
        "billing_subscriptions",
    ]
    command_log.clear()
    await provider.resolve([Subject("cus_01")], ["subscriber.ltv", "subscriber.status"])
    assert command_log.collections_read() == [
        "billing_customers",
        "billing_invoices",
        "billing_meta",
        "billing_retention_events",
        "billing_subscriptions",
    ]


async def test_objects_without_their_customer_are_read_on_their_own(
    provider: BillingProvider, command_log: CommandLog
) -> None:
    """A subscription (or retention event) can arrive before its customer: the join from the
    customers cannot find it, so the ids without a customer are read per collection."""
    await seed_catalogue(provider)
    await provider.store.put_objects("customer", [(customer("cus_1"), T0)], source="test")
    await provider.store.put_objects(
        "subscription",
        [
            (subscription("sub_1", [item("month_10")], customer="cus_1"), T0),
            (subscription("sub_2", [item("year_120")], customer="cus_early"), T0),
        ],
        source="test",
    )
    await store_save(provider, "cus_early", days_ago=1)
    command_log.clear()
    both = await provider.resolve(
        [Subject("cus_1"), Subject("cus_early"), Subject("cus_nobody")],
        ["subscriber.mrr", "subscriber.status"],
    )
    assert both[0]["subscriber.mrr"] == Money(Decimal("10.00"), "USD")
    assert both[1]["subscriber.mrr"] == Money(Decimal("10.00"), "USD")  # 120 a year
    assert both[1]["subscriber.status"] == "SAVED"
    assert both[2] == {"subscriber.mrr": MISSING, "subscriber.status": MISSING}
    owned = {"billing_subscriptions", "billing_invoices", "billing_retention_events"}
    own_finds = sorted(c for name, c in command_log.commands if name == "find" and c in owned)
    # for cus_early: every collection, asked or not (whether billing knows it rests on them)
    assert own_finds == ["billing_invoices", "billing_retention_events", "billing_subscriptions"]
    # Alone, a subscriber with its customer costs one operation: the join, with the token.
    command_log.clear()
    assert (await provider.resolve([Subject("cus_1")], ["subscriber.mrr"]))[0] == {
        "subscriber.mrr": Money(Decimal("10.00"), "USD")
    }
    assert command_log.commands == [("aggregate", "billing_customers")]
    assert command_log.unioned == ["billing_meta"]


async def test_a_large_batch_read_per_collection_has_each_subscribers_own_values(
    provider: BillingProvider, command_log: CommandLog
) -> None:
    """A batch of more than JOIN_MAX_IDS subscribers (a walk's page) is read one query per
    collection instead of by the join; every subscriber gets the values it gets alone (by
    the join): with a subscription, paid invoices, a retention event, objects that arrived
    before their customer, or nothing at all."""
    await seed_catalogue(provider)
    await provider.store.put_objects(
        "customer", [(customer(f"cus_{i:02}"), T0) for i in range(JOIN_MAX_IDS + 2)], source="test"
    )
    await provider.store.put_objects(
        "subscription",
        [
            (subscription("sub_1", [item("month_10")], customer="cus_01"), T0),
            (subscription("sub_2", [item("year_120")], "past_due", customer="cus_02"), T0),
            (subscription("sub_3", [item("month_10")], customer="cus_early"), T0),
        ],
        source="test",
    )
    await provider.store.put_objects(
        "invoice",
        [
            (invoice("in_1", 1000, customer="cus_01"), T0),
            (invoice("in_2", 2500, customer="cus_01"), T0),
            (invoice("in_3", 700, customer="cus_invoice_only"), T0),
        ],
        source="test",
    )
    await store_save(provider, "cus_02", days_ago=2)
    ids = [f"cus_{i:02}" for i in range(JOIN_MAX_IDS + 2)]
    ids += ["cus_early", "cus_invoice_only", "cus_nobody"]
    for asked in (None, ["subscriber.mrr", "subscriber.status"]):
        command_log.clear()
        batch = await provider.resolve([Subject(i) for i in ids], asked)
        assert ("aggregate", "billing_customers") not in command_log.commands
        alone = [(await provider.resolve([Subject(i)], asked))[0] for i in ids]
        assert batch == alone
    by_id = dict(zip(ids, batch, strict=True))
    assert by_id["cus_01"]["subscriber.mrr"] == Money(Decimal("10.00"), "USD")
    assert by_id["cus_02"]["subscriber.status"] == "SAVED"
    assert by_id["cus_early"]["subscriber.mrr"] == Money(Decimal("10.00"), "USD")
    assert by_id["cus_invoice_only"]["subscriber.status"] == "CANCELED"
    assert set(by_id["cus_nobody"].values()) == {MISSING}


async def test_a_subscriber_known_only_by_an_invoice_has_the_same_values_whatever_is_asked(
    provider: BillingProvider,
) -> None:
    """An invoice that arrived before its customer makes the subscriber known to billing (no
    live subscription: CANCELED), whether or not the question reads invoices."""
    await seed_catalogue(provider)
    await provider.store.put_objects(
        "invoice", [(invoice("in_1", 1000, customer="cus_early"), T0)], source="test"
    )
    asked = ["subscriber.status", "subscriber.mrr"]
    alone = (await provider.resolve([Subject("cus_early")], asked))[0]
    with_ltv = (await provider.resolve([Subject("cus_early")], [*asked, "subscriber.ltv"]))[0]
    assert alone["subscriber.status"] == with_ltv["subscriber.status"] == "CANCELED"
    assert alone["subscriber.mrr"] == with_ltv["subscriber.mrr"]
    assert with_ltv["subscriber.ltv"] == Money(Decimal("10.00"), "USD")


async def test_unknown_subscriber_has_every_value_missing(provider: BillingProvider) -> None:
    got = await values_of(provider, "cus_nobody")
    assert got and all(value is MISSING for value in got.values())


# --- events, in any order ------------------------------------------------------------------------


async def test_an_older_event_never_overwrites_newer_state(provider: BillingProvider) -> None:
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    newer = subscription("sub_1", [item("year_120")], "past_due")
    older = subscription("sub_1", [item("month_10")], "active")
    assert (
        await apply_event(provider.store, event("customer.subscription.updated", newer, T0 + 20))
        == "applied"
    )
    assert (
        await apply_event(provider.store, event("customer.subscription.updated", older, T0 + 10))
        == "stale"
    )
    got = await values_of(provider, "cus_1")
    assert got["plan.id"] == "year_120"
    assert got["subscription.is_past_due"] is True
    # The same second: the later arrival wins (and a replay changes nothing).
    same = subscription("sub_1", [item("year_120")], "active")
    assert (
        await apply_event(provider.store, event("customer.subscription.updated", same, T0 + 20))
        == "applied"
    )
    assert (await values_of(provider, "cus_1"))["subscription.is_past_due"] is False


async def test_within_one_second_an_earlier_stage_of_an_object_never_overwrites_a_later_one(
    provider: BillingProvider,
) -> None:
    """Stripe's ``created`` is in whole seconds and its events arrive in any order: a
    subscription's first invoice is created, finalized and paid in one second, and a
    ``*.created`` snapshot is the object's first state. A tie goes to the later stage."""
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    store = provider.store
    paid = invoice("in_1", 4200, subscription="sub_1")
    assert await apply_event(store, event("invoice.paid", paid, T0 + 1)) == "applied"
    open_ = paid | {"status": "open", "amount_paid": 0}
    draft = paid | {"status": "draft", "amount_paid": 0}
    assert await apply_event(store, event("invoice.finalized", open_, T0 + 1)) == "stale"
    assert await apply_event(store, event("invoice.created", draft, T0 + 1)) == "stale"
    assert (await values_of(provider, "cus_1"))["subscriber.ltv"] == Money(Decimal("42.00"), "USD")
    # Two events of one stage in one second: the later arrival still wins (a refund).
    refunded = paid | {"post_payment_credit_notes_amount": 1200}
    assert await apply_event(store, event("invoice.updated", refunded, T0 + 1)) == "applied"
    assert (await values_of(provider, "cus_1"))["subscriber.ltv"] == Money(Decimal("30.00"), "USD")

    # A subscription's created snapshot, arriving after an update of the same second.
    active = subscription("sub_1", [item("year_120")], "active")
    incomplete = subscription("sub_1", [item("year_120")], "incomplete")
    assert (
        await apply_event(store, event("customer.subscription.updated", active, T0 + 2))
        == "applied"
    )
    assert (
        await apply_event(store, event("customer.subscription.created", incomplete, T0 + 2))
        == "stale"
    )
    assert (await values_of(provider, "cus_1"))["subscription.status"] == "ACTIVE"
    # Nothing follows a deletion: an update of the same second arriving after it is older.
    assert (
        await apply_event(store, event("customer.subscription.deleted", active, T0 + 3))
        == "applied"
    )
    assert (
        await apply_event(store, event("customer.subscription.updated", active, T0 + 3)) == "stale"
    )
    assert (await values_of(provider, "cus_1"))["subscription.status"] == "CANCELED"
    await apply_event(store, event("customer.deleted", customer(), T0 + 4))
    assert await apply_event(store, event("customer.updated", customer(), T0 + 4)) == "stale"
    assert await provider.subscriber_ids() == []
    # A coupon's id is the account's: one deleted and created again in one second is back.
    await apply_event(store, event("coupon.deleted", coupon("pct25", percent_off=25), T0 + 5))
    again = coupon("pct25", percent_off=30)
    assert await apply_event(store, event("coupon.created", again, T0 + 5)) == "applied"
    assert "deleted" not in (await store.db["billing_coupons"].find_one({"_id": "pct25"}) or {})


async def test_discount_events_interleaved_with_object_events(
    provider: BillingProvider, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    await seed_catalogue(provider)
    with_discount = customer(discount=discount("pct25") | {"customer": "cus_1"})
    await apply_event(provider.store, event("customer.updated", with_discount, T0 + 100))
    removed = discount("pct25") | {"customer": "cus_1"}
    assert (
        await apply_event(provider.store, event("customer.discount.deleted", removed, T0 + 150))
        == "applied"
    )
    # A customer.updated from before the removal arrives late: its other fields are newer than
    # what is stored, but its discount is older than the removal.
    late = customer(discount=discount("pct25") | {"customer": "cus_1"}, name="Late name")
    assert await apply_event(provider.store, event("customer.updated", late, T0 + 120)) == "applied"
    stored = sync_db[CUSTOMERS].find_one({"_id": "cus_1"})
    assert stored is not None
    assert stored["name"] == "Late name"
    assert stored["discount"] is None
    assert (await values_of(provider, "cus_1"))["subscriber.active_coupon_id"] is MISSING


async def test_a_discount_before_its_subscription_arrives(
    provider: BillingProvider, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    created = discount("pct25") | {"customer": "cus_1", "subscription": "sub_1"}
    await apply_event(provider.store, event("customer.discount.created", created, T0 + 50))
    sub = subscription("sub_1", [item("month_10")])
    assert (
        await apply_event(provider.store, event("customer.subscription.created", sub, T0 + 10))
        == "applied"
    )
    got = await values_of(provider, "cus_1")
    assert got["subscription.active_coupon_id"] == "pct25"
    assert got["subscription.mrr"] == Money(Decimal("7.50"), "USD")
    stored = sync_db[SUBSCRIPTIONS].find_one({"_id": "sub_1"})
    assert stored is not None and stored["customer"] == "cus_1"


async def test_a_discount_for_an_id_with_no_customer_makes_no_subscriber(
    provider: BillingProvider,
) -> None:
    await seed_catalogue(provider)
    ghost = discount("pct25") | {"customer": "cus_ghost"}
    assert (
        await apply_event(provider.store, event("customer.discount.created", ghost, T0))
        == "applied"
    )
    # Billing holds the discount until its customer arrives, but nobody is a subscriber yet:
    # every value is missing, as for an id billing never heard of, and nothing is recorded.
    assert set((await values_of(provider, "cus_ghost")).values()) == {MISSING}
    with pytest.raises(InputRefused) as refused:
        await provider.record_retention_event(subscriber_id="cus_ghost", kind="CANCELED")
    assert [e.code for e in refused.value.errors] == ["UNKNOWN_SUBSCRIBER"]
    assert await provider.subscriber_ids(None, 10) == []
    # The customer, created in the same second as its discount, completes it and keeps it.
    await apply_event(provider.store, event("customer.created", customer("cus_ghost"), T0))
    got = await values_of(provider, "cus_ghost", "subscriber.active_coupon_id", "subscriber.status")
    assert got == {"subscriber.active_coupon_id": "pct25", "subscriber.status": "CANCELED"}


async def test_an_object_that_states_no_discount_keeps_the_stored_one(
    provider: BillingProvider,
) -> None:
    await seed_catalogue(provider)
    with_discount = customer(discount=discount("pct25") | {"customer": "cus_1"})
    await apply_event(provider.store, event("customer.created", with_discount, T0))
    # A later update without a ``discount`` field (newer API versions send ``discounts``) says
    # nothing of the discount: its other fields apply, the discount stays.
    silent = {k: v for k, v in customer(name="New name").items() if k != "discount"}
    await apply_event(provider.store, event("customer.updated", silent, T0 + 10))
    await apply_event(
        provider.store,
        event("customer.subscription.created", subscription("sub_1", [item("month_10")]), T0),
    )
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id", "subscriber.mrr")
    assert got == {
        "subscriber.active_coupon_id": "pct25",
        "subscriber.mrr": Money(Decimal("7.50"), "USD"),
    }


async def test_deleted_events(provider: BillingProvider) -> None:
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    sub = subscription("sub_1", [item("month_10")])
    await apply_event(provider.store, event("customer.subscription.created", sub, T0))
    assert (await values_of(provider, "cus_1"))["subscriber.status"] == "ACTIVE"
    # Stripe sends the subscription's last state; it is canceled from now on.
    await apply_event(provider.store, event("customer.subscription.deleted", sub, T0 + 5))
    got = await values_of(provider, "cus_1")
    assert got["subscriber.status"] == "CANCELED"
    assert got["subscription.status"] == "CANCELED"
    # A deleted product keeps its name for the subscriptions that still point at it.
    await apply_event(
        provider.store, event("product.deleted", product("prod_basic", "Basic"), T0 + 6)
    )
    assert (await values_of(provider, "cus_1"))["product.name"] == "Basic"
    # A deleted customer is no longer a subscriber.
    await apply_event(provider.store, event("customer.deleted", customer(), T0 + 7))
    got = await values_of(provider, "cus_1")
    assert all(value is MISSING for value in got.values())
    assert await provider.subscriber_ids() == []
    # An older customer.updated does not bring it back.
    assert (
        await apply_event(provider.store, event("customer.updated", customer(), T0 + 6)) == "stale"
    )


async def test_invoice_events_make_ltv(provider: BillingProvider) -> None:
    await apply_event(provider.store, event("customer.created", customer(), T0))
    draft = invoice("in_1", 0, status="draft", subscription="sub_1")
    await apply_event(provider.store, event("invoice.created", draft, T0))
    assert (await values_of(provider, "cus_1"))["subscriber.ltv"] == Money(Decimal("0"), "USD")
    paid = invoice("in_1", 4200, subscription="sub_1")
    await apply_event(provider.store, event("invoice.paid", paid, T0 + 1))
    await apply_event(provider.store, event("invoice.finalized", draft | {"status": "open"}, T0))
    got = await values_of(provider, "cus_1")
    assert got["subscriber.ltv"] == Money(Decimal("42.00"), "USD")
    refunded = paid | {"post_payment_credit_notes_amount": 1200}
    await apply_event(provider.store, event("invoice.updated", refunded, T0 + 2))
    assert (await values_of(provider, "cus_1"))["subscriber.ltv"] == Money(Decimal("30.00"), "USD")


async def test_events_seggraph_does_not_use_are_ignored(provider: BillingProvider) -> None:
    assert (
        await apply_event(provider.store, event("charge.succeeded", {"id": "ch_1"}, T0))
        == "ignored"
    )
    assert (
        await apply_event(provider.store, event("customer.source.created", {"id": "src_1"}, T0))
        == "ignored"
    )
    assert (
        await apply_event(provider.store, event("invoice.upcoming", {"object": "invoice"}, T0))
        == "ignored"
    )


# --- the bulk import -----------------------------------------------------------------------------


def write_lines(path: Path, objects: list[Any]) -> Path:
    lines = [o if isinstance(o, str) else orjson.dumps(o).decode() for o in objects]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_import_is_idempotent_and_reports_bad_lines(
    provider: BillingProvider, tmp_path: Path, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    path = write_lines(
        tmp_path / "billing.jsonl",
        [
            product("prod_basic", "Basic"),
            price("month_10", 1000, nickname="Basic monthly"),
            coupon("pct25", percent_off=25),
            customer("cus_1"),
            customer("cus_2"),
            "not json",
            subscription("sub_1", [item("month_10", 2)], customer="cus_1"),
            "",
            {"object": "charge", "id": "ch_1"},
            {"object": "subscription", "id": "sub_x"},  # no customer
            discount("pct25") | {"customer": "cus_2", "subscription": None},
            subscription("sub_2", [item("month_10")], customer="cus_2"),
            invoice("in_1", 2000, customer="cus_1", subscription="sub_1"),
        ],
    )
    seen: list[tuple[int, int]] = []
    report = await import_file(
        provider.store, path, as_of=T0, batch_size=4, progress=lambda b, n: seen.append((b, n))
    )
    assert report.lines == 13
    assert report.blank == 1
    assert [number for number, _ in report.errors] == [6, 9, 10]
    assert "line 10" in report.errors[2][1] and "customer" in report.errors[2][1]
    assert report.applied == 9
    assert seen[-1] == (path.stat().st_size, 13)
    assert len(seen) >= 3
    one = await values_of(provider, "cus_1")
    two = await values_of(provider, "cus_2")
    assert one["subscriber.mrr"] == Money(Decimal("20.00"), "USD")
    assert one["subscriber.ltv"] == Money(Decimal("20.00"), "USD")
    assert two["subscriber.mrr"] == Money(Decimal("7.50"), "USD")
    assert two["subscriber.active_coupon_id"] == "pct25"
    snapshot = {
        name: list(sync_db[name].find({}, {"_seggraph.w": 0}))
        for name in sync_db.list_collection_names()
        if name.startswith("billing_") and name != "billing_meta"  # a token, changed per write
    }

    again = await import_file(provider.store, path, as_of=T0)
    assert again.applied == 9 and len(again.errors) == 3
    assert snapshot == {name: list(sync_db[name].find({}, {"_seggraph.w": 0})) for name in snapshot}

    # Resuming from a line imports only from there.
    resumed = await import_file(provider.store, path, as_of=T0, start_line=11)
    assert resumed.lines == 3 and resumed.applied == 3


async def test_an_object_mongodb_cannot_store_is_a_bad_line_and_its_batch_is_written(
    provider: BillingProvider, tmp_path: Path, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """Values JSON allows and BSON does not (an integer beyond 64 bits, a NUL in a field name,
    a top-level field name starting with $, nesting beyond MongoDB's 100 levels) are refused
    when the line is read: the line is reported and nothing of it is written, and the good
    lines of the same batch are (a bad value in a batch's write used to fail the batch)."""
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(100):
        inner["x"] = {}
        inner = inner["x"]
    path = write_lines(
        tmp_path / "billing.jsonl",
        [
            coupon("pct25", percent_off=25),
            customer("cus_1"),
            '{"object":"customer","id":"cus_2","balance":18446744073709551615}',
            '{"object":"customer","id":"cus_3","metadata":{"k\\u0000":"v"}}',
            '{"object":"discount","customer":"cus_4","coupon":"pct25","m":{"\\u0000":1}}',
            '{"object":"invoice","id":"in_1","customer":"cus_1","amount_paid":9223372036854775808}',
            customer("cus_5") | {"$set": {"email": "x"}},
            customer("cus_6") | {"metadata": deep},
            discount("pct25") | {"customer": "cus_1"},
            subscription("sub_1", [item("month_10", 18446744073709551615)], customer="cus_1"),
            customer("cus_7"),
        ],
    )
    report = await import_file(provider.store, path, as_of=T0)
    assert [number for number, _ in report.errors] == [3, 4, 5, 6, 7, 8, 10]
    messages = dict(report.errors)
    assert messages[3] == (
        "line 3: cannot be stored: balance is 18446744073709551615, beyond MongoDB's 64-bit "
        "integers (-9223372036854775808 to 9223372036854775807)"
    )
    assert "the field name 'k\\x00' in metadata has a NUL character" in messages[4]
    assert "NUL character" in messages[5]
    assert "amount_paid is 9223372036854775808" in messages[6]  # 2**63: one too many
    assert "'$set' starts with '$'" in messages[7]
    assert "nested more than 100 levels" in messages[8]
    assert "items.data[0].quantity is 18446744073709551615" in messages[10]
    assert report.applied == 4 and report.by_type == {"coupon": 1, "customer": 2, "discount": 1}
    assert sorted(doc["_id"] for doc in sync_db[CUSTOMERS].find()) == ["cus_1", "cus_7"]
    assert sync_db[SUBSCRIPTIONS].count_documents({}) == 0
    assert sync_db["billing_invoices"].count_documents({}) == 0
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": "pct25"}


@pytest.mark.parametrize("batch_size", [1, 500])
async def test_an_imported_discount_applies_whichever_batch_its_line_is_in(
    provider: BillingProvider, tmp_path: Path, batch_size: int
) -> None:
    # The discount lines come before their customer's and subscription's: with one line a
    # batch, each is written before its object, at the import's one version.
    path = write_lines(
        tmp_path / "billing.jsonl",
        [
            coupon("pct25", percent_off=25),
            coupon("pct50", percent_off=50),
            discount("pct50") | {"customer": "cus_1", "subscription": None},
            discount("pct25") | {"customer": "cus_2", "subscription": "sub_2"},
            product("prod_basic", "Basic"),
            price("month_10", 1000, nickname="Basic monthly"),
            customer("cus_1"),
            subscription("sub_1", [item("month_10")], customer="cus_1"),
            customer("cus_2"),
            subscription("sub_2", [item("month_10")], customer="cus_2"),
        ],
    )
    report = await import_file(provider.store, path, as_of=T0, batch_size=batch_size)
    assert report.applied == 10 and not report.errors
    keys = ("subscriber.active_coupon_id", "subscription.active_coupon_id", "subscriber.mrr")
    assert await values_of(provider, "cus_1", *keys) == {
        "subscriber.active_coupon_id": "pct50",
        "subscription.active_coupon_id": "pct50",  # the customer's, in force for it
        "subscriber.mrr": Money(Decimal("5.00"), "USD"),
    }
    assert await values_of(provider, "cus_2", *keys) == {
        "subscriber.active_coupon_id": MISSING,
        "subscription.active_coupon_id": "pct25",
        "subscriber.mrr": Money(Decimal("7.50"), "USD"),
    }


def billing_documents(sync_db: SyncDatabase[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every stored billing object with its bookkeeping, but for the write token (changed by
    every write) and the catalogue token."""
    return {
        name: list(sync_db[name].find({}, {"_seggraph.w": 0}).sort("_id"))
        for name in sorted(sync_db.list_collection_names())
        if name.startswith("billing_") and name != "billing_meta"
    }


@pytest.mark.parametrize("discount_first", [True, False], ids=["discount first", "object first"])
async def test_importing_a_file_again_keeps_its_discounts_whatever_the_batch_sizes(
    provider: BillingProvider,
    tmp_path: Path,
    sync_db: SyncDatabase[dict[str, Any]],
    discount_first: bool,
) -> None:
    """A discount line outranks its object's ``discount`` field, both at the import's one
    version, wherever the line is and whatever was stored before: importing the file again
    (with any batch size) changes nothing. The customer's and the subscription's lines say
    ``discount: null``; their discount lines say otherwise."""
    own = [
        discount("pct25") | {"customer": "cus_impd", "subscription": None},
        discount("pct50") | {"customer": "cus_impd", "subscription": "sub_impd"},
    ]
    objects = [
        customer("cus_impd"),
        subscription("sub_impd", [item("month_10")], customer="cus_impd"),
    ]
    path = write_lines(
        tmp_path / "impd.jsonl",
        [
            coupon("pct25", percent_off=25),
            coupon("pct50", percent_off=50),
            product("prod_basic", "Basic"),
            price("month_10", 1000),
            *(own + objects if discount_first else objects + own),
        ],
    )
    keys = ("subscriber.active_coupon_id", "subscription.active_coupon_id", "subscriber.mrr")
    expected = {
        "subscriber.active_coupon_id": "pct25",
        "subscription.active_coupon_id": "pct50",
        "subscriber.mrr": Money(Decimal("5.00"), "USD"),
    }
    first = await import_file(provider.store, path, as_of=T0, batch_size=1)
    assert first.applied == 8 and not first.errors
    assert await values_of(provider, "cus_impd", *keys) == expected
    stored = billing_documents(sync_db)
    for batch_size in (1, 1, 2, 3, 500, 1):
        again = await import_file(provider.store, path, as_of=T0, batch_size=batch_size)
        assert again.applied == 8 and not again.errors
        assert await values_of(provider, "cus_impd", *keys) == expected, batch_size
        assert billing_documents(sync_db) == stored, batch_size


async def test_at_the_same_time_a_discount_event_outranks_the_objects_discount_field(
    provider: BillingProvider,
) -> None:
    """Events created in the same second arrive in any order: the discount event, which says
    what became of the discount, is kept over the ``discount`` field of the object's event of
    that second, whichever arrives last (two events of one kind: the later arrival wins)."""
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    applied = discount("pct25") | {"customer": "cus_1"}
    await apply_event(provider.store, event("customer.discount.created", applied, T0 + 10))
    # Written in the same second, before the discount: its discount field is null.
    stale_field = customer(name="Renamed")
    assert (
        await apply_event(provider.store, event("customer.updated", stale_field, T0 + 10))
        == "applied"
    )
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": "pct25"}
    # A removal in a later second, then an update of that second still showing the discount.
    await apply_event(provider.store, event("customer.discount.deleted", applied, T0 + 20))
    still = customer(discount=applied, name="Renamed again")
    await apply_event(provider.store, event("customer.updated", still, T0 + 20))
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": MISSING}
    # A newer object event states the discount again: newer wins, as ever.
    await apply_event(provider.store, event("customer.updated", still, T0 + 21))
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": "pct25"}
    # ... and the discount's own events of one second: the later arrival wins.
    await apply_event(provider.store, event("customer.discount.deleted", applied, T0 + 30))
    await apply_event(provider.store, event("customer.discount.created", applied, T0 + 30))
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": "pct25"}


async def test_a_stub_stored_before_discounts_were_marked_keeps_its_discount(
    provider: BillingProvider, sync_db: SyncDatabase[dict[str, Any]]
) -> None:
    """A stub written before ``dd`` was kept has only ``stub``: it was written by a discount
    all the same, so its object of the same version keeps its discount (and the mark)."""
    sync_db[CUSTOMERS].insert_one(
        {
            "_id": "cus_1",
            "id": "cus_1",
            "discount": discount("pct25") | {"customer": "cus_1"},
            "_seggraph": {"v": None, "dv": T0, "w": "old", "stub": True},
        }
    )
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    got = await values_of(provider, "cus_1", "subscriber.active_coupon_id")
    assert got == {"subscriber.active_coupon_id": "pct25"}
    stored = sync_db[CUSTOMERS].find_one({"_id": "cus_1"})
    assert stored is not None and stored["_seggraph"]["dd"] is True
    assert "stub" not in stored["_seggraph"]


async def test_import_never_overwrites_newer_webhook_state(
    provider: BillingProvider, tmp_path: Path
) -> None:
    await seed_catalogue(provider)
    await apply_event(provider.store, event("customer.created", customer(), T0))
    live = subscription("sub_1", [item("year_120")])
    await apply_event(provider.store, event("customer.subscription.updated", live, T0 + 100))
    path = write_lines(tmp_path / "old.jsonl", [subscription("sub_1", [item("month_10")])])
    report = await import_file(provider.store, path, as_of=T0 + 50)
    assert report.applied == 0 and report.stale == 1
    assert (await values_of(provider, "cus_1"))["plan.id"] == "year_120"
    newer = await import_file(provider.store, path, as_of=T0 + 200)
    assert newer.applied == 1
    assert (await values_of(provider, "cus_1"))["plan.id"] == "month_10"


# --- the subscriber directory --------------------------------------------------------------------


async def test_directory_lists_subscribers_in_pages(provider: BillingProvider) -> None:
    ids = [f"cus_{i:03}" for i in range(23)]
    await provider.store.put_objects(
        "customer", [(customer(i), T0) for i in reversed(ids)], source="test"
    )
    await apply_event(provider.store, event("customer.deleted", customer("cus_005"), T0 + 1))
    # A discount that arrived before its customer does not list a half-known subscriber.
    await provider.store.put_discount(
        "customer", "cus_999", discount("pct25") | {"customer": "cus_999"}, T0
    )
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = await provider.subscriber_ids(after, 10)
        if not page:
            break
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [10, 10, 2]
    assert [i for p in pages for i in p] == [i for i in ids if i != "cus_005"]


# --- retention events ----------------------------------------------------------------------------


async def test_retention_events_drive_status_offer_and_days(
    provider: BillingProvider, clock: Clock
) -> None:
    await seed_catalogue(provider)
    await provider.store.put_objects("customer", [(customer(), T0)], source="test")
    await provider.store.put_objects(
        "subscription", [(subscription("sub_1", [item("month_10")]), T0)], source="test"
    )
    saved = await provider.record_retention_event(
        subscriber_id="cus_1",
        kind="SAVED",
        offer_id="offer_half",
        coupon_id="pct25",
        at=NOW - timedelta(days=3),
    )
    assert saved.offer_id == "offer_half" and saved.kind == "SAVED"
    got = await values_of(provider, "cus_1")
    assert got["subscriber.status"] == "SAVED"
    assert got["subscriber.active_offer_id"] == "offer_half"
    assert got["subscriber.days_since_saved"] == 3
    clock.now = NOW + timedelta(days=1)
    await provider.record_retention_event(subscriber_id="cus_1", kind="REACTIVATED")
    got = await values_of(provider, "cus_1")
    assert got["subscriber.status"] == "REACTIVATED"
    assert got["subscriber.days_since_saved"] == 4
    # Two events at the same moment: the one recorded last counts.
    await provider.record_retention_event(
        subscriber_id="cus_1", kind="SAVED", offer_id="o2", at=clock.now
    )
    assert (await values_of(provider, "cus_1"))["subscriber.status"] == "SAVED"
    listed = await provider.retention_events("cus_1", 10)
    assert [(e.kind, e.offer_id) for e in listed] == [
        ("SAVED", "o2"),
        ("REACTIVATED", None),
        ("SAVED", "offer_half"),
    ]


@pytest.mark.parametrize(
    ("subscriber", "kind", "kwargs", "path", "code"),
    [
        ("cus_nobody", "CANCELED", {}, ("subscriberId",), "UNKNOWN_SUBSCRIBER"),
        ("", "CANCELED", {}, ("subscriberId",), "BLANK"),
        ("cus_1", "SAVED", {}, ("offerId",), "BLANK"),
        ("cus_1", "PAUSED", {}, ("kind",), "INVALID"),
        ("cus_1", "CANCELED", {"at": NOW + timedelta(hours=1)}, ("at",), "IN_FUTURE"),
        # In year 0 once in UTC, and in year 10000: an OverflowError (a 500) before.
        ("cus_1", "CANCELED", {"at": datetime(1, 1, 1, tzinfo=PLUS_ONE)}, ("at",), "OUT_OF_RANGE"),
        ("cus_1", "CANCELED", {"at": END_MINUS_ONE}, ("at",), "IN_FUTURE"),
        # Taken before, and unreadable in New York: the first day of the calendar is not a day
        # in every time zone.
        (
            "cus_1",
            "CANCELED",
            {"at": EARLIEST - timedelta(milliseconds=1)},
            ("at",),
            "OUT_OF_RANGE",
        ),
        ("cus_1", "CANCELED", {"at": datetime(1, 1, 1)}, ("at",), "OUT_OF_RANGE"),
    ],
)
async def test_refused_retention_events_write_nothing(
    provider: BillingProvider,
    sync_db: SyncDatabase[dict[str, Any]],
    subscriber: str,
    kind: str,
    kwargs: dict[str, Any],
    path: tuple[str, ...],
    code: str,
) -> None:
    await provider.store.put_objects("customer", [(customer(), T0)], source="test")
    with pytest.raises(InputRefused) as refused:
        await provider.record_retention_event(subscriber_id=subscriber, kind=kind, **kwargs)
    assert [(e.path, e.code) for e in refused.value.errors] == [(path, code)]
    assert sync_db["billing_retention_events"].count_documents({}) == 0


async def test_a_retention_event_from_the_first_day_in_every_zone_is_taken_and_read(
    provider: BillingProvider, billing_db: Any
) -> None:
    """0001-01-02T00:00Z is the earliest time taken, as the CDP's: in New York it is still
    0001-01-01, so every value stays readable there."""
    provider.bind(billing_db, zone="America/New_York", currency="USD")
    await seed_catalogue(provider)
    await provider.store.put_objects("customer", [(customer(), T0)], source="test")
    await provider.store.put_objects(
        "subscription", [(subscription("sub_1", [item("month_10")]), T0)], source="test"
    )
    saved = await provider.record_retention_event(
        subscriber_id="cus_1", kind="SAVED", offer_id="o1", at=EARLIEST
    )
    assert saved.at == EARLIEST
    got = await values_of(provider, "cus_1")
    assert got["subscriber.status"] == "SAVED"
    assert got["subscriber.days_since_saved"] == (NOW.date() - datetime(1, 1, 1).date()).days
    assert got["subscriber.mrr"] == Money(Decimal("10.00"), "USD")


async def test_a_stored_date_with_no_day_in_the_account_zone_spoils_only_its_values(
    provider: BillingProvider, billing_db: Any
) -> None:
    """A save at 0001-01-01T00:00Z (taken before the bound) is in year 0 in New York: every
    billing value of the subscriber was UNKNOWN ("billing data unreadable: date value out of
    range"), for good, since no mutation deletes an event. Now only the days since the save
    are unknown, saying why."""
    provider.bind(billing_db, zone="America/New_York", currency="USD")
    await seed_catalogue(provider)
    await provider.store.put_objects("customer", [(customer(), T0)], source="test")
    await provider.store.put_objects(
        "subscription", [(subscription("sub_1", [item("month_10")]), T0)], source="test"
    )
    first = datetime(1, 1, 1, tzinfo=UTC)
    await provider.store.add_retention_event(
        {
            "subscriber_id": "cus_1",
            "kind": "saved",
            "offer_id": "o1",
            "coupon_id": None,
            "at": first,
            "recorded_at": first,
            "actor": "test",
        }
    )
    got = await values_of(provider, "cus_1")
    days = got.pop("subscriber.days_since_saved")
    assert isinstance(days, Unknown) and days.reason is UnknownReason.PROVIDER_ERROR
    assert "0001-01-01T00:00:00+00:00 has no calendar day" in days.detail
    assert "America/New_York" in days.detail
    assert not [key for key, value in got.items() if isinstance(value, Unknown)], got
    assert got["subscriber.status"] == "SAVED" and got["subscriber.active_offer_id"] == "o1"
    assert got["subscriber.mrr"] == Money(Decimal("10.00"), "USD")
    assert got["subscription.duration_days"] == 74
