"""CDP fixtures: a live server whose CDP plugin has a write key, traits and events configured,
and a database handle that logs the commands it sends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database as SyncDatabase
from seggraph_cdp.plugin import CdpPlugin
from seggraph_cdp.settings import CdpSettings

from seggraph.settings import Settings
from tests.conftest import empty_collections
from tests.providers.servers import CommandLog, PluginServer, seggraph_database  # noqa: F401

WRITE_KEY = "wk_test_123"
TRAITS = {
    "plan": "TEXT",
    "seats": "NUMBER",
    "vip": "BOOLEAN",
    "firstName": "TEXT",
    "renewal": "DATE",
    "signedUpAt": "DATETIME",
    "tier": {"type": "ENUM", "values": ["FREE", "PRO"]},
    "tags": "LIST",
    "ltv": "MONEY",
    "appVersion": "SEMVER",
}
EVENTS = "Order Completed,Signed Up"


def cdp_settings(**overrides: Any) -> CdpSettings:
    values: dict[str, Any] = {
        "write_key": WRITE_KEY,
        "traits": json.dumps(TRAITS),
        "events": EVENTS,
        "max_body_bytes": 20_000,
    }
    values.update(overrides)
    return CdpSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def cdp_server(settings: Settings, sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[PluginServer]:
    server = PluginServer(settings, [("cdp", CdpPlugin(cdp_settings()))])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cdp(cdp_server: PluginServer, sync_db: SyncDatabase[dict[str, Any]]) -> Iterator[httpx.Client]:
    """An HTTP client on the CDP server, with the CDP collections emptied."""
    empty_collections(sync_db, "cdp_")
    with httpx.Client(base_url=cdp_server.url, timeout=30) as client:
        yield client


@pytest.fixture
async def logged_db(
    settings: Settings,
) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], CommandLog]]:
    """The test database through a client of its own, and the log of the commands it sends."""
    log = CommandLog()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True, event_listeners=[log]
    )
    yield client[settings.database], log
    await client.close()
