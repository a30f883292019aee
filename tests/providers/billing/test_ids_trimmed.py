"""An id written with surrounding whitespace and read without it, or the other way round, names
the same subscriber or subscription: every write trims it, and so does every argument that
reads one (real HTTP, real database, the bundled providers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pymongo.database import Database as SyncDatabase

from tests.conftest import GraphQLClient
from tests.providers.billing.builders import customer, item, subscription
from tests.providers.billing.test_import_command import run_import
from tests.providers.billing.test_webhook_and_api import RECORD, Webhook, envelope, seed

#: How a client may spell ``cus_1``: as written, padded, with a tab and a line break.
SPELLINGS = ["cus_1", " cus_1 ", "\tcus_1\n"]

PROPERTY_KEYS = ["custom.tier", "custom.seat_note", "subscriber.active_offer_id", "plan.name"]


def written_padded(webhook: Webhook, gql: GraphQLClient) -> str:
    """Billing data for ``cus_1`` and ``sub_1``; a custom value and a retention event written
    for them with surrounding whitespace; a segment over them. Its id."""
    seed(webhook)
    webhook.send("customer.subscription.created", subscription("sub_1", [item("year_120")]))
    for key, obj in (("tier", "SUBSCRIBER"), ("seat_note", "SUBSCRIPTION")):
        created = gql.query(
            "mutation($input: CreateCustomPropertyInput!) { createCustomProperty(input: $input) "
            "{ userErrors { code } } }",
            {"input": {"key": key, "label": key, "type": "TEXT", "object": obj}},
        )
        assert created["createCustomProperty"]["userErrors"] == []
    written = gql.query(
        "mutation($values: [CustomPropertyValueInput!]!) { setCustomPropertyValues("
        "values: $values) { written userErrors { code } } }",
        {
            "values": [
                {"key": "tier", "subscriberId": " cus_1 ", "value": "gold"},
                {"key": "seat_note", "subscriptionId": " sub_1\t", "value": "ten seats"},
            ]
        },
    )["setCustomPropertyValues"]
    assert written == {"written": 2, "userErrors": []}
    saved = gql.query(
        RECORD, {"input": {"subscriberId": " cus_1", "kind": "SAVED", "offerId": "offer_1"}}
    )["recordRetentionEvent"]
    assert saved["userErrors"] == [] and saved["retentionEvent"]["subscriberId"] == "cus_1"
    created = gql.query(
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) "
        "{ segment { id } userErrors { code } } }",
        {
            "input": {
                "name": "Gold, saved",
                "conditionsText": 'custom.tier = "gold" AND subscriber.active_offer_id = '
                '"offer_1" AND custom.seat_note IS SET',
            }
        },
    )["createSegment"]
    assert created["userErrors"] == []
    segment: str = created["segment"]["id"]
    return segment


@pytest.fixture
def webhook(gql: GraphQLClient, http: httpx.Client) -> Webhook:
    """The live server's billing webhook, on an empty database."""
    return Webhook(http)


