"""Custom properties fixtures: GraphQL helpers on the session's live server."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient
from tests.providers.servers import seggraph_database  # noqa: F401

DEFINITION_FIELDS = "key propertyKey label description type object enumValues createdAt updatedAt"
ERRORS = "userErrors { path code message }"


def create(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    fields.setdefault("label", fields.get("key", "x").replace("_", " ").title())
    result: dict[str, Any] = gql.query(
        f"mutation($input: CreateCustomPropertyInput!) {{ createCustomProperty(input: $input) "
        f"{{ customProperty {{ {DEFINITION_FIELDS} }} {ERRORS} }} }}",
        {"input": fields},
    )["createCustomProperty"]
    return result


def update(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = gql.query(
        f"mutation($input: UpdateCustomPropertyInput!) {{ updateCustomProperty(input: $input) "
        f"{{ customProperty {{ {DEFINITION_FIELDS} }} {ERRORS} }} }}",
        {"input": fields},
    )["updateCustomProperty"]
    return result


def delete(gql: GraphQLClient, key: str) -> dict[str, Any]:
    result: dict[str, Any] = gql.query(
        f"mutation($key: String!) {{ deleteCustomProperty(key: $key) {{ deletedKey {ERRORS} }} }}",
        {"key": key},
    )["deleteCustomProperty"]
    return result


def set_values(gql: GraphQLClient, values: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = gql.query(
        f"mutation($values: [CustomPropertyValueInput!]!) {{ setCustomPropertyValues("
        f"values: $values) {{ written removed {ERRORS} }} }}",
        {"values": values},
    )["setCustomPropertyValues"]
    return result


def set_value(gql: GraphQLClient, value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = gql.query(
        f"mutation($input: CustomPropertyValueInput!) {{ setCustomPropertyValue("
        f"input: $input) {{ written removed {ERRORS} }} }}",
        {"input": value},
    )["setCustomPropertyValue"]
    return result


def properties(
    gql: GraphQLClient, subscriber: str, keys: list[str], subscription: str | None = None
) -> dict[str, dict[str, Any]]:
    data = gql.query(
        "query($id: ID!, $sub: ID, $keys: [String!]!) { subscriber(id: $id, subscriptionId: "
        "$sub) { properties(keys: $keys) { key value state unknownReason detail provider } } }",
        {"id": subscriber, "sub": subscription, "keys": keys},
    )
    return {row["key"]: row for row in data["subscriber"]["properties"]}


def create_segment(
    gql: GraphQLClient,
    conditions: list[dict[str, Any]],
    name: str = "Uses custom",
    mode: str = "TEST",
) -> dict[str, Any]:
    result: dict[str, Any] = gql.query(
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input) "
        "{ segment { id version } userErrors { path code message } } }",
        {"input": {"name": name, "conditions": {"conditions": conditions}}},
        **{"X-Seggraph-Mode": mode},
    )["createSegment"]
    return result
