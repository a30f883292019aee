"""Helpers for segment tests: a catalogue of test properties, GraphQL documents, snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bson
import pytest
from pymongo.database import Database

from seggraph.catalogue import Catalogue
from seggraph.domain.properties import PropertyDefinition, PropertyType
from tests.conftest import GraphQLClient

TEST_PROPERTIES = [
    PropertyDefinition("subscriber.mrr", "MRR", PropertyType.MONEY, provider="test"),
    PropertyDefinition(
        "subscriber.status",
        "Status",
        PropertyType.ENUM,
        provider="test",
        enum_values=("ACTIVE", "CANCELED", "SAVED", "REACTIVATED"),
    ),
    PropertyDefinition(
        "plan.interval",
        "Interval",
        PropertyType.ENUM,
        provider="test",
        enum_values=("DAY", "WEEK", "MONTH", "YEAR"),
    ),
    PropertyDefinition("plan.name", "Plan name", PropertyType.TEXT, provider="test"),
    PropertyDefinition(
        "subscription.duration_days", "Duration", PropertyType.NUMBER, provider="test"
    ),
    PropertyDefinition(
        "subscription.is_free_trial", "Trial", PropertyType.BOOLEAN, provider="test"
    ),
    PropertyDefinition(
        "subscription.next_billing_date", "Next bill", PropertyType.DATE, provider="test"
    ),
    PropertyDefinition("cdp.last_seen", "Last seen", PropertyType.DATETIME, provider="test"),
    PropertyDefinition("addon.id", "Add-ons", PropertyType.LIST, provider="test"),
    PropertyDefinition("app.version", "App version", PropertyType.SEMVER, provider="test"),
]

SEGMENT_FIELDS = """
  id mode name description tags version archived createdBy updatedBy copiedFromId conditionsText
  conditions {
    combinator
    conditions { property operator value caseInsensitive }
    groups {
      combinator
      conditions { property operator value caseInsensitive }
      groups { combinator conditions { property operator value caseInsensitive } }
    }
  }
"""
PAYLOAD = f"""segment {{ {SEGMENT_FIELDS} }} userErrors {{ path code message }}
  warnings {{ path code message }} currentVersion"""

CREATE = f"mutation($input: CreateSegmentInput!) {{ createSegment(input: $input) {{ {PAYLOAD} }} }}"
UPDATE = f"mutation($input: UpdateSegmentInput!) {{ updateSegment(input: $input) {{ {PAYLOAD} }} }}"
GET = f"query($id: ID!) {{ segment(id: $id) {{ {SEGMENT_FIELDS} }} }}"


@pytest.fixture
def catalogue(live_server: Any) -> Iterator[Catalogue]:
    """Test properties in the running server's catalogue, for the test only: the providers'
    catalogue is put back after it, so the tests that follow see the real one whatever the
    order they run in."""
    services = live_server.app.state.services
    real = services.catalogue
    services.catalogue = Catalogue(TEST_PROPERTIES)
    yield services.catalogue
    services.catalogue = real


@pytest.fixture
def seg(gql: GraphQLClient, catalogue: Catalogue) -> SegmentClient:
    return SegmentClient(gql)


class SegmentClient:
    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    def create(self, mode: str = "TEST", **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", "A segment")
        result: dict[str, Any] = self.gql.query(CREATE, {"input": fields}, **mode_header(mode))[
            "createSegment"
        ]
        return result

    def created(self, mode: str = "TEST", **fields: Any) -> dict[str, Any]:
        payload = self.create(mode, **fields)
        assert payload["userErrors"] == [], payload["userErrors"]
        segment: dict[str, Any] = payload["segment"]
        return segment

    def update(self, mode: str = "TEST", **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.gql.query(UPDATE, {"input": fields}, **mode_header(mode))[
            "updateSegment"
        ]
        return result

    def get(self, segment_id: str, mode: str = "TEST") -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.gql.query(
            GET, {"id": segment_id}, **mode_header(mode)
        )["segment"]
        return result

    def run(self, document: str, mode: str = "TEST", **variables: Any) -> dict[str, Any]:
        return self.gql.query(document, variables, **mode_header(mode))


def mode_header(mode: str) -> dict[str, str]:
    return {"X-Seggraph-Mode": mode}


def errors_by_path(payload: dict[str, Any]) -> dict[str, str]:
    return {".".join(e["path"]): e["code"] for e in payload["userErrors"]}


def snapshot(db: Database[dict[str, Any]]) -> dict[str, list[bytes]]:
    """Every document of every collection, as BSON bytes, in a stable order."""
    return {
        name: sorted(bson.encode(doc) for doc in db[name].find())
        for name in sorted(db.list_collection_names())
    }