def values(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {row["key"]: row["value"] for row in rows}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_subscriber_written_with_whitespace_is_read_by_any_spelling(
    webhook: Webhook, gql: GraphQLClient, spelling: str
) -> None:
    segment = written_padded(webhook, gql)
    expected = {
        "custom.tier": "gold",
        "custom.seat_note": "ten seats",
        "subscriber.active_offer_id": "offer_1",
        "plan.name": "Pro",
    }
    asked = {"id": spelling, "sub": f" {spelling}".replace("cus_1", "sub_1"), "keys": PROPERTY_KEYS}
    # Only subscriber fields: the prefetch reads them before the fields run.
    data = gql.query(
        "query($id: ID!, $sub: ID, $keys: [String!]!) { subscriber(id: $id, subscriptionId: "
        "$sub) { id subscriptionId properties(keys: $keys) { key value } } }",
        asked,
    )["subscriber"]
    assert values(data["properties"]) == expected
    assert (data["id"], data["subscriptionId"]) == ("cus_1", "sub_1")
    data = gql.query(
        "query($id: ID!, $sub: ID, $segment: ID!) { subscriber(id: $id, subscriptionId: $sub) "
        "{ membership(segmentIds: [$segment]) { result } segments { result } } "
        "segment(id: $segment) { evaluate(subscriberId: $id, subscriptionId: $sub) { result } } }",
        {"id": spelling, "sub": asked["sub"], "segment": segment},
    )
    assert data["subscriber"]["membership"] == [{"result": "MEMBER"}]
    assert data["subscriber"]["segments"] == [{"result": "MEMBER"}]
    assert data["segment"]["evaluate"] == {"result": "MEMBER"}
    data = gql.query(
        "query($id: ID!, $keys: [String!]!) { "
        "propertyValues(subscriberIds: [$id], keys: $keys) { subscriberId values { key value } } "
        "customPropertyValues(subscriberId: $id) { key value } "
        "retentionEvents(subscriberId: $id) { subscriberId offerId } "
        "previewConditions(subscriberIds: [$id], conditionsText: "
        '"custom.tier = \\"gold\\" AND subscriber.active_offer_id = \\"offer_1\\"") '
        "{ results { subscriberId evaluation { result } } userErrors { code } } }",
        {"id": spelling, "keys": PROPERTY_KEYS[:1] + PROPERTY_KEYS[2:]},
    )
    [row] = data["propertyValues"]
    assert row["subscriberId"] == "cus_1"
    assert values(row["values"]) == {k: v for k, v in expected.items() if k != "custom.seat_note"}
    assert values(data["customPropertyValues"]) == {"tier": "gold"}
    assert data["retentionEvents"] == [{"subscriberId": "cus_1", "offerId": "offer_1"}]
    assert data["previewConditions"] == {
        "results": [{"subscriberId": "cus_1", "evaluation": {"result": "MEMBER"}}],
        "userErrors": [],
    }
    data = gql.query(
        "query($sub: ID!) { customPropertyValues(subscriptionId: $sub) { key value } }",
        {"sub": asked["sub"]},
    )
    assert values(data["customPropertyValues"]) == {"seat_note": "ten seats"}


def test_an_id_of_whitespace_only_is_blank_and_a_padded_one_is_bounded_once_trimmed(
    gql: GraphQLClient,
) -> None:
    body = gql.execute('{ subscriber(id: "  \\t") { id } }')
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BLANK"
    assert error["message"] == "id: an id cannot be blank"
    padded = " " + "c" * 256 + " "
    data = gql.query("query($id: ID!) { subscriber(id: $id) { id } }", {"id": padded})
    assert data["subscriber"]["id"] == "c" * 256
    body = gql.execute(
        "query($id: ID!) { retentionEvents(subscriberId: $id) { id } }", {"id": " c" + padded}
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TOO_LONG"
    assert error["message"] == "subscriberId: an id has at most 256 characters, got 258"


def test_billing_refuses_an_id_with_surrounding_whitespace_it_could_never_be_asked_by(
    webhook: Webhook,
    gql: GraphQLClient,
    tmp_path: Path,
    mongo_uri: str,
    database_name: str,
    sync_db: SyncDatabase[dict[str, Any]],
) -> None:
    """Stored as " cus_2 ", a customer would be in member lists under an id no other provider
    keys values by and no question reaches (questions trim it): the webhook and the import
    refuse it, naming the field, and write nothing."""
    seed(webhook)
    padded_customer = webhook.post(envelope("customer.created", customer(" cus_2 ")))
    padded_owner = webhook.post(
        envelope(
            "customer.subscription.created",
            subscription("sub_2", [item("year_120")], customer="cus_1\t"),
        )
    )
    for response, field, ident in (
        (padded_customer, "id", " cus_2 "),
        (padded_owner, "customer", "cus_1\t"),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "MALFORMED_OBJECT"
        assert response.json()["error"]["message"] == (
            f"data.object.{field}: an id cannot begin or end with whitespace, got {ident!r}"
        )
    path = tmp_path / "billing.jsonl"
    path.write_text(
        "\n".join(orjson.dumps(customer(i)).decode() for i in ("cus_3", " cus_4", "cus_5")) + "\n"
    )
    result = run_import(mongo_uri, database_name, str(path), "--as-of", "2026-01-01T00:00:00")
    assert result.returncode == 1, result.stderr
    assert "line 2: id: an id cannot begin or end with whitespace, got ' cus_4'" in result.stderr
    stored = sorted(doc["_id"] for doc in sync_db["billing_customers"].find())
    assert stored == ["cus_1", "cus_3", "cus_5"]
    assert [doc["_id"] for doc in sync_db["billing_subscriptions"].find()] == []
