"""Custom property mutations: validate everything first, write nothing when any part is refused,
and answer with userErrors."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from seggraph.api.context import Info
from seggraph.api.custom_properties.backend import backend
from seggraph.api.custom_properties.types import (
    DESCRIPTION,
    LABEL,
    CustomObjectEnum,
    CustomPropertyNode,
    CustomPropertyPayload,
    CustomTypeEnum,
    DeleteCustomPropertyPayload,
    SetCustomPropertyValuesPayload,
)
from seggraph.api.errors import user_errors
from seggraph.domain import custom_properties as dcp
from seggraph.domain.errors import InputRefused, UserError

MAX_VALUES = 5000
#: What refuses a label or a description (the rules of a segment's name and description).
LABEL_CODES = (
    "Refused: blank (BLANK), longer (TOO_LONG), with control characters (CONTROL_CHARACTERS)."
)
DESCRIPTION_CODES = (
    "Refused: longer (TOO_LONG), with control characters but line breaks and tabs "
    "(CONTROL_CHARACTERS)."
)


@strawberry.input(description="A new custom property; it is read in segments as custom.<key>.")
class CreateCustomPropertyInput:
    key: str = strawberry.field(
        description="Immutable: a lower-case letter, then up to 63 of a-z, 0-9 and _ (else "
        "INVALID_KEY); trimmed, and custom.plan_tier is read as plan_tier. A key already "
        "defined is refused (KEY_TAKEN)."
    )
    label: str = strawberry.field(description=f"Its name for people. {LABEL} {LABEL_CODES}")
    type: CustomTypeEnum = strawberry.field(  # type: ignore[valid-type]
        description="The type of its values."
    )
    object: CustomObjectEnum = strawberry.field(  # type: ignore[valid-type]
        default=dcp.CustomObject.SUBSCRIBER,
        description="What it describes, fixed once created; default SUBSCRIBER.",
    )
    description: str = strawberry.field(
        default="", description=f"{DESCRIPTION} {DESCRIPTION_CODES} Default empty."
    )
    enum_values: list[str] = strawberry.field(
        default_factory=list,
        description="The values of an ENUM property (required for ENUM, else BLANK; refused "
        "for the other types, NOT_ALLOWED): at most 500 (else TOO_MANY), each trimmed and 1 to "
        "100 characters (else BLANK, TOO_LONG), unique case-insensitively (else DUPLICATE).",
    )


@strawberry.input(description="Change the label or description; the type only while unused.")
class UpdateCustomPropertyInput:
    key: str = strawberry.field(
        description="The property's key: plan_tier or custom.plan_tier, trimmed (else NOT_FOUND)."
    )
    label: str | None = strawberry.field(
        default=None, description=f"{LABEL} {LABEL_CODES} Null: unchanged."
    )
    description: str | None = strawberry.field(
        default=None, description=f"{DESCRIPTION} {DESCRIPTION_CODES} Null: unchanged."
    )
    type: CustomTypeEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="Refused while any segment uses the property (PROPERTY_IN_USE); existing "
        "values are converted, and the change is refused when one cannot be "
        "(VALUES_INCOMPATIBLE), or when converting them all takes longer than a transaction "
        "may (TOO_MANY_VALUES: nothing changed). A LIST becomes its items comma-separated, "
        "or a JSON array when that would not read back as the same items (an item with a "
        "comma, for one), so that changing it to TEXT and back keeps them.",
    )
    enum_values: list[str] | None = strawberry.field(
        default=None,
        description="The ENUM's values, replacing them all (the rules of "
        "CreateCustomPropertyInput.enumValues). Adding values is always allowed; removing or "
        "renaming one counts as a type change, refused while any segment uses the property "
        "(PROPERTY_IN_USE) at this field (at type when the type changes too).",
    )


@strawberry.input(description="One value: a subscriber's (or a subscription's) value of a key.")
class CustomPropertyValueInput:
    key: str = strawberry.field(
        description="plan_tier or custom.plan_tier, trimmed, a custom property (else "
        "UNKNOWN_PROPERTY)."
    )
    subscriber_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="For a property that describes subscribers (else WRONG_OBJECT): 1 to 256 "
        "characters (else INVALID_ID). Give exactly one of subscriberId and subscriptionId "
        "(else INVALID_ID).",
    )
    subscription_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="For a property that describes subscriptions (else WRONG_OBJECT): 1 to "
        "256 characters (else INVALID_ID).",
    )
    value: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required (omitted: BLANK); null removes the value. JSON or text, coerced "
        "by the property's type (for a BOOLEAN, text reads true for true t 1 yes and false for "
        "false f 0 no or blank); one that cannot be is refused (INVALID_VALUE; TOO_LONG past "
        "a TEXT's 10,000 characters or a LIST's 1,000 items).",
    )


def _assignment(
    item: CustomPropertyValueInput, path: tuple[Any, ...], errors: list[UserError]
) -> dcp.ValueAssignment:
    """The value to check and write. What the input's shape lacks goes to ``errors`` and the
    rest is still checked: a missing id as ``None`` (key and value only), a missing value as a
    removal (key and id only)."""
    value: Any = item.value
    if value is strawberry.UNSET:
        errors.append(
            UserError((*path, "value"), "BLANK", "a value is required (null removes the value)")
        )
        value = None
    if (item.subscriber_id is None) == (item.subscription_id is None):
        errors.append(
            UserError(
                (*path, "subscriberId"),
                "INVALID_ID",
                "give exactly one of subscriberId and subscriptionId",
            )
        )
        return dcp.ValueAssignment(item.key, None, value)
    if item.subscriber_id is not None:
        return dcp.ValueAssignment(
            item.key, str(item.subscriber_id), value, dcp.CustomObject.SUBSCRIBER
        )
    return dcp.ValueAssignment(
        item.key, str(item.subscription_id), value, dcp.CustomObject.SUBSCRIPTION
    )


_FIELD_ORDER = {"key": 0, "subscriberId": 1, "subscriptionId": 1, "value": 2}


def _in_input_order(errors: list[UserError]) -> list[UserError]:
    """Errors by value, then by field (key, id, value) within one value."""

    def order(error: UserError) -> tuple[int, int]:
        path = error.path
        index = path[1] if len(path) > 1 and isinstance(path[1], int) else -1
        return index, _FIELD_ORDER.get(str(path[-1]) if path else "", -1)

    return sorted(errors, key=order)


async def _set(
    info: Info, items: list[CustomPropertyValueInput], single: bool
) -> SetCustomPropertyValuesPayload:
    errors: list[UserError] = []
    if len(items) > MAX_VALUES:
        errors.append(
            UserError(("values",), "TOO_MANY", f"at most {MAX_VALUES} values in one mutation")
        )
    assignments = [_assignment(item, ("values", index), errors) for index, item in enumerate(items)]
    try:
        if errors:
            if len(items) <= MAX_VALUES:  # one request's worth: every problem of every value
                errors += (await backend(info).check_values(assignments))[1]
            raise InputRefused(_in_input_order(errors))
        result = await backend(info).set_values(assignments)
    except InputRefused as refused:
        found = list(refused.errors)
        if single:  # values are numbered; one value's path starts at the input
            found = [UserError(("input", *e.path[2:]), e.code, e.message) for e in found]
        return SetCustomPropertyValuesPayload(user_errors=user_errors(found))
    return SetCustomPropertyValuesPayload(written=result.written, removed=result.removed)


@strawberry.type
class CustomPropertyMutations:
    @strawberry.mutation(description="Define a custom property; it is in the catalogue at once.")
    async def create_custom_property(
        self,
        info: Info,
        input: Annotated[
            CreateCustomPropertyInput, strawberry.argument(description="The definition.")
        ],
    ) -> CustomPropertyPayload:
        try:
            definition = await backend(info).create_definition(
                key=input.key,
                label=input.label,
                type=dcp.CustomType(input.type),
                object=dcp.CustomObject(input.object),
                description=input.description,
                enum_values=input.enum_values,
            )
        except InputRefused as refused:
            return CustomPropertyPayload(user_errors=user_errors(list(refused.errors)))
        return CustomPropertyPayload(custom_property=CustomPropertyNode.of(definition))

    @strawberry.mutation(
        description="Edit a custom property's label, description or type, or add ENUM "
        "values; an update that changes nothing (a form saved again as it was) answers the "
        "definition as it is, its updatedAt kept."
    )
    async def update_custom_property(
        self,
        info: Info,
        input: Annotated[
            UpdateCustomPropertyInput, strawberry.argument(description="The changes.")
        ],
    ) -> CustomPropertyPayload:
        change = dcp.DefinitionChange(
            label=input.label,
            description=input.description,
            type=dcp.CustomType(input.type) if input.type is not None else None,
            enum_values=input.enum_values,
        )
        try:
            definition = await backend(info).update_definition(
                input.key, change, mode=info.context.mode
            )
        except InputRefused as refused:
            return CustomPropertyPayload(user_errors=user_errors(list(refused.errors)))
        return CustomPropertyPayload(custom_property=CustomPropertyNode.of(definition))

    @strawberry.mutation(
        description="Delete a custom property and its values; refused while a segment uses it."
    )
    async def delete_custom_property(
        self,
        info: Info,
        key: Annotated[
            str,
            strawberry.argument(
                description="The property's key: plan_tier or custom.plan_tier, trimmed (else "
                "NOT_FOUND); refused while a segment uses it (PROPERTY_IN_USE)."
            ),
        ],
    ) -> DeleteCustomPropertyPayload:
        try:
            await backend(info).delete_definition(key, mode=info.context.mode)
        except InputRefused as refused:
            return DeleteCustomPropertyPayload(user_errors=user_errors(list(refused.errors)))
        return DeleteCustomPropertyPayload(deleted_key=dcp.bare_key(key))

    @strawberry.mutation(description="Set (or, with null, remove) one custom property value.")
    async def set_custom_property_value(
        self,
        info: Info,
        input: Annotated[CustomPropertyValueInput, strawberry.argument(description="The value.")],
    ) -> SetCustomPropertyValuesPayload:
        return await _set(info, [input], single=True)

    @strawberry.mutation(
        description="Set many custom property values at once: all are checked first, and "
        "nothing is written when any is refused."
    )
    async def set_custom_property_values(
        self,
        info: Info,
        values: Annotated[
            list[CustomPropertyValueInput],
            strawberry.argument(
                description=f'The values, at most {MAX_VALUES:,} (else TOO_MANY at ["values"]).'
            ),
        ],
    ) -> SetCustomPropertyValuesPayload:
        return await _set(info, values, single=False)
