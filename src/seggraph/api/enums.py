"""GraphQL enums made from the domain's enums, with a description for each value.

The domain's enums are ``StrEnum`` classes, whose members cannot be written as
``strawberry.enum_value(..., description=...)`` (a ``StrEnum`` member's value must be a
string), so :func:`described_enum` sets each value's description on the definition
``strawberry.enum`` makes. The schema is otherwise what ``strawberry.enum`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import EnumMeta
from typing import TypeVar

import strawberry
from strawberry.types.enum import has_enum_definition

E = TypeVar("E", bound=EnumMeta)


def described_enum(
    cls: E, *, description: str, values: Mapping[str, str], name: str | None = None
) -> E:
    """``strawberry.enum(cls, name=name, description=description)``, each value described by
    ``values`` (by the value's GraphQL name). A name that is not one of the enum's values is
    refused, so that a description cannot go missing by a typo."""
    processed = strawberry.enum(cls, name=name, description=description)
    made: object = processed
    assert has_enum_definition(made)
    definition = made.__strawberry_definition__
    known = {value.name for value in definition.values}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{definition.name} has no value {', '.join(unknown)}")
    for value in definition.values:
        value.description = values.get(value.name, value.description)
    return processed
