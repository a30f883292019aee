"""Every type, field, argument and enum value of the schema says what it is: GraphiQL shows
these descriptions to the frontend developers who explore the API."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    specified_scalar_types,
)

from seggraph.api.schema import schema
from seggraph.settings import Settings
from tests.conftest import GraphQLClient, empty_collections


def undescribed() -> list[str]:
    """Every type (the built-in scalars aside), field, argument and enum value without one."""
    missing: list[str] = []
    for name, kind in schema._schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for argument_name, argument in getattr(field, "args", {}).items():
                    if not argument.description:
                        missing.append(f"{name}.{field_name}({argument_name})")
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, v in kind.values.items() if not v.description]
    return missing


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    assert undescribed() == []


def described(path: tuple[str, ...]) -> str:
    """The description of a type's field (``(type, field)``) or of a field's argument
    (``(type, field, argument)``), by their GraphQL names."""
    field = schema._schema.type_map[path[0]].fields[path[1]]
    found = field.args[path[2]] if len(path) == 3 else field
    return found.description or ""


REFUSED = [
    (
        ("SegmentFilterInput", "tags"),
        "query($t: [String!]!) { segments(filter: {tags: $t}) { totalCount } }",
        {"t": [f"t{i}" for i in range(51)]},
    ),
    (
        ("SegmentFilterInput", "tags"),
        "query($t: [String!]!) { segments(filter: {tags: $t}) { totalCount } }",
        {"t": ["x" * 65]},
    ),
    (
        ("Query", "propertyValueSuggestions", "first"),
        '{ propertyValueSuggestions(key: "subscriber.mrr", first: 0) { value } }',
        {},
    ),
    (
        ("Query", "propertyValueSuggestions", "first"),
        '{ propertyValueSuggestions(key: "subscriber.mrr", first: 101) { value } }',
        {},
    ),
    (("Query", "segments", "first"), "{ segments(first: 101) { totalCount } }", {}),
    (
        ("Query", "propertyValues", "subscriberIds"),
        "query($ids: [ID!]!) { propertyValues(subscriberIds: $ids, keys: []) { subscriberId } }",
        {"ids": [f"cus_{i}" for i in range(1001)]},
    ),
    (
        ("Query", "retentionEvents", "first"),
        '{ retentionEvents(subscriberId: "cus_1", first: 501) { kind } }',
        {},
    ),
    (("Query", "customPropertyValues"), "{ customPropertyValues { key } }", {}),
    # subscriptionId named no code: a blank or too long one is refused (a subscriber id's
    # description named TOO_LONG, not BLANK).
    (("Query", "subscriber", "id"), '{ subscriber(id: " ") { id } }', {}),
    (
        ("Query", "subscriber", "subscriptionId"),
        '{ subscriber(id: "cus_1", subscriptionId: " ") { id } }',
        {},
    ),
    (
        ("Query", "subscriber", "subscriptionId"),
        'query($s: ID) { subscriber(id: "cus_1", subscriptionId: $s) { id } }',
        {"s": "s" * 257},
    ),
]


@pytest.mark.parametrize(
    ("path", "document", "variables"), REFUSED, ids=[".".join(r[0]) for r in REFUSED]
)
def test_a_refused_argument_answers_the_code_its_description_names(
    gql: GraphQLClient, path: tuple[str, ...], document: str, variables: dict[str, Any]
) -> None:
    """The tags filter said TOO_LONG for too many tags (TOO_MANY is answered) and
    propertyValueSuggestions' first said BAD_ARGUMENT (OUT_OF_RANGE is answered)."""
    answer = gql.execute(document, variables)
    [error] = answer["errors"]
    assert f"else {error['extensions']['code']})" in described(path), error


