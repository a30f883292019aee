"""The CDP provider keeps the plugin contract, and reads a batch in a number of queries that
does not grow with the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase
from seggraph_cdp.plugin import CdpPlugin
from seggraph_cdp.provider import CdpProvider

from seggraph.db import Database
from seggraph.domain.context import EvaluationContext
from seggraph.evaluation.values import MISSING
from seggraph.settings import Settings
from seggraph.testing import check_provider
from tests.providers.cdp.conftest import cdp_settings
from tests.providers.cdp.test_ingestion import iso, post
from tests.providers.servers import CommandLog

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(cdp: httpx.Client) -> None:
    post(
        cdp,
        "batch",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "cus_a",
                    "timestamp": iso(NOW - timedelta(days=10)),
                    "traits": {"plan": "pro", "seats": 4, "tier": "PRO", "tags": ["x"]},
                },
                {
                    "type": "track",
                    "userId": "cus_a",
                    "event": "Signed Up",
                    "timestamp": iso(NOW - timedelta(days=1)),
                },
                {"type": "page", "userId": "cus_b", "timestamp": iso(NOW - timedelta(days=3))},
            ]
        },
    )


async def test_the_cdp_provider_keeps_the_contract(
    cdp: httpx.Client, seggraph_database: Database, settings: Settings
) -> None:
    seed(cdp)
    a, b = EvaluationContext("cus_a"), EvaluationContext("cus_b", "sub_1")
    report = await check_provider(
        CdpPlugin(cdp_settings()),
        [a, b],
        name="cdp",
        database=seggraph_database,
        settings=settings,
        expected={
            a: {
                "cdp.trait.plan": "pro",
                "cdp.trait.seats": 4,
                "cdp.trait.tier": "PRO",
                "cdp.days_since_last_seen": 1,
                "cdp.event.signed_up.count_30d": 1,
                "cdp.event.order_completed.count_30d": 0,
                "cdp.event.order_completed.last_at": MISSING,
                "cdp.first_seen": NOW - timedelta(days=10),
            },
            b: {"cdp.trait.plan": MISSING, "cdp.days_since_last_seen": 3},
        },
    )
    report.assert_ok()
    assert "expected_values" in report.checks_run


async def test_a_batch_costs_the_same_queries_whatever_its_size(
    cdp: httpx.Client, logged_db: tuple[AsyncDatabase[dict[str, Any]], CommandLog]
) -> None:
    """One query on the profiles; on the events, one for the 30-day counts and, for the latest
    times of the pairs with no event in the window, one per such event name (one for a single
    subscriber): never one per subscriber."""
    seed(cdp)
    db, log = logged_db
    provider = CdpProvider(cdp_settings()).bind(db)
    contexts = [EvaluationContext(f"cus_{i}") for i in range(300)] + [EvaluationContext("cus_a")]
    keys = [d.key for d in provider.definitions()]
    events = [("aggregate", "cdp_events")]
    # The latest times are not complete (an older database): each read of them asks cdp_meta
    # whether another process has completed them meanwhile, and reads them from the events.
    others = [("find", "cdp_meta"), ("find", "cdp_profiles")]
    log.clear()
    await provider.resolve(contexts[-1:], keys)
    assert sorted(log.reads()) == events * 2 + others
    log.clear()
    rows = await provider.resolve(contexts, keys)
    assert sorted(log.reads()) == events * 3 + others
    assert rows[-1]["cdp.trait.seats"] == 4 and rows[0]["cdp.trait.seats"] is MISSING
    log.clear()
    await provider.resolve(contexts, ["cdp.trait.plan", "cdp.last_seen"])
    assert log.reads() == [("find", "cdp_profiles")]
    assert isinstance(rows[-1]["cdp.trait.seats"], int)
    assert rows[-1]["cdp.days_since_last_seen"] == 1
    assert Decimal(rows[-1]["cdp.event.signed_up.count_30d"]) == 1
