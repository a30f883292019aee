"""Definitions changed in one worker process are in every other worker's catalogue at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo.database import Database as SyncDatabase

from seggraph.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.providers.custom.conftest import create, create_segment, delete, update


@pytest.fixture(scope="module")
def other_worker(
    settings: Settings, sync_db: SyncDatabase[dict[str, Any]]
) -> Iterator[GraphQLClient]:
    """A second application on the same database, as a second worker process would be."""
    server = LiveServer(settings)
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield GraphQLClient(client)
    server.stop()


def label_in(gql: GraphQLClient, key: str) -> str | None:
    found = gql.query("query($k: String!) { property(key: $k) { label } }", {"k": key})
    return found["property"]["label"] if found["property"] else None


def test_every_worker_sees_a_change_on_its_next_request(
    gql: GraphQLClient, other_worker: GraphQLClient
) -> None:
    assert label_in(other_worker, "custom.vip") is None  # the other worker has looked
    assert create(gql, key="vip", label="VIP", type="BOOLEAN")["userErrors"] == []
    assert label_in(other_worker, "custom.vip") == "VIP"
    used = create_segment(other_worker, [{"property": "custom.vip", "operator": "IS_TRUE"}])
    assert used["userErrors"] == []

    assert update(other_worker, key="vip", label="Very important")["userErrors"] == []
    assert label_in(gql, "custom.vip") == "Very important"

    assert create(other_worker, key="note", type="TEXT")["userErrors"] == []
    assert delete(gql, "note")["userErrors"] == []
    refused = create_segment(other_worker, [{"property": "custom.note", "operator": "IS_SET"}])
    assert refused["userErrors"][0]["code"] == "UNKNOWN_PROPERTY"
