"""Property definitions: what a provider declares and the catalogue is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from seggraph.domain.conditions import Operator


class PropertyType(StrEnum):
    NUMBER = "NUMBER"
    MONEY = "MONEY"
    TEXT = "TEXT"
    ENUM = "ENUM"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    DATETIME = "DATETIME"
    LIST = "LIST"
    SEMVER = "SEMVER"


_NUMERIC = (
    Operator.EQ,
    Operator.NEQ,
    Operator.GT,
    Operator.GTE,
    Operator.LT,
    Operator.LTE,
    Operator.BETWEEN,
    Operator.NOT_BETWEEN,
    Operator.IN,
    Operator.NOT_IN,
)
_PRESENCE = (Operator.IS_SET, Operator.IS_NOT_SET)
_DATES = (
    Operator.ON,
    Operator.NOT_ON,
    Operator.BEFORE,
    Operator.AFTER,
    Operator.ON_OR_BEFORE,
    Operator.ON_OR_AFTER,
    Operator.BETWEEN,
    Operator.NOT_BETWEEN,
    Operator.IN_LAST,
    Operator.IN_NEXT,
    Operator.MORE_THAN_AGO,
    Operator.MORE_THAN_AHEAD,
)

#: The operators each type allows, in the order of the spec's table.
OPERATORS_BY_TYPE: dict[PropertyType, tuple[Operator, ...]] = {
    PropertyType.NUMBER: _NUMERIC + _PRESENCE,
    PropertyType.MONEY: _NUMERIC + _PRESENCE,
    PropertyType.TEXT: (
        Operator.EQ,
        Operator.NEQ,
        Operator.IN,
        Operator.NOT_IN,
        Operator.CONTAINS,
        Operator.NOT_CONTAINS,
        Operator.STARTS_WITH,
        Operator.ENDS_WITH,
        Operator.MATCHES,
    )
    + _PRESENCE,
    PropertyType.ENUM: (Operator.EQ, Operator.NEQ, Operator.IN, Operator.NOT_IN) + _PRESENCE,
    PropertyType.BOOLEAN: (Operator.IS_TRUE, Operator.IS_FALSE) + _PRESENCE,
    PropertyType.DATE: _DATES + _PRESENCE,
    PropertyType.DATETIME: _DATES + _PRESENCE,
    PropertyType.LIST: (
        Operator.CONTAINS_ANY,
        Operator.CONTAINS_ALL,
        Operator.CONTAINS_NONE,
        Operator.IS_EMPTY,
        Operator.IS_NOT_EMPTY,
    )
    + _PRESENCE,
    PropertyType.SEMVER: (
        Operator.EQ,
        Operator.NEQ,
        Operator.GT,
        Operator.GTE,
        Operator.LT,
        Operator.LTE,
    )
    + _PRESENCE,
}

#: Operators that take no value.
VALUELESS_OPERATORS = frozenset(
    {
        Operator.IS_SET,
        Operator.IS_NOT_SET,
        Operator.IS_TRUE,
        Operator.IS_FALSE,
        Operator.IS_EMPTY,
        Operator.IS_NOT_EMPTY,
    }
)


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """One property a provider supplies.

    ``key`` is globally unique (``namespace.name``); ``enum_values`` are the canonical
    identifiers of an ``ENUM``; ``unit`` is a free-form unit ("days", "employees") and
    ``currency`` the default currency of a ``MONEY`` value, when it has one: the currency of
    an amount the provider answers without one (a bare number, or ``Money`` with no currency),
    which is otherwise in the account currency. A value that carries its currency keeps it. (A
    condition's bare amount is in the account currency whatever the property declares.)

    ``read_group`` names the keys of one provider that are fetched by the same read. When a
    request asks a provider about a subscriber, seggraph asks for every other key of the same
    read group along, so that the request's later fields find them without another call; the
    keys of the provider's other groups are asked for only when something reads them (they
    cost the provider more: another collection joined, another service called). A provider
    that declares no groups has one: every key is asked for along.
    """

    key: str
    label: str
    type: PropertyType
    description: str = ""
    namespace: str = ""
    enum_values: tuple[str, ...] = ()
    unit: str | None = None
    currency: str | None = None
    provider: str = ""
    read_group: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.namespace:
            object.__setattr__(self, "namespace", self.key.split(".", 1)[0])
        if isinstance(self.enum_values, list):  # a list is as good a declaration; kept hashable
            object.__setattr__(self, "enum_values", tuple(self.enum_values))

    @property
    def operators(self) -> tuple[Operator, ...]:
        return OPERATORS_BY_TYPE[self.type]
