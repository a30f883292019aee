"""Every type, field, argument and enum value of the schema says what it is: GraphiQL shows
these descriptions to the frontend developers who explore the API."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    specified_scalar_types,
)

from seggraph.api.schema import schema


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