def _preview(condition: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """previewConditions of one condition (nothing written)."""
    return (
        "query($c: ConditionGroupInput) { previewConditions(subscriberIds: [], conditions: $c) "
        "{ userErrors { path code } } }",
        {"c": {"conditions": [condition]}},
    )


_SET_VALUE = (
    "mutation($i: CustomPropertyValueInput!) { setCustomPropertyValue(input: $i) "
    "{ userErrors { path code } } }"
)

#: (the input field whose description names the code, the document, its variables, the
#: userErrors' path expected): each a refusal answered in a payload's userErrors.
REFUSED_INPUT = [
    (
        ("ConditionInput", "property"),
        *_preview({"property": "nosuch.key", "operator": "IS_SET"}),
        ["conditions", "conditions", "0", "property"],
    ),
    (
        ("ConditionInput", "property"),
        *_preview({"property": "plan.name", "operator": "IN_SEGMENT", "value": "x"}),
        ["conditions", "conditions", "0", "property"],
    ),
    (
        ("ConditionInput", "operator"),
        *_preview({"property": "plan.name", "operator": "PERCENTAGE", "value": 5}),
        ["conditions", "conditions", "0", "operator"],
    ),
    (
        ("ConditionInput", "caseInsensitive"),
        *_preview(
            {"property": "plan.quantity", "operator": "EQ", "value": 1, "caseInsensitive": True}
        ),
        ["conditions", "conditions", "0", "caseInsensitive"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.name", "operator": "IS_SET", "value": "x"}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.name", "operator": "EQ"}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.name", "operator": "CONTAINS", "value": ""}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.name", "operator": "IN", "value": ["x"] * 501}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.quantity", "operator": "BETWEEN", "value": [5, 1]}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "subscriber.mrr", "operator": "EQ", "value": 0.001}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "plan.name", "operator": "MATCHES", "value": "("}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("ConditionInput", "value"),
        *_preview({"property": "segment", "operator": "IN_SEGMENT", "value": "0" * 24}),
        ["conditions", "conditions", "0", "value"],
    ),
    (
        ("Query", "previewConditions", "conditionsText"),
        '{ previewConditions(subscriberIds: [], conditionsText: "plan.name =") '
        "{ userErrors { path code } } }",
        {},
        ["conditionsText"],
    ),
    (
        ("Query", "previewConditions", "conditions"),
        '{ previewConditions(subscriberIds: [], conditions: {}, conditionsText: "") '
        "{ userErrors { path code } } }",
        {},
        ["conditionsText"],
    ),
    (
        ("CustomPropertyValueInput", "value"),
        _SET_VALUE,
        {"i": {"key": "plan_tier", "subscriberId": "cus_1"}},
        ["input", "value"],
    ),
    (
        ("CustomPropertyValueInput", "subscriberId"),
        _SET_VALUE,
        {"i": {"key": "plan_tier", "subscriberId": "x" * 257, "value": "a"}},
        ["input", "subscriberId"],
    ),
    (
        ("CustomPropertyValueInput", "key"),
        _SET_VALUE,
        {"i": {"key": "plan_tierx", "subscriberId": "cus_1", "value": "a"}},
        ["input", "key"],
    ),
    (
        ("SegmentUsageInput", "refId"),
        'mutation { registerSegmentUsage(input: {segmentId: "x", kind: FLOW, refId: " "}) '
        "{ userErrors { path code } } }",
        {},
        ["refId"],
    ),
    (
        ("RecordRetentionEventInput", "offerId"),
        'mutation { recordRetentionEvent(input: {subscriberId: "cus_1", kind: SAVED}) '
        "{ userErrors { path code } } }",
        {},
        ["offerId"],
    ),
    (
        ("RecordRetentionEventInput", "subscriberId"),
        'mutation { recordRetentionEvent(input: {subscriberId: " ", kind: CANCELED}) '
        "{ userErrors { path code } } }",
        {},
        ["subscriberId"],
    ),
    (
        ("RecordRetentionEventInput", "idempotencyKey"),
        'mutation { recordRetentionEvent(input: {subscriberId: "cus_1", kind: CANCELED, '
        'idempotencyKey: " "}) { userErrors { path code } } }',
        {},
        ["idempotencyKey"],
    ),
]


@pytest.mark.parametrize(
    ("path", "document", "variables", "at"),
    REFUSED_INPUT,
    ids=[f"{'.'.join(r[0])}-{i}" for i, r in enumerate(REFUSED_INPUT)],
)
def test_a_refused_input_answers_a_code_its_description_names(
    gql: GraphQLClient,
    path: tuple[str, ...],
    document: str,
    variables: dict[str, Any],
    at: list[str],
) -> None:
    """Condition values, custom values, usages and retention events said what they take but
    not the codes a refusal of each answers."""
    gql.query(
        'mutation { createCustomProperty(input: {key: "plan_tier", label: "Plan tier", '
        "type: TEXT}) { userErrors { code } } }"
    )
    [payload] = gql.query(document, variables).values()
    codes = [error["code"] for error in payload["userErrors"] if error["path"] == at]
    assert codes, payload
    assert re.search(rf"\b{codes[0]}\b", described(path)), (codes, described(path))


def test_a_directory_that_cannot_list_answers_the_code_the_walks_name(
    settings: Settings, start_live_server: Any, sync_db: Any
) -> None:
    """members and segmentEditImpact fail when the subscriber directory cannot list anyone:
    neither description named the code (PROVIDER_ERROR) a client then meets."""
    empty_collections(sync_db)
    server = start_live_server(settings.model_copy(update={"plugins": []}))  # no directory
    with httpx.Client(base_url=server.url, timeout=30) as http:
        client = GraphQLClient(http)
        made = client.query('mutation { createSegment(input: {name: "All"}) { segment { id } } }')
        segment_id = made["createSegment"]["segment"]["id"]
        walks = {
            ("Segment", "members"): "query($id: ID!) { segment(id: $id) { members(first: 5) "
            "{ memberIds } } }",
            ("Query", "segmentEditImpact"): "query($id: ID!) { segmentEditImpact(id: $id, "
            'conditionsText: "") { userErrors { code } } }',
        }
        for path, document in walks.items():
            [error] = client.execute(document, {"id": segment_id})["errors"]
            assert error["extensions"]["code"] == "PROVIDER_ERROR", error
            assert re.search(rf"\b{error['extensions']['code']}\b", described(path)), path
