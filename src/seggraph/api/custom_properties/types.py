"""GraphQL types of custom properties and their values."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from seggraph.api.enums import described_enum
from seggraph.api.errors import UserErrorType
from seggraph.api.properties.types import json_value
from seggraph.api.segments.conditions import EXACT_NUMBERS
from seggraph.api.segments.types import USER_ERRORS
from seggraph.domain import custom_properties as dcp

CustomTypeEnum = described_enum(
    dcp.CustomType,
    name="CustomPropertyType",
    description="The types a custom property can have (the catalogue type of the same name), "
    "and how a written value is read.",
    values={
        "TEXT": "Text of at most 10,000 characters.",
        "NUMBER": "A number (or its text): at most 34 digits and 34 decimal places, less than "
        "10^34 in size.",
        "BOOLEAN": "true or false; as text, true t 1 yes or false f 0 no (any case) or blank.",
        "DATE": "A calendar day, YYYY-MM-DD.",
        "ENUM": "One of the property's enumValues, matched case-insensitively and kept as "
        "declared.",
        "LIST": "A list of at most 1,000 strings; as text, a JSON array or comma-separated.",
    },
)
CustomObjectEnum = described_enum(
    dcp.CustomObject,
    name="CustomPropertyObject",
    description="What a custom property describes: its values are kept per subscriber or per "
    "subscription.",
    values={
        "SUBSCRIBER": "Values are kept per subscriber id.",
        "SUBSCRIPTION": "Values are kept per subscription id; a segment reads the subscription "
        "named by subscriber(subscriptionId:), else the subscriber's primary one.",
    },
)

#: Said of every custom property's label and description.
LABEL = "Trimmed, 1 to 200 characters."
DESCRIPTION = "Trimmed, at most 2,000 characters."


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
    label: str = strawberry.field(description=f"Its name for people. {LABEL}")
    description: str = strawberry.field(description=f"{DESCRIPTION} May be empty.")
    type: CustomTypeEnum = strawberry.field(  # type: ignore[valid-type]
        description="The type of its values."
    )
    object: CustomObjectEnum = strawberry.field(  # type: ignore[valid-type]
        description="Whether it describes subscribers or subscriptions (fixed at creation)."
    )
    enum_values: list[str] = strawberry.field(
        description="An ENUM's values, as declared; empty for the other types."
    )
    created_at: datetime | None = strawberry.field(
        description="When it was created (UTC); null for a definition stored without it."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it was last changed (UTC); null for a definition stored without it."
    )

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
    property_key: str = strawberry.field(
        description="The catalogue key segments use, e.g. custom.plan_tier."
    )
    value: JSON = strawberry.field(
        description="The stored value: text, a number, a boolean, a YYYY-MM-DD date, a list. "
        + EXACT_NUMBERS
    )


@strawberry.type(description="The result of createCustomProperty or updateCustomProperty.")
class CustomPropertyPayload:
    custom_property: CustomPropertyNode | None = strawberry.field(
        default=None, description="The definition as written; null when refused."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )


@strawberry.type(description="The result of deleteCustomProperty.")
class DeleteCustomPropertyPayload:
    deleted_key: str | None = strawberry.field(
        default=None, description="The key deleted, without custom.; null when refused."
    )
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list, description=USER_ERRORS
    )


@strawberry.type(description="The result of setCustomPropertyValue or setCustomPropertyValues.")
class SetCustomPropertyValuesPayload:
    written: int = strawberry.field(default=0, description="Values set.")
    removed: int = strawberry.field(default=0, description="Values removed (sent as null).")
    user_errors: list[UserErrorType] = strawberry.field(
        default_factory=list,
        description=f"{USER_ERRORS} Nothing is written when any value is refused; paths are "
        '["values", "<index>", field] (["input", field] for setCustomPropertyValue).',
    )
