"""The billing plugin against seggraph's contract kit (``seggraph.testing``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo.database import Database as SyncDatabase
from seggraph_billing.plugin import BillingPlugin
from seggraph_billing.settings import BillingSettings
from seggraph_billing.store import BillingStore

from seggraph.db import Database
from seggraph.domain.conditions import Money
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import MISSING
from seggraph.plugins.loader import discover
from seggraph.testing import check_provider
from tests.providers.billing.builders import (
    coupon,
    customer,
    discount,
    invoice,
    item,
    price,
    product,
    subscription,
)
from tests.providers.billing.conftest import SECRET, clear_billing


@pytest.fixture
async def database(
    mongo_uri: str, database_name: str, sync_db: SyncDatabase[dict[str, Any]]
) -> AsyncIterator[Database]:
    clear_billing(sync_db)
    db = Database(mongo_uri, database_name)
    yield db
    await db.close()


async def seed(store: BillingStore) -> None:
    version = time.time() - 60
    await store.put_objects("product", [(product("prod_pro", "Pro"), version)], source="test")
    await store.put_objects(
        "price",
        [
            (price("year_120", 12000, "year", product="prod_pro", nickname="Pro yearly"), version),
            (price("week_10", 1000, "week", 2, product="prod_pro"), version),
            (price("seats_5", 500, product="prod_pro", nickname="Seats"), version),
        ],
        source="test",
    )
    await store.put_objects(
        "coupon",
        [
            (coupon("pct25", percent_off=25), version),
            (coupon("off5", amount_off=500, currency="usd"), version),
        ],
        source="test",
    )
    await store.put_objects(
        "customer",
        [
            (customer("cus_1", discount=discount("off5")), version),
            (customer("cus_2"), version),
            (customer("cus_3"), version),
            (customer("cus_gone", deleted=True), version),  # not in the directory
        ],
        source="test",
    )
    # A discount that arrived before its customer: a stub, not in the directory either.
    await store.put_discount("customer", "cus_early", discount("off5"), version)
    await store.put_objects(
        "subscription",
        [
            (
                subscription(
                    "sub_1",
                    [item("year_120", kind="plan"), item("seats_5", 3, kind="addon")],
                    created="2025-06-01T00:00:00",
                    current_period_end="2099-06-01T00:00:00",
                    discount=discount("pct25"),
                ),
                version,
            ),
            (
                subscription(
                    "sub_1b",
                    [item("week_10")],
                    "trialing",
                    created="2025-01-01T00:00:00",
                    trial_end="2099-01-01T00:00:00",
                ),
                version,
            ),
            (
                subscription(
                    "sub_2",
                    [item("week_10")],
                    "canceled",
                    customer="cus_2",
                    cancel_at_period_end=True,
                ),
                version,
            ),
        ],
        source="test",
    )
    await store.put_objects(
        "invoice",
        [
            (invoice("in_1", 12000, subscription="sub_1", refunded=2000), version),
            (invoice("in_2", 999, customer="cus_2"), version),
        ],
        source="test",
    )


async def test_the_billing_plugin_keeps_the_contract(database: Database) -> None:
    await seed(BillingStore(database.db))
    plugin = BillingPlugin(BillingSettings(webhook_secret=SecretStr(SECRET), _env_file=None))  # type: ignore[call-arg]
    one, one_b = EvaluationContext("cus_1"), EvaluationContext("cus_1", "sub_1b")
    two, three = EvaluationContext("cus_2"), EvaluationContext("cus_3")
    report = await check_provider(
        plugin,
        [one, one_b, two, three],
        name="billing",
        database=database,
        expected={
            one: {
                # (120/12 + 3 × 5) × 0.75 = 18.75, the subscription's own coupon winning.
                "subscription.mrr": Money(Decimal("18.75"), "USD"),
                "subscriber.mrr": Money(Decimal("18.75"), "USD"),
                "subscriber.ltv": Money(Decimal("100.00"), "USD"),
                "subscriber.active_coupon_id": "off5",
                "subscription.active_coupon_id": "pct25",
                "plan.id": "year_120",
                "plan.interval": "YEAR",
                "addon.id": ["seats_5"],
                "addon.name": ["Seats"],
                "subscriber.active_offer_id": MISSING,
            },
            one_b: {
                "subscription.is_free_trial": True,
                "subscription.mrr": Money(Decimal("0"), "USD"),
                "subscription.discount_fixed_amount": Money(Decimal("5.00"), "USD"),
                "plan.interval": "WEEK",
                "plan.interval_count": 2,
                "plan.name": "Pro",
                "addon.id": [],
            },
            two: {
                "subscriber.status": "CANCELED",
                "subscription.will_renew": False,
                "subscription.next_billing_date": MISSING,
                "subscriber.ltv": Money(Decimal("9.99"), "USD"),
            },
            three: {
                "subscriber.mrr": Money(Decimal("0"), "USD"),
                "subscriber.status": "CANCELED",
                "plan.id": MISSING,
                "addon.id": MISSING,
            },
        },
    )
    report.assert_ok()
    assert {"registration", "definitions", "value_types", "batch_consistency", "directory"} <= set(
        report.checks_run
    )


def test_the_plugin_is_registered_through_the_entry_point_group() -> None:
    found = {source.name: source for source in discover()}
    assert "billing" in found
    assert found["billing"].origin.startswith("seggraph-billing: seggraph_billing.plugin")
