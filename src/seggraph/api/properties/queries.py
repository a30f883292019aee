"""Catalogue, provider and property-value queries."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import strawberry
from graphql import GraphQLError

from seggraph.api.context import Info
from seggraph.api.properties.types import (
    PropertyNode,
    PropertyValue,
    PropertyValueSuggestion,
    ProviderNode,
)
from seggraph.api.subjects import check_ids
from seggraph.catalogue import Catalogue
from seggraph.domain.context import EvaluationContext
from seggraph.domain.errors import check_first
from seggraph.domain.properties import PropertyDefinition

MAX_SUGGESTIONS = 100
MAX_SUBSCRIBERS = 1000
MAX_KEYS = 200

PROPERTY_KEY = strawberry.argument(
    description="A property key of the catalogue, e.g. subscriber.mrr (else UNKNOWN_PROPERTY)."
)


def _matches(definition: PropertyDefinition, words: list[str]) -> bool:
    """Every word is in the key, label or description, case-insensitively and in composed
    form (NFC) on both sides: an é typed as e and an accent finds the é of a label."""
    text = f"{definition.key} {definition.label} {definition.description}".casefold()
    text = unicodedata.normalize("NFC", text) if not text.isascii() else text
    return all(word in text for word in words)


def check_keys(catalogue: Catalogue, keys: list[str]) -> None:
    unknown = [key for key in keys if key not in catalogue]
    if unknown:
        raise GraphQLError(
            f"unknown property key(s): {', '.join(unknown)}",
            extensions={"code": "UNKNOWN_PROPERTY"},
        )


@strawberry.type(description="The values of some properties for one subscriber.")
class SubscriberPropertyValues:
    subscriber_id: strawberry.ID = strawberry.field(description="The subscriber, as asked.")
    keys: strawberry.Private[list[str]]

    @property
    def context(self) -> EvaluationContext:
        return EvaluationContext(str(self.subscriber_id))

    @strawberry.field(description="The values of the keys asked for, in their order.")
    async def values(self, info: Info) -> list[PropertyValue]:
        found = await info.context.property_batcher().load(self.context, self.keys)
        catalogue = info.context.services.catalogue
        options = info.context.services.evaluation_options
        return [PropertyValue.of(key, found[key], catalogue.get(key), options) for key in self.keys]

    @strawberry.field(
        description="One property's value (fetched together with every other value the "
        "request asks for)."
    )
    async def value(self, info: Info, key: Annotated[str, PROPERTY_KEY]) -> PropertyValue:
        catalogue = info.context.services.catalogue
        check_keys(catalogue, [key])
        found = await info.context.property_batcher().load(self.context, [key])
        return PropertyValue.of(
            key, found[key], catalogue.get(key), info.context.services.evaluation_options
        )


@strawberry.type
class PropertyQueries:
    @strawberry.field(
        description="The property catalogue, by key: every property the providers declare. "
        "`namespace` keeps one namespace; `search` keeps properties whose key, label or "
        "description contain every word."
    )
    def properties(
        self,
        info: Info,
        namespace: Annotated[
            str | None,
            strawberry.argument(
                description="Only this namespace, e.g. subscriber or custom; omitted: all."
            ),
        ] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Words, each to be found (case-insensitively, in composed form) in "
                "the key, label or description; omitted: all."
            ),
        ] = None,
    ) -> list[PropertyNode]:
        words = unicodedata.normalize("NFC", (search or "").casefold()).split()
        found = [
            definition
            for definition in info.context.services.catalogue
            if (namespace is None or definition.namespace == namespace)
            and _matches(definition, words)
        ]
        return [PropertyNode.of(d) for d in sorted(found, key=lambda d: d.key)]

    @strawberry.field(description="One property of the catalogue by key, or null.")
    def property(
        self,
        info: Info,
        key: Annotated[str, strawberry.argument(description="The key, e.g. subscriber.mrr.")],
    ) -> PropertyNode | None:
        definition = info.context.services.catalogue.get(key)
        return PropertyNode.of(definition) if definition else None

    @strawberry.field(
        description="Values to offer for a condition on a property, starting with `prefix` "
        "(case-insensitively): the provider's suggestions, or else an ENUM's values (a "
        "BOOLEAN's true and false). An empty list means there are none: when the provider "
        "fails, runs late, or is DEGRADED or FAILED, an ENUM or BOOLEAN still gets its "
        "values, and any other property an error at this field (PROVIDER_ERROR or TIMEOUT, "
        "naming the provider; the field is non-null, so `data` is null)."
    )
    async def property_value_suggestions(
        self,
        info: Info,
        key: Annotated[str, PROPERTY_KEY],
        prefix: Annotated[
            str,
            strawberry.argument(
                description="What the values start with; default empty: any value."
            ),
        ] = "",
        first: Annotated[
            int,
            strawberry.argument(
                description=f"At most this many suggestions: 1 to {MAX_SUGGESTIONS}, default 10 "
                "(else OUT_OF_RANGE)."
            ),
        ] = 10,
    ) -> list[PropertyValueSuggestion]:
        check_first(first, MAX_SUGGESTIONS, least=1)
        services = info.context.services
        check_keys(services.catalogue, [key])
        values = await services.properties.suggest(key, prefix, first)
        return [PropertyValueSuggestion.of(value) for value in values]

    @strawberry.field(
        description="Every installed provider (plugin), with its status and properties."
    )
    def providers(self, info: Info) -> list[ProviderNode]:
        return [ProviderNode.of(i) for i in info.context.services.plugins.describe()]

    @strawberry.field(
        description="Property values for some subscribers. One request costs one call per "
        "provider per batch of subscribers, however many fields ask. A provider that fails or "
        "runs late is no error here: its keys are UNKNOWN (unknownReason PROVIDER_ERROR or "
        "TIMEOUT, the detail naming it) for the subscribers of that call, and the other "
        "providers' values stand."
    )
    def property_values(
        self,
        info: Info,
        subscriber_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description=f"The subscribers, answered in their order (a repeat once): at most "
                f"{MAX_SUBSCRIBERS:,} (else TOO_MANY), each id at most 256 characters (else "
                "TOO_LONG)."
            ),
        ],
        keys: Annotated[
            list[str],
            strawberry.argument(
                description=f"Property keys of the catalogue, answered in their order (a repeat "
                f"once): at most {MAX_KEYS} (else TOO_MANY); an unknown key is refused "
                "(UNKNOWN_PROPERTY)."
            ),
        ],
    ) -> list[SubscriberPropertyValues]:
        if len(subscriber_ids) > MAX_SUBSCRIBERS or len(keys) > MAX_KEYS:
            raise GraphQLError(
                f"ask for at most {MAX_SUBSCRIBERS} subscribers and {MAX_KEYS} keys at once",
                extensions={"code": "TOO_MANY"},
            )
        ids = check_ids("subscriberIds", subscriber_ids)
        check_keys(info.context.services.catalogue, keys)
        unique_keys = list(dict.fromkeys(keys))
        return [
            SubscriberPropertyValues(subscriber_id=strawberry.ID(subscriber_id), keys=unique_keys)
            for subscriber_id in dict.fromkeys(ids)
        ]
