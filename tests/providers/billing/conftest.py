"""Billing fixtures: the provider bound to the session's real database, with a pinned clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database as SyncDatabase
from seggraph_billing.provider import BillingProvider
from seggraph_billing.settings import BillingSettings

from tests.conftest import empty_collections
from tests.providers.billing.builders import NOW

SECRET = "whsec_test_secret"
#: The live server's billing plugin reads its secret when the application is built (after the
#: test modules are collected), so the webhook tests can sign their events.
os.environ["SEGGRAPH_BILLING_WEBHOOK_SECRET"] = SECRET


class CommandLog(monitoring.CommandListener):
    """Every command the billing client sends, for counting queries."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []
        self.joined: list[str] = []
        """Collections read by the ``$lookup`` stages of aggregations, in order."""
        self.unioned: list[str] = []
        """Collections read by the ``$unionWith`` stages of aggregations, in order."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.commands.append((event.command_name, str(collection)))
        for stage in event.command.get("pipeline", []) if event.command_name == "aggregate" else []:
            if "$lookup" in stage:
                self.joined.append(stage["$lookup"]["from"])
            if "$unionWith" in stage:
                self.unioned.append(stage["$unionWith"]["coll"])

    def clear(self) -> None:
        self.commands.clear()
        self.joined.clear()
        self.unioned.clear()

    def collections_read(self) -> list[str]:
        """Every collection read, by a query of its own or joined or added to another, sorted."""
        own = [c for name, c in self.commands if name in ("find", "aggregate")]
        return sorted(own + self.joined + self.unioned)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def finds(self) -> list[str]:
        return [collection for name, collection in self.commands if name == "find"]


@pytest.fixture(scope="session")
def command_log() -> CommandLog:
    return CommandLog()


@pytest.fixture(scope="session")
async def billing_db(
    mongo_uri: str, database_name: str, command_log: CommandLog
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, event_listeners=[command_log]
    )
    yield client[database_name]
    await client.close()


def clear_billing(sync_db: SyncDatabase[dict[str, Any]]) -> None:
    empty_collections(sync_db, "billing_")


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock(NOW)


@pytest.fixture
async def provider(
    billing_db: AsyncDatabase[dict[str, Any]],
    sync_db: SyncDatabase[dict[str, Any]],
    clock: Clock,
) -> BillingProvider:
    clear_billing(sync_db)
    settings = BillingSettings(webhook_secret=SecretStr(SECRET), _env_file=None)  # type: ignore[call-arg]
    billing = BillingProvider(settings, clock=clock, wall_time=lambda: clock.now.timestamp())
    billing.bind(billing_db, zone="UTC", currency="USD")
    await billing.start()
    return billing
