"""The custom properties provider keeps the plugin contract and reads a batch in one query."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.database import Database as SyncDatabase
from seggraph_custom.plugin import CustomPropertiesPlugin
from seggraph_custom.provider import CustomProvider

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import MISSING
from seggraph.settings import Settings
from seggraph.testing import check_provider
from tests.conftest import GraphQLClient
from tests.providers.custom.conftest import create, set_values
from tests.providers.servers import CommandLog


def seed(gql: GraphQLClient, sync_db: SyncDatabase[dict[str, Any]]) -> None:
    create(gql, key="vip", type="BOOLEAN")
    create(gql, key="seats", type="NUMBER")
    create(gql, key="renews_on", type="DATE")
    create(gql, key="tier", type="ENUM", enumValues=["GOLD", "SILVER"])
    create(gql, key="tags", type="LIST")
    create(gql, key="seat_cap", type="NUMBER", object="SUBSCRIPTION")
    sync_db["billing_subscriptions"].insert_one(
        {"_id": "sub_a", "customer": "cus_a", "status": "active", "created": 1}
    )
    result = set_values(
        gql,
        [
            {"key": "vip", "subscriberId": "cus_a", "value": "yes"},
            {"key": "seats", "subscriberId": "cus_a", "value": "2.5"},
            {"key": "renews_on", "subscriberId": "cus_a", "value": "2026-09-30"},
            {"key": "tier", "subscriberId": "cus_a", "value": "silver"},
            {"key": "tags", "subscriberId": "cus_a", "value": "x,y"},
            {"key": "seat_cap", "subscriptionId": "sub_a", "value": 9},
            {"key": "seats", "subscriberId": "cus_b", "value": 1},
            {"key": "seat_cap", "subscriptionId": "sub_b2", "value": 7},
        ],
    )
    assert result["userErrors"] == []


async def test_the_custom_provider_keeps_the_contract(
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    seggraph_database: Database,
    settings: Settings,
) -> None:
    seed(gql, sync_db)
    a, b, b2 = (
        EvaluationContext("cus_a"),
        EvaluationContext("cus_b"),
        EvaluationContext("cus_b", "sub_b2"),
    )
    report = await check_provider(
        CustomPropertiesPlugin(),
        [a, b, b2],
        name="custom",
        database=seggraph_database,
        settings=settings,
        expected={
            a: {
                "custom.vip": True,
                "custom.seats": Decimal("2.5"),
                "custom.renews_on": date(2026, 9, 30),
                "custom.tier": "SILVER",
                "custom.tags": ["x", "y"],
                "custom.seat_cap": 9,
            },
            b: {"custom.seats": 1, "custom.vip": MISSING, "custom.seat_cap": MISSING},
            b2: {"custom.seat_cap": 7},
        },
    )
    report.assert_ok()
    assert {"expected_values", "batch_consistency", "missing_vs_errors"} <= set(report.checks_run)


async def test_a_batch_costs_one_query_per_object_kind(
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    seggraph_database: Database,
    settings: Settings,
) -> None:
    seed(gql, sync_db)
    log = CommandLog()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True, event_listeners=[log]
    )
    try:
        provider = CustomProvider().bind(
            seggraph_database,
            db=client[settings.database],
            subscriptions_collection="billing_subscriptions",
        )
        await provider.start()
        contexts = [EvaluationContext(f"cus_{i}") for i in range(300)] + [
            EvaluationContext("cus_a")
        ]
        keys = [d.key for d in provider.definitions()]
        log.clear()
        rows = await provider.resolve(contexts, keys)
        assert sorted(log.reads()) == [
            ("find", "billing_subscriptions"),
            ("find", "custom_values"),
            ("find", "custom_values"),
        ]
        assert rows[-1]["custom.seat_cap"] == 9 and rows[0]["custom.vip"] is MISSING
        log.clear()
        await provider.resolve(contexts, ["custom.vip", "custom.seats"])
        assert log.reads() == [("find", "custom_values")]
    finally:
        await client.close()
