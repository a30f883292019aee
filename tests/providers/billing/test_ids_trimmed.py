"""An id written with surrounding whitespace and read without it, or the other way round, names
the same subscriber or subscription: every write trims it, and so does every argument that
reads one (real HTTP, real database, the bundled providers)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import GraphQLClient
from tests.providers.billing.builders import item, subscription
from tests.providers.billing.test_webhook_and_api import RECORD, Webhook, seed

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
