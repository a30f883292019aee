"""The CRM provider keeps the plugin contract and reads a batch in one query per collection."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.database import Database as SyncDatabase
from seggraph_crm.plugin import CrmPlugin
from seggraph_crm.provider import CrmProvider
from seggraph_crm.records import ParsedRecords

from seggraph.db import Database
from seggraph.domain.conditions import Money
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import MISSING
from seggraph.settings import Settings
from seggraph.testing import check_provider
from tests.conftest import GraphQLClient
from tests.providers.servers import CommandLog

RECORDS = ParsedRecords(
    contacts=[
        {"id": "c1", "external_id": "cus_a", "lifecycle_stage": "CUSTOMER", "company_id": "co1"},
        {"id": "c2", "email": "b@x.io", "lead_status": "NEW", "country": "Spain"},
    ],
    companies=[
        {
            "id": "co1",
            "name": "Acme",
            "employees": 12,
            "annual_revenue": Decimal("5000.25"),
            "renewal_date": date(2026, 1, 31),
            "health_score": 70,
        }
    ],
)


async def seed(provider: CrmProvider, sync_db: SyncDatabase[dict[str, Any]]) -> None:
    sync_db["billing_customers"].insert_one({"_id": "cus_b", "email": "B@X.io"})
    await provider.start()
    await provider.write(RECORDS)


async def test_the_crm_provider_keeps_the_contract(
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    seggraph_database: Database,
    settings: Settings,
) -> None:
    plugin = CrmPlugin()
    await seed(plugin.provider.bind(seggraph_database.db, currency="USD"), sync_db)
    a, b = EvaluationContext("cus_a"), EvaluationContext("cus_b")
    report = await check_provider(
        plugin,
        [a, b],
        name="crm",
        database=seggraph_database,
        settings=settings,
        expected={
            a: {
                "crm.lifecycle_stage": "CUSTOMER",
                "crm.company_name": "Acme",
                "crm.company_size": 12,
                "crm.annual_revenue": Money(Decimal("5000.25"), "USD"),
                "crm.renewal_date": date(2026, 1, 31),
                "crm.health_score": 70,
                "crm.lead_status": MISSING,
            },
            b: {"crm.lead_status": "NEW", "crm.country": "Spain", "crm.company_name": MISSING},
        },
    )
    report.assert_ok()


async def test_a_batch_costs_one_query_per_collection(
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    settings: Settings,
) -> None:
    log = CommandLog()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True, event_listeners=[log]
    )
    try:
        provider = CrmProvider().bind(client[settings.database])
        await seed(provider, sync_db)
        contexts = [EvaluationContext(f"cus_{i}") for i in range(300)] + [
            EvaluationContext("cus_a"),
            EvaluationContext("cus_b"),
        ]
        log.clear()
        rows = await provider.resolve(contexts)
        assert sorted(log.reads()) == [
            ("find", "billing_customers"),
            ("find", "crm_companies"),
            ("find", "crm_contacts"),
        ]
        assert rows[-2]["crm.company_name"] == "Acme" and rows[-1]["crm.lead_status"] == "NEW"
        assert rows[0]["crm.lead_status"] is MISSING
        log.clear()
        await provider.resolve(contexts, ["crm.lifecycle_stage"])
        assert sorted(log.reads()) == [("find", "billing_customers"), ("find", "crm_contacts")]
    finally:
        await client.close()


async def test_contacts_stored_before_match_keys_are_matched_after_a_start(
    gql: GraphQLClient,
    sync_db: SyncDatabase[dict[str, Any]],
    settings: Settings,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    try:
        provider = CrmProvider().bind(client[settings.database])
        sync_db["billing_customers"].insert_one({"_id": "cus_old_email", "email": "Old@X.io"})
        # As an earlier version wrote them: no match_keys.
        sync_db["crm_contacts"].insert_many(
            [
                {"_id": "o1", "external_id": "cus_old_id", "lead_status": "OPEN"},
                {"_id": "o2", "email": "old@x.io", "lead_status": "NEW"},
            ]
        )
        await provider.start()
        stored = sync_db["crm_contacts"].find_one({"_id": "o2"})
        assert stored is not None and stored["match_keys"] == ["email:old@x.io"]
        rows = await provider.resolve(
            [EvaluationContext("cus_old_id"), EvaluationContext("cus_old_email")],
            ["crm.lead_status"],
        )
        assert [row["crm.lead_status"] for row in rows] == ["OPEN", "NEW"]
    finally:
        await client.close()
