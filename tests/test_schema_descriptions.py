"""Every type, field, argument and enum value of the schema says what it is: GraphiQL shows
these descriptions to the frontend developers who explore the API."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    specified_scalar_types,
)

from seggraph.api.schema import schema
from tests.conftest import GraphQLClient


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
