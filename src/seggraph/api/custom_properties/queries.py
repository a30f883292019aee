"""Custom property queries: the definitions, and one subscriber's (or subscription's) values."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from seggraph.api.context import Info
from seggraph.api.custom_properties.backend import backend_or_none
from seggraph.api.custom_properties.types import (
    CustomPropertyNode,
    CustomPropertyValue,
    value_to_json,
)
from seggraph.api.deadlines import read_deadline
from seggraph.api.subjects import check_optional_id
from seggraph.domain.custom_properties import NAMESPACE, CustomObject


@strawberry.type
class CustomPropertyQueries:
    @strawberry.field(description="Every custom property definition, by key.")
    async def custom_properties(self, info: Info) -> list[CustomPropertyNode]:
        found = backend_or_none(info)
        if found is None:
            return []
        with read_deadline(info):
            definitions = await found.list_definitions()
        return [CustomPropertyNode.of(d) for d in definitions]

    @strawberry.field(description="One custom property by key (plan_tier or custom.plan_tier).")
    async def custom_property(
        self,
        info: Info,
        key: Annotated[
            str, strawberry.argument(description="plan_tier or custom.plan_tier, trimmed.")
        ],
    ) -> CustomPropertyNode | None:
        found = backend_or_none(info)
        if found is None:
            return None
        with read_deadline(info):
            definition = await found.get_definition(key)
        return CustomPropertyNode.of(definition) if definition else None

    @strawberry.field(
        description="The custom property values of one subscriber, or of one subscription, by "
        "key; give exactly one of subscriberId and subscriptionId (else BAD_ARGUMENT)."
    )
    async def custom_property_values(
        self,
        info: Info,
        subscriber_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="A subscriber (at most 256 characters): the values of the "
                "properties describing subscribers."
            ),
        ] = None,
        subscription_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="A subscription (at most 256 characters): the values of the "
                "properties describing subscriptions."
            ),
        ] = None,
    ) -> list[CustomPropertyValue]:
        if (subscriber_id is None) == (subscription_id is None):
            raise GraphQLError(
                "give exactly one of subscriberId and subscriptionId",
                extensions={"code": "BAD_ARGUMENT"},
            )
        subscriber = check_optional_id("subscriberId", subscriber_id)
        subscription = check_optional_id("subscriptionId", subscription_id)
        found = backend_or_none(info)
        if found is None:
            return []
        object = CustomObject.SUBSCRIBER if subscriber else CustomObject.SUBSCRIPTION
        with read_deadline(info):
            values = await found.get_values(object, subscriber or subscription or "")
        return [
            CustomPropertyValue(
                key=key, property_key=f"{NAMESPACE}.{key}", value=value_to_json(value)
            )
            for key, value in values.items()
        ]
