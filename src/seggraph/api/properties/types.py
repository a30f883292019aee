"""GraphQL types of the catalogue, the providers and property values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from seggraph.api.enums import described_enum
from seggraph.api.segments.conditions import EXACT_NUMBERS, Operator, value_to_json
from seggraph.domain.conditions import Money, RelativeDate
from seggraph.domain.properties import PropertyDefinition
from seggraph.domain.properties import PropertyType as DomainPropertyType
from seggraph.evaluation.context import EvaluationOptions
from seggraph.evaluation.values import (
    MISSING,
    ResolvedValue,
    Unknown,
    coercer_of,
    shown_as_read,
)
from seggraph.plugins.manager import ProviderInfo
from seggraph.plugins.results import ProviderStatus as DomainProviderStatus

PropertyType = described_enum(
    DomainPropertyType,
    name="PropertyType",
    description="What kind of value a property holds; it decides the operators allowed.",
    values={
        "NUMBER": "A number, compared exactly (as a decimal).",
        "MONEY": "An amount of money: a bare number (in the property's currency, else the "
        'account currency) or {"amount", "currency"}. Amounts in different currencies are '
        "never compared (CURRENCY_MISMATCH).",
        "TEXT": "Text.",
        "ENUM": "One of the property's enumValues.",
        "BOOLEAN": "true or false.",
        "DATE": "A calendar day, YYYY-MM-DD.",
        "DATETIME": "A moment (ISO 8601), compared by its calendar day in the account time zone.",
        "LIST": "A list of strings.",
        "SEMVER": "A semantic version such as 1.4.2, compared by precedence (build metadata "
        "ignored).",
    },
)
ProviderStatus = described_enum(
    DomainProviderStatus,
    name="ProviderStatus",
    description="How a provider is doing.",
    values={
        "OK": "Loaded and started; answering.",
        "DEGRADED": "Failed several calls in a row (SEGGRAPH_PROVIDER_FAILURE_THRESHOLD): "
        "skipped, its keys UNKNOWN, until degradedUntil.",
        "FAILED": "Could not be imported, registered or started, or declared invalid "
        "properties (lastError says why).",
        "DISABLED": "Left out by SEGGRAPH_PLUGINS or SEGGRAPH_DISABLE_PLUGINS.",
    },
)


@strawberry.enum(description="What a provider answered for one value.")
class PropertyValueState(Enum):
    PRESENT = strawberry.enum_value(
        "PRESENT", description="A value (which may still not be readable as the type)."
    )
    MISSING = strawberry.enum_value(
        "MISSING",
        description="No value: every operator but IS_NOT_SET is FALSE on it. Not an error.",
    )
    UNKNOWN = strawberry.enum_value(
        "UNKNOWN", description="The provider failed or timed out: conditions on it are UNKNOWN."
    )


def json_value(value: Any) -> Any:
    """A provider's value as JSON: exact numbers, money as {amount, currency}, ISO dates.

    Numbers follow :func:`value_to_json`: an integer beyond 2^53 (which a JavaScript client
    would round) is answered as a string of its digits."""
    if value is None or value is MISSING or isinstance(value, Unknown):
        return None
    if isinstance(value, Decimal | Money | RelativeDate):
        return value_to_json(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return value_to_json(Decimal(value))
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


@strawberry.type(description="A fact its provider states about a property: a name and a value.")
class PropertyAttribute:
    name: str = strawberry.field(description="What is stated, e.g. object, trait or event.")
    value: str = strawberry.field(description="Its value, e.g. SUBSCRIPTION.")


@strawberry.type(name="Property", description="A property of the catalogue.")
class PropertyNode:
    key: str = strawberry.field(description="Globally unique, e.g. subscriber.mrr.")
    label: str = strawberry.field(description="Its name for people, e.g. Subscriber MRR.")
    namespace: str = strawberry.field(description="The group it belongs to, e.g. subscriber.")
    type: PropertyType = strawberry.field(  # type: ignore[valid-type]
        description="What kind of value it holds."
    )
    description: str = strawberry.field(
        description="What the value is and where it comes from; may be empty."
    )
    provider: str = strawberry.field(description="The name of the provider that supplies it.")
    enum_values: list[str] = strawberry.field(description="The values of an ENUM (else empty).")
    unit: str | None = strawberry.field(description='A unit such as "days", when it has one.')
    currency: str | None = strawberry.field(
        description="A MONEY property's default currency: the currency of an amount its "
        "provider answers without one, e.g. USD when every value is in the account currency. "
        "Null: such an amount is in the account currency, and a value that carries its own "
        "currency keeps it, so a property whose currency varies per subscriber (a "
        "subscription's MRR, in the subscription's currency) has null. A condition's amount "
        "without a currency is always in the account currency."
    )
    operators: list[Operator] = strawberry.field(  # type: ignore[valid-type]
        description="The operators a condition on it may use (derived from its type)."
    )
    attributes: list[PropertyAttribute] = strawberry.field(
        description="What else its provider states about it, by name (empty when nothing): "
        "a custom property's object (SUBSCRIBER, or SUBSCRIPTION: read from the subscription "
        "named, else the subscriber's primary one), a CDP trait's name as sent (trait) or an "
        "event's name (event)."
    )

    @classmethod
    def of(cls, definition: PropertyDefinition) -> PropertyNode:
        return cls(
            key=definition.key,
            label=definition.label,
            namespace=definition.namespace,
            type=definition.type,
            description=definition.description,
            provider=definition.provider,
            enum_values=list(definition.enum_values),
            unit=definition.unit,
            currency=definition.currency,
            operators=list(definition.operators),
            attributes=[
                PropertyAttribute(name=name, value=value)
                for name, value in sorted(definition.extra.items())
            ],
        )


@strawberry.type(name="Provider", description="A property provider (a plugin) and its health.")
class ProviderNode:
    name: str = strawberry.field(description="The plugin's entry-point name.")
    version: str | None = strawberry.field(description="The version of its distribution.")
    status: ProviderStatus = strawberry.field(  # type: ignore[valid-type]
        description="How it is doing."
    )
    last_error: str | None = strawberry.field(
        description="The latest failure (import, start-up, or a call), or why it is disabled."
    )
    last_error_at: datetime | None = strawberry.field(
        description="When lastError happened (UTC); null when there is none."
    )
    failures_in_row: int = strawberry.field(description="Failed calls since the last success.")
    degraded_until: datetime | None = strawberry.field(
        description="While DEGRADED: when it will be called again."
    )
    hooks: list[str] = strawberry.field(description="The hooks it implements.")
    properties: list[PropertyNode] = strawberry.field(description="The properties it declares.")

    @classmethod
    def of(cls, info: ProviderInfo) -> ProviderNode:
        return cls(
            name=info.name,
            version=info.version,
            status=info.status,
            last_error=info.last_error,
            last_error_at=info.last_error_at,
            failures_in_row=info.failures_in_row,
            degraded_until=info.degraded_until,
            hooks=list(info.hooks),
            properties=[PropertyNode.of(d) for d in info.properties],
        )


@strawberry.type(description="A suggested value for a condition on a property.")
class PropertyValueSuggestion:
    value: JSON = strawberry.field(
        description=f"The value, as a condition takes it. {EXACT_NUMBERS}"
    )
    label: str = strawberry.field(description="The value as text, for a menu.")

    @classmethod
    def of(cls, value: Any) -> PropertyValueSuggestion:
        as_json = json_value(value)
        label = ("true" if as_json else "false") if isinstance(as_json, bool) else str(as_json)
        return cls(value=as_json, label=label)


@strawberry.type(description="One property's value for one subscriber, and where it came from.")
class PropertyValue:
    key: str = strawberry.field(description="The property key asked for.")
    state: PropertyValueState = strawberry.field(
        description="Whether the provider answered a value, none, or failed."
    )
    value: JSON | None = strawberry.field(
        description=f"The value when PRESENT, else null. {EXACT_NUMBERS}"
    )
    unknown_reason: str | None = strawberry.field(
        description="When UNKNOWN: PROVIDER_ERROR or TIMEOUT. When PRESENT but not readable "
        "as the property's type: TYPE_ERROR (a condition on it is UNKNOWN; IS_SET is TRUE). "
        "Else null."
    )
    detail: str | None = strawberry.field(description="What went wrong, when unknownReason is set.")
    provider: str | None = strawberry.field(description="The provider asked.")
    latency_ms: float | None = strawberry.field(
        description="How long its call took, in milliseconds."
    )
    note: str | None = strawberry.field(
        description="The provider's note on how it derived the value, when it gave one: e.g. "
        "which amounts in another currency a sum left out, or which of the subscriber's "
        "subscriptions a subscription value was read from when it has several and none was "
        "named."
    )

    @classmethod
    def of(
        cls,
        key: str,
        resolved: ResolvedValue,
        definition: PropertyDefinition | None = None,
        options: EvaluationOptions | None = None,
    ) -> PropertyValue:
        """``definition``: the property's, so that a MONEY property's bare amounts show in
        its declared currency, as the evaluation reads them; with ``options`` (the account
        zone and currency) too, a DATETIME with an offset shows in the account zone, and a
        present value evaluation cannot read as that type says so (TYPE_ERROR), as an
        explanation of a condition on it would."""
        raw = resolved.value
        if isinstance(raw, Unknown):
            return cls(
                key=key,
                state=PropertyValueState.UNKNOWN,
                value=None,
                unknown_reason=raw.reason.value,
                detail=raw.detail,
                provider=resolved.provider,
                latency_ms=resolved.latency_ms,
                note=resolved.note,
            )
        missing = raw is MISSING or raw is None
        unreadable: Unknown | None = None
        if not missing and definition is not None and options is not None:
            coerced = coercer_of(definition, timezone=options.timezone, currency=options.currency)(
                raw
            )
            unreadable = coerced if isinstance(coerced, Unknown) else None
        shown = (
            None if missing else shown_as_read(definition, options.timezone if options else None)
        )
        if shown is not None:
            raw = shown(raw)
        return cls(
            key=key,
            state=PropertyValueState.MISSING if missing else PropertyValueState.PRESENT,
            value=None if missing else json_value(raw),
            unknown_reason=unreadable.reason.value if unreadable else None,
            detail=unreadable.detail if unreadable else None,
            provider=resolved.provider,
            latency_ms=resolved.latency_ms,
            note=resolved.note,
        )
