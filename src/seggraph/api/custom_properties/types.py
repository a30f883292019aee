"""GraphQL types of custom properties and their values."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from seggraph.api.errors import UserErrorType
from seggraph.api.properties.types import json_value
from seggraph.api.segments.conditions import EXACT_NUMBERS
from seggraph.domain import custom_properties as dcp

CustomTypeEnum = strawberry.enum(
    dcp.CustomType, name="CustomPropertyType", description="The types a custom property can have."
)
CustomObjectEnum = strawberry.enum(
    dcp.CustomObject,
    name="CustomPropertyObject",
    description="What a custom property describes: its values are kept per subscriber or per "
    "subscription.",
)


value_to_json = json_value
"""A stored custom value as JSON (the catalogue's value form)."""


@strawberry.type(
    name="CustomProperty",
    description="A property a team defined itself, read in segments as custom.<key>.",
)
class CustomPropertyNode:
    key: str = strawberry.field(description="The immutable key, e.g. plan_tier.")
    property_key: str = strawberry.field(
        description="The catalogue key segments use, e.g. custom.plan_tier."
    )
    label: str
    description: str
    type: CustomTypeEnum  # type: ignore[valid-type]
    object: CustomObjectEnum  # type: ignore[valid-type]
    enum_values: list[str]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, definition: dcp.CustomPropertyDefinition) -> CustomPropertyNode:
        return cls(
            key=definition.key,
            property_key=definition.property_key,
            label=definition.label,
            description=definition.description,
            type=definition.type,
            object=definition.object,
            enum_values=list(definition.enum_values),
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )


@strawberry.type(description="One custom property value of a subscriber or subscription.")
class CustomPropertyValue:
    key: str = strawberry.field(description="The property's key, e.g. plan_tier.")
    property_key: str
    value: JSON = strawberry.field(
        description="The stored value: text, a number, a boolean, a YYYY-MM-DD date, a list. "
        + EXACT_NUMBERS
    )


@strawberry.type
class CustomPropertyPayload:
    custom_property: CustomPropertyNode | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteCustomPropertyPayload:
    deleted_key: str | None = None
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class SetCustomPropertyValuesPayload:
    written: int = strawberry.field(default=0, description="Values set.")
    removed: int = strawberry.field(default=0, description="Values removed (sent as null).")
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)
